"""Who may say what on the bus (``events/auth/roles.py``), checked without a server.

tests/security/test_bus_auth.py proves the permissions against a real nats-server; it is too slow
for ``./dev mutation``. Here each role's allow lists are matched the way nats-server matches
subjects (``*`` one token, ``>`` one or more trailing tokens) against the subjects the services
really use, so a lost, widened or misspelt entry shows as a service that can no longer do its
job, or as a client that can now do what it must not: a bot writing another bot's outputs or
re-arming itself, the dashboard publishing, anyone deleting a stream.
"""

from __future__ import annotations

import uuid

import pytest

from events.auth.jwt import Permissions
from events.auth.roles import (
    ROLE_PERMISSIONS,
    SYSTEM_PERMISSIONS,
    Role,
    bot_inbox_prefix,
    bot_permissions,
    inbox_prefix,
)
from events.topology import (
    bot_event_subject,
    bot_subject,
    dlq_subject,
    incident_event_subject,
    intent_subject,
    rearm_request_subject,
    stripe_subject,
)

BOT, OTHER_BOT = uuid.uuid4(), uuid.uuid4()


def matches(pattern: str, subject: str) -> bool:
    """nats-server's subject matching for an allow-list entry."""
    want, have = pattern.split("."), subject.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(have) > i
        if i >= len(have) or (token != "*" and token != have[i]):
            return False
    return len(have) == len(want)


def may_publish(permissions: Permissions, subject: str) -> bool:
    return any(matches(p, subject) for p in permissions.publish)


def may_subscribe(permissions: Permissions, subject: str) -> bool:
    return any(matches(p, subject) for p in permissions.subscribe)


def test_the_subject_matcher_follows_nats_wildcards() -> None:
    assert matches("a.>", "a.b.c") and not matches("a.>", "a")
    assert matches("a.*.c", "a.b.c") and not matches("a.*.c", "a.b.c.d") and not matches("a.*", "a")
    assert matches("a.b", "a.b") and not matches("a.b", "a.c") and not matches("a.b", "a.b.c")


# What a service that declares the topology at start-up asks JetStream (nats-py's API subjects).
TOPOLOGY_CALLS = (
    "$JS.API.INFO",
    "$JS.API.STREAM.NAMES",
    "$JS.API.STREAM.LIST",
    "$JS.API.STREAM.INFO.EVENTS",
    "$JS.API.STREAM.CREATE.EVENTS",
    "$JS.API.STREAM.UPDATE.EVENTS",
    "$JS.API.CONSUMER.CREATE.INTENTS.lifecycle.intents.bot.>",
    "$JS.API.CONSUMER.DURABLE.CREATE.INTENTS.lifecycle",
    "$JS.API.CONSUMER.INFO.INTENTS.lifecycle",
)
# What a pull worker asks: next message, ack, read one stored message (by sequence or directly).
CONSUME_CALLS = (
    "$JS.API.CONSUMER.MSG.NEXT.INTENTS.lifecycle",
    "$JS.ACK.INTENTS.lifecycle.1.2.3.1700000000000000000.0",
    "$JS.API.STREAM.MSG.GET.DLQ",
    "$JS.API.DIRECT.GET.KV_bot_state",
)
# Nobody but the operator may destroy data.
DESTRUCTIVE_CALLS = (
    "$JS.API.STREAM.DELETE.EVENTS",
    "$JS.API.STREAM.PURGE.EVENTS",
    "$JS.API.CONSUMER.DELETE.INTENTS.lifecycle",
    "$JS.API.STREAM.MSG.DELETE.EVENTS",
)


def test_the_role_names_are_the_credential_file_names() -> None:
    # `hmmtrade bus init` writes <role>.creds and deployments mount them by these names
    assert [role.value for role in Role] == ["api", "workers", "agent", "dashboard", "admin"]
    assert set(ROLE_PERMISSIONS) == set(Role)


@pytest.mark.parametrize("role", [Role.API, Role.WORKERS, Role.AGENT])
def test_the_processes_that_declare_the_topology_can_and_cannot_delete(role: Role) -> None:
    permissions = ROLE_PERMISSIONS[role]
    for call in TOPOLOGY_CALLS:
        assert may_publish(permissions, call), (role, call)
    for call in DESTRUCTIVE_CALLS:
        assert not may_publish(permissions, call), (role, call)


@pytest.mark.parametrize("role", [Role.WORKERS, Role.AGENT])
def test_workers_and_the_agent_can_consume(role: Role) -> None:
    for call in CONSUME_CALLS:
        assert may_publish(ROLE_PERMISSIONS[role], call), (role, call)


def test_the_api_publishes_intents_stripe_events_and_only_the_boot_events() -> None:
    api = ROLE_PERMISSIONS[Role.API]
    assert may_publish(api, intent_subject("bot.create"))
    assert may_publish(api, stripe_subject("invoice.paid"))
    assert may_publish(api, bot_event_subject(BOT, "boot_waiting"))
    assert may_publish(api, bot_event_subject(BOT, "booted"))
    assert not may_publish(api, bot_event_subject(BOT, "stopped"))
    assert not may_publish(api, incident_event_subject("inc1", "closed"))
    assert not may_publish(api, bot_subject(BOT, "audit"))
    for call in CONSUME_CALLS:
        assert not may_publish(api, call), call  # the API pulls nothing
    assert not may_publish(api, rearm_request_subject(BOT))


