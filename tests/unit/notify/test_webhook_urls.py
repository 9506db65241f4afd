"""Which webhook URLs a production control plane refuses."""

from __future__ import annotations

import pytest

from api.routes.notifications import webhook_url_problem


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/x",
        "https://127.0.0.1/x",
        "https://10.1.2.3:8443/x",
        "https://[::1]/x",
        "https://169.254.169.254/latest/meta-data",
        "https://localhost/x",
        "https://metadata.google.internal/x",
    ],
)
def test_production_refuses_plain_http_and_inside_addresses(url: str) -> None:
    assert webhook_url_problem(url, production=True) is not None


def test_production_takes_a_public_https_url_and_development_takes_loopback() -> None:
    assert webhook_url_problem("https://hooks.example.com/trading?x=1", production=True) is None
    assert webhook_url_problem("https://8.8.8.8/x", production=True) is None
    assert webhook_url_problem("http://127.0.0.1:9000/", production=False) is None
