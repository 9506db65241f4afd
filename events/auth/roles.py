"""Who may say what on the bus: one permission set per role, each bot its own.

Every identity gets a private reply inbox (``_INBOX.<role>.>``, a bot ``_INBOX.bot.<id>.>``)
and may subscribe to nothing else it does not need, so no client can read another's
request replies (JetStream acks, API answers). JetStream API access is split in two:
*topology* (create/update/inspect streams and consumers; never delete or purge) for the
processes that declare the topology at start-up, and *consume* (pull, ack, read a stored
message) for the workers.

| role | publishes | subscribes |
|---|---|---|
| api | ``intents.>``, ``stripe.events.>``, boot reports (1), topology | its inbox |
| workers | ``events.>``, ``intents.>``, ``dlq.>``, re-arm requests (2), leases, topology, consume | inbox, advisories |
| agent | topology, consume, ``$KV.bot_state.>`` | its inbox |
| dashboard | nothing | ``bots.*.{audit,tick,status,log}``, ``events.>`` |
| bot ``<id>`` | ``bots.<id>.>``, its ``bot_state`` key; reads its re-arm request key (2) | its inbox |
| admin | everything (operators, tests, benchmarks) | everything |

(1) ``events.bot.*.boot_waiting`` and ``events.bot.*.booted`` only: the API alone sees a
machine's boot (it answers its ``broker_token`` call); every other event is the workers'.
(2) ``bot_state`` key ``<id>.rearm``: the lifecycle worker puts a person's re-arm request there;
the bot may read it but not write it, so it cannot re-arm itself or touch another bot's request.
"""

from __future__ import annotations

from enum import StrEnum

from events.auth.jwt import Permissions
from events.topology import BOT_STATE_BUCKET, LEASE_BUCKET, rearm_request_subject, subject_token

TOPOLOGY = (
    "$JS.API.INFO",
    "$JS.API.STREAM.NAMES",
    "$JS.API.STREAM.LIST",
    "$JS.API.STREAM.INFO.*",
    "$JS.API.STREAM.CREATE.*",
    "$JS.API.STREAM.UPDATE.*",
    "$JS.API.CONSUMER.CREATE.>",
    "$JS.API.CONSUMER.DURABLE.CREATE.>",
    "$JS.API.CONSUMER.INFO.>",
)
CONSUME = (
    "$JS.API.CONSUMER.MSG.NEXT.>",
    "$JS.ACK.>",
    "$JS.API.STREAM.MSG.GET.*",
    "$JS.API.DIRECT.GET.>",
)
BOT_OUTPUTS = ("audit", "tick", "status", "log")


class Role(StrEnum):
    API = "api"
    WORKERS = "workers"
    AGENT = "agent"
    DASHBOARD = "dashboard"
    ADMIN = "admin"


def inbox_prefix(role: str) -> str:
    return f"_INBOX.{role}"


def _inbox(role: str) -> str:
    return f"{inbox_prefix(role)}.>"


ROLE_PERMISSIONS: dict[Role, Permissions] = {
    Role.API: Permissions(
        publish=("intents.>", "stripe.events.>", "events.bot.*.boot_waiting", "events.bot.*.booted", *TOPOLOGY),
        subscribe=(_inbox("api"),),
    ),
    Role.WORKERS: Permissions(
        publish=(
            "events.>",
            "intents.>",
            "dlq.>",
            f"$KV.{BOT_STATE_BUCKET}.*.rearm",
            f"$KV.{LEASE_BUCKET}.>",  # singleton leases (workers.lease)
            *TOPOLOGY,
            *CONSUME,
        ),
        subscribe=(_inbox("workers"), "$JS.EVENT.ADVISORY.>"),
    ),
    Role.AGENT: Permissions(publish=(*TOPOLOGY, *CONSUME, f"$KV.{BOT_STATE_BUCKET}.>"), subscribe=(_inbox("agent"),)),
    Role.DASHBOARD: Permissions(
        publish=(), subscribe=(_inbox("dashboard"), *(f"bots.*.{what}" for what in BOT_OUTPUTS), "events.>")
    ),
    Role.ADMIN: Permissions(publish=(">",), subscribe=(">",)),
}


def bot_inbox_prefix(bot_id: object) -> str:
    return f"_INBOX.bot.{subject_token(bot_id)}"


def bot_permissions(bot_id: object) -> Permissions:
    """A bot publishes its own outputs, reads/writes its own checkpoint key and reads its re-arm request.

    Both keys are read with a *direct get* whose subject names the key, so the server
    can scope it; the classic ``STREAM.MSG.GET`` API carries the key in the body and is
    not granted.
    """
    bot = subject_token(bot_id)
    kv_stream = f"KV_{BOT_STATE_BUCKET}"
    return Permissions(
        publish=(
            f"bots.{bot}.>",
            f"$KV.{BOT_STATE_BUCKET}.{bot}",
            f"$JS.API.DIRECT.GET.{kv_stream}.$KV.{BOT_STATE_BUCKET}.{bot}",
            f"$JS.API.DIRECT.GET.{kv_stream}.{rearm_request_subject(bot)}",
            f"$JS.API.STREAM.INFO.{kv_stream}",
        ),
        subscribe=(f"{bot_inbox_prefix(bot)}.>",),
    )


# The system account's one user: pushes account updates (revocations) to the resolver.
SYSTEM_PERMISSIONS = Permissions(
    publish=("$SYS.REQ.CLAIMS.UPDATE", "$SYS.REQ.ACCOUNT.*.CLAIMS.LOOKUP"), subscribe=(_inbox("system"),)
)
