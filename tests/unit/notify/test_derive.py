"""Notifications derived from audit records and bot events."""

from __future__ import annotations

import uuid

from contracts.events import BotEvent
from notify.derive import from_audit, from_bot_event
from tests.notifyutil import audit_record

BOT = uuid.UUID("11111111-2222-3333-4444-555555555555")
USER = uuid.uuid4()

EVENTS = [
    {"kind": "regime_change", "from": 0, "to": 2},
    {"kind": "halt", "rule": "drawdown", "reason": "drawdown 21% exceeds the 20% limit"},
    {"kind": "rearm", "rule": "calm", "reason": "volatility back under its limit"},
]


def test_each_trader_event_becomes_one_notification_in_order() -> None:
    made = from_audit(audit_record(BOT, 7, events=EVENTS), bot_name="SPY swing")
    assert [n.kind for n in made] == ["regime_change", "halt", "rearm"]
    assert made[0].title == "SPY swing: regime 0 -> regime 2"
    assert "drawdown 21% exceeds the 20% limit" in made[1].text
    assert made[1].title == "SPY swing: trading halted (drawdown limit)"
    assert "Equity: $100,000.00" in made[2].text


def test_regimes_are_named_from_the_profile_when_given() -> None:
    made = from_audit(audit_record(BOT, 7, events=EVENTS[:1]), regimes=["Risk-off · 0%", "Cautious · 50%", "Risk-on"])
    assert made[0].title.endswith("Risk-off · 0% (regime 0) -> Risk-on (regime 2)")


def test_the_same_record_read_twice_gives_the_same_ids() -> None:
    first = [n.id for n in from_audit(audit_record(BOT, 7, events=EVENTS))]
    again = [n.id for n in from_audit(audit_record(BOT, 7, events=EVENTS))]
    assert first == again
    assert len(set(first)) == 3
    assert all(i.startswith(f"{BOT}:7:") for i in first)
    other_bar = [n.id for n in from_audit(audit_record(BOT, 8, events=EVENTS))]
    assert not set(first) & set(other_bar)


def test_a_rejected_order_notifies_and_a_filled_one_does_not() -> None:
    executions = [
        {"client_order_id": "b-1", "symbol": "SPY", "side": "buy", "quantity": 3.0, "status": "filled"},
        {"client_order_id": "b-2", "symbol": "SPY", "side": "buy", "quantity": 9.0, "status": "rejected",
         "reason": "insufficient buying power"},
    ]  # fmt: skip
    made = from_audit(audit_record(BOT, 3, executions=executions))
    assert [n.kind for n in made] == ["order_rejected"]
    assert made[0].title == f"Bot {str(BOT)[:8]}: order rejected (buy 9.0 SPY)"
    assert "insufficient buying power" in made[0].text
    assert made[0].facts["client_order_id"] == "b-2"


def test_a_record_without_events_notifies_nothing() -> None:
    assert from_audit(audit_record(BOT, 1)) == []
    assert from_audit(audit_record(BOT, 1, events=[{"kind": "something_new"}, "junk"])) == []


def _bot_event(kind: str, msg_id: str, reason: str | None = None) -> BotEvent:
    status = "failed" if kind == "failed" else "stopped" if kind == "stopped" else "running"
    return BotEvent(
        id=msg_id, type=f"bot.{kind}", bot_id=BOT, user_id=USER, status=status, intent_id="i-1", reason=reason
    )


def test_stop_and_failure_notify_other_lifecycle_events_do_not() -> None:
    failed = from_bot_event(_bot_event("failed", "hosting:x:failed", "the machine kept crashing"))
    assert [n.kind for n in failed] == ["bot_failed"]
    assert "the machine kept crashing" in failed[0].text
    assert [n.kind for n in from_bot_event(_bot_event("stopped", "i-1:stopped"))] == ["bot_stopped"]
    assert from_bot_event(_bot_event("started", "i-2:started")) == []


def test_a_bot_event_redelivered_keeps_its_notification_id() -> None:
    assert (
        from_bot_event(_bot_event("stopped", "i-1:stopped"))[0].id
        == from_bot_event(_bot_event("stopped", "i-1:stopped"))[0].id
    )
    assert (
        from_bot_event(_bot_event("stopped", "i-1:stopped"))[0].id
        != from_bot_event(_bot_event("stopped", "i-9:stopped"))[0].id
    )
