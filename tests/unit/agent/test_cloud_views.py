"""What the wizard and the Cloud page make of the cloud's answers: the plan check on a hosted
bot, and the audit trail of a hosted bot as it grows."""

from __future__ import annotations

from typing import Any

from agent.dashboard.cloud import AUDIT_KEPT, AUDIT_SHOWN, AuditTrail, audit_table
from ui.wizard_words import hosted_refusal


def _billing(plan: str, *, max_hosted: int, hosted: int) -> dict[str, Any]:
    return {
        "plan": plan,
        "limits": {"max_bots": 10, "max_hosted_bots": max_hosted, "hosted_allowed": max_hosted > 0},
        "usage": {"bots": hosted, "hosted_bots": hosted},
    }


def _record(seq: int, regime: int | None = 1) -> dict[str, Any]:
    return {"seq": seq, "bar_at": "2001-02-03T00:00:00Z", "kind": "decision", "regime": regime, "equity": 1234.5}


def test_a_free_plan_is_told_hosted_bots_need_a_paid_plan() -> None:
    [line] = hosted_refusal(_billing("free", max_hosted=0, hosted=0))
    assert line.startswith("Runs on: your free plan runs bots on your own machine only")
    assert "pro or team plan" in line


def test_a_full_paid_plan_is_told_its_hosted_limit_and_a_plan_with_room_passes() -> None:
    [line] = hosted_refusal(_billing("pro", max_hosted=3, hosted=3))
    assert "allows 3 hosted bots and you have 3" in line
    assert hosted_refusal(_billing("pro", max_hosted=3, hosted=2)) == []


def test_the_audit_trail_keeps_the_newest_records_and_where_to_continue() -> None:
    trail = AuditTrail()
    trail.reset("bot-1")
    trail.add([_record(n) for n in range(1, AUDIT_KEPT + 11)])
    trail.add([])  # nothing new: the cursor stays
    assert trail.last_seq == AUDIT_KEPT + 10
    assert [r["seq"] for r in trail.records[:1]] == [11] and len(trail.records) == AUDIT_KEPT


def test_the_audit_table_shows_the_newest_first_with_seq_regime_and_equity() -> None:
    trail = AuditTrail()
    trail.reset("bot-1")
    assert 'data-count="0"' in audit_table(trail)
    trail.add([_record(1, regime=None), *(_record(n) for n in range(2, AUDIT_SHOWN + 6))])
    html = audit_table(trail)
    assert html.index(f'data-seq="{AUDIT_SHOWN + 5}"') < html.index(f'data-seq="{AUDIT_SHOWN + 4}"')
    assert 'data-seq="1"' not in html and html.count('class="cloud-audit-row"') == AUDIT_SHOWN
    assert 'data-regime="1"' in html and "1,234.50" in html
    assert f"Records through seq {AUDIT_SHOWN + 5}" in html
