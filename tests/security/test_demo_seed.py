"""The demo user (a published password) is created only for a loopback API outside production."""

from __future__ import annotations

import pytest

from stack.demo import demo_skip_reason, seed_demo_if_safe


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.5", "localhost", "::1", "[::1]"])
def test_a_loopback_api_in_development_gets_the_demo(host: str) -> None:
    assert demo_skip_reason(host, "development") is None
    assert demo_skip_reason(host, "test") is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "10.0.0.7", "api.example.com", ""])
def test_an_api_reachable_from_other_machines_gets_none(host: str) -> None:
    reason = demo_skip_reason(host, "development")
    assert reason is not None and f"listens on {host}" in reason and "127.0.0.1" in reason


@pytest.mark.parametrize("environment", ["production", "Production", " production "])
def test_production_never_gets_the_demo(environment: str) -> None:
    reason = demo_skip_reason("127.0.0.1", environment)
    assert reason is not None and "HMMTRADE_ENV=production" in reason


def test_up_prints_why_it_skipped_and_never_calls_the_api() -> None:
    # nothing listens on port 9: seeding would fail with a connection error
    line = seed_demo_if_safe("0.0.0.0", "http://127.0.0.1:9", "postgresql://nobody@127.0.0.1:9/x", environment="dev")
    assert line.startswith("no demo user: the API listens on 0.0.0.0")
    line = seed_demo_if_safe(
        "127.0.0.1", "http://127.0.0.1:9", "postgresql://nobody@127.0.0.1:9/x", environment="production"
    )
    assert line.startswith("no demo user: HMMTRADE_ENV=production")
