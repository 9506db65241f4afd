"""The credit rule, to the cent and at its boundaries, and docs/terms.md stating the same rule."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from incidents import terms

REPO = Path(__file__).resolve().parents[3]
HOUR = 3600


@pytest.mark.parametrize(
    ("down_s", "credited_s"),
    [(0, 0), (terms.GRACE_S - 1, 0), (terms.GRACE_S, 0), (terms.GRACE_S + 1, 1), (3 * HOUR, 3 * HOUR - terms.GRACE_S)],
)
def test_only_downtime_past_the_grace_period_is_credited(down_s: int, credited_s: int) -> None:
    assert terms.credited_seconds(down_s) == credited_s


@pytest.mark.parametrize(
    ("plan", "credited_s", "cents"),
    [
        ("pro", 0, 0),
        ("pro", 24 * HOUR, 97),  # 2900 / 30 = 96.67 -> 97
        ("team", 24 * HOUR, 330),  # 9900 / 30 = 330 exactly
        ("pro", 10 * HOUR, 40),  # 2900 * 10 / 720 = 40.28 -> 40
        ("team", 3 * HOUR + 30 * 60, 48),  # 9900 * 3.5 / 720 = 48.125 -> 48
        ("pro", 447, 1),  # 2900 * 447 / 2592000 = 0.50008 -> 1 (just past half a cent)
        ("pro", 446, 0),  # 0.499 -> 0
        ("pro", 30 * 24 * HOUR, 2900),  # a whole month: the monthly price
        ("pro", 31 * 24 * HOUR, 2900),  # more than a month: capped at the price
        ("team", 40 * 24 * HOUR, 9900),
    ],
)
def test_the_credit_is_the_prorated_price_rounded_half_up_and_capped(plan: str, credited_s: int, cents: int) -> None:
    assert terms.credit_cents(plan, credited_s) == cents  # type: ignore[arg-type]


def test_a_negative_duration_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        terms.credit_cents("pro", -1)


def test_the_terms_document_states_the_rule_the_code_applies() -> None:
    text = (REPO / "docs" / "terms.md").read_text()
    assert re.search(rf"\b{terms.GRACE_S // 60} minutes\b", text), "the grace period"
    assert re.search(rf"\b{terms.MONTH_S // 86400}-day month\b", text), "the month credits are prorated over"
    assert "rounded half up to the cent" in text
    assert "one month's price" in text, "the cap"
    assert re.search(r"Pro[^\n]*\$29", text) and re.search(r"Team[^\n]*\$99", text), "the plan prices used"
    assert "free plan" in text.lower()
