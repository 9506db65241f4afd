"""The API's backpressure arithmetic: when a backlog is over its bound, and how long to ask clients to wait."""

from __future__ import annotations

from api.backlog import Backlog


def test_the_bound_itself_is_still_accepted_and_one_more_is_refused() -> None:
    assert not Backlog(waiting=60, in_hand=40, limit=100, drain_per_s=None).over_limit
    assert Backlog(waiting=61, in_hand=40, limit=100, drain_per_s=None).over_limit
    assert Backlog(waiting=0, in_hand=101, limit=100, drain_per_s=None).over_limit  # in a worker's hands counts too


def test_retry_after_is_the_time_to_drain_back_to_half_the_bound_within_1_to_30_s() -> None:
    assert Backlog(waiting=3_000, in_hand=0, limit=2_000, drain_per_s=1_000.0).retry_after_s() == 2
    assert Backlog(waiting=3_500, in_hand=0, limit=2_000, drain_per_s=1_000.0).retry_after_s() == 3  # rounds up
    assert Backlog(waiting=2_001, in_hand=0, limit=2_000, drain_per_s=100_000.0).retry_after_s() == 1
    assert Backlog(waiting=900_000, in_hand=0, limit=2_000, drain_per_s=10.0).retry_after_s() == 30


def test_retry_after_without_a_measured_drain_rate_is_two_seconds() -> None:
    assert Backlog(waiting=500, in_hand=0, limit=100, drain_per_s=None).retry_after_s() == 2
    assert Backlog(waiting=500, in_hand=0, limit=100, drain_per_s=0.0).retry_after_s() == 2