def test_the_workers_publish_events_intents_dead_letters_rearm_requests_and_leases() -> None:
    workers = ROLE_PERMISSIONS[Role.WORKERS]
    for subject in (
        bot_event_subject(BOT, "stopped"),
        intent_subject("broker.verify"),
        dlq_subject("intents.bot.create"),
        rearm_request_subject(BOT),
        "$KV.leases.daily-report",
    ):
        assert may_publish(workers, subject), subject
    assert not may_publish(workers, f"$KV.bot_state.{BOT}")  # a bot's checkpoint is the bot's
    assert not may_publish(workers, bot_subject(BOT, "audit"))
    assert not may_publish(workers, stripe_subject("invoice.paid"))
    assert may_subscribe(workers, "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.INTENTS.lifecycle")


def test_the_agent_writes_bot_state_but_publishes_no_events() -> None:
    agent = ROLE_PERMISSIONS[Role.AGENT]
    assert may_publish(agent, f"$KV.bot_state.{BOT}")
    assert may_publish(agent, rearm_request_subject(BOT))
    assert not may_publish(agent, bot_event_subject(BOT, "stopped"))
    assert not may_publish(agent, intent_subject("bot.create"))


def test_the_dashboard_only_reads() -> None:
    dashboard = ROLE_PERMISSIONS[Role.DASHBOARD]
    assert dashboard.publish == ()
    for what in ("audit", "tick", "status", "log"):
        assert may_subscribe(dashboard, bot_subject(BOT, what)), what
    assert may_subscribe(dashboard, bot_event_subject(BOT, "stopped"))
    assert not may_subscribe(dashboard, intent_subject("bot.create"))
    assert not may_subscribe(dashboard, stripe_subject("invoice.paid"))


def test_admin_may_do_everything() -> None:
    admin = ROLE_PERMISSIONS[Role.ADMIN]
    for subject in (*DESTRUCTIVE_CALLS, "anything.at.all", "_INBOX.api.x"):
        assert may_publish(admin, subject) and may_subscribe(admin, subject)


@pytest.mark.parametrize("role", list(Role))
def test_each_role_reads_replies_on_its_own_inbox_only(role: Role) -> None:
    assert inbox_prefix(role) == f"_INBOX.{role.value}"
    permissions = ROLE_PERMISSIONS[role]
    assert may_subscribe(permissions, f"_INBOX.{role.value}.abc.1")
    if role is not Role.ADMIN:
        assert not may_subscribe(permissions, "_INBOX.abc.1")  # the default, shared inbox
        for other in Role:
            if other is not role:
                assert not may_subscribe(permissions, f"_INBOX.{other.value}.abc.1"), other


def test_a_bot_publishes_its_own_outputs_and_checkpoint_only() -> None:
    bot = bot_permissions(BOT)
    for what in ("audit", "tick", "status", "log"):
        assert may_publish(bot, bot_subject(BOT, what))
        assert not may_publish(bot, bot_subject(OTHER_BOT, what))
    assert may_publish(bot, f"$KV.bot_state.{BOT}")
    assert not may_publish(bot, f"$KV.bot_state.{OTHER_BOT}")
    assert not may_publish(bot, rearm_request_subject(BOT)), "a bot must not re-arm itself"
    assert not may_publish(bot, bot_event_subject(BOT, "stopped"))
    assert not may_publish(bot, intent_subject("bot.create"))


def test_a_bot_reads_its_own_checkpoint_and_rearm_request_by_direct_get_only() -> None:
    bot = bot_permissions(BOT)
    assert may_publish(bot, f"$JS.API.DIRECT.GET.KV_bot_state.$KV.bot_state.{BOT}")
    assert may_publish(bot, f"$JS.API.DIRECT.GET.KV_bot_state.$KV.bot_state.{BOT}.rearm")
    assert may_publish(bot, "$JS.API.STREAM.INFO.KV_bot_state")
    assert not may_publish(bot, f"$JS.API.DIRECT.GET.KV_bot_state.$KV.bot_state.{OTHER_BOT}")
    assert not may_publish(bot, f"$JS.API.DIRECT.GET.KV_bot_state.$KV.bot_state.{OTHER_BOT}.rearm")
    assert not may_publish(bot, "$JS.API.DIRECT.GET.KV_bot_state")  # the key in the body: unscoped
    assert not may_publish(bot, "$JS.API.STREAM.MSG.GET.KV_bot_state")
    assert not may_publish(bot, "$JS.API.STREAM.INFO.BOTS")


def test_a_bot_reads_replies_on_its_own_inbox_only() -> None:
    bot = bot_permissions(BOT)
    assert bot_inbox_prefix(BOT) == f"_INBOX.bot.{BOT}"
    assert bot.subscribe == (f"_INBOX.bot.{BOT}.>",)
    assert may_subscribe(bot, f"_INBOX.bot.{BOT}.abc")
    assert not may_subscribe(bot, f"_INBOX.bot.{OTHER_BOT}.abc")
    assert not may_subscribe(bot, bot_subject(OTHER_BOT, "audit"))


def test_a_bot_id_that_would_widen_its_permissions_is_refused() -> None:
    for bad in ("*", ">", "a.b", ""):
        with pytest.raises(ValueError, match="cannot be a subject token"):
            bot_permissions(bad)


def test_the_system_user_pushes_claim_updates_only() -> None:
    account = "ABCDEF"
    assert may_publish(SYSTEM_PERMISSIONS, "$SYS.REQ.CLAIMS.UPDATE")
    assert may_publish(SYSTEM_PERMISSIONS, f"$SYS.REQ.ACCOUNT.{account}.CLAIMS.LOOKUP")
    assert not may_publish(SYSTEM_PERMISSIONS, "$SYS.REQ.SERVER.PING")
    assert not may_publish(SYSTEM_PERMISSIONS, intent_subject("bot.create"))
    assert SYSTEM_PERMISSIONS.subscribe == ("_INBOX.system.>",)
