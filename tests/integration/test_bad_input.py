"""Bad input gets a 4xx problem document that names what was wrong; never a 5xx."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest

from contracts.profile import LIVE_CONFIRMATION
from tests.conftest import VALID_PROFILE


def _profile(**changes: Any) -> dict[str, Any]:
    """VALID_PROFILE with ``section__field=value`` changes (value ... removes the field)."""
    profile = copy.deepcopy(VALID_PROFILE)
    for key, value in changes.items():
        section, field = key.split("__")
        if value is ...:
            profile[section].pop(field)
        else:
            profile[section][field] = value
    return profile


@pytest.mark.parametrize(
    ("profile", "field", "says"),
    [
        (_profile(model__n_states=9), "model.n_states", "from 2 to 6, or 'auto'"),
        (_profile(model__n_states="three"), "model.n_states", "got 'three'"),
        (_profile(basics__surface="cloud"), "basics.surface", "'hosted' or 'local'"),
        (_profile(basics__colour="red"), "basics.colour", "Extra inputs are not permitted"),
        (_profile(market__symbols=[]), "market.symbols", "at least 1 item"),
        (_profile(market__symbols=["SPY", "spy"]), "market.symbols", "symbol listed twice: SPY"),
        (_profile(market__symbols=["S P Y"]), "market.symbols", "is not a ticker"),
        (_profile(strategy__max_drawdown_pct=0), "strategy.max_drawdown_pct", "greater than 0"),
        (
            _profile(strategy__exposure_per_regime=[0, 2, 1]),
            "strategy.exposure_per_regime.1",
            "less than or equal to 1",
        ),
        (_profile(schedule__confirmed=False), "schedule.confirmed", "confirm them"),
        (_profile(schedule__timezone="Mars/Olympus"), "schedule.timezone", "not an IANA time zone"),
        (
            _profile(model__training_window=100, model__n_states=4, strategy__exposure_per_regime=[0, 0, 0, 1]),
            "model",
            "too short for 4 regimes",
        ),
        (_profile(schedule__confirmed=...), "schedule.confirmed", "Field required"),
    ],
)
async def test_invalid_profile_is_rejected_naming_the_field(
    api: httpx.AsyncClient, auth: dict[str, str], profile: dict[str, Any], field: str, says: str
) -> None:
    response = await api.post("/api/v1/bots", json=profile, headers=auth)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422 and problem["title"] == "Invalid input"
    assert field in problem["detail"]
    assert any(e["field"] == field and says in e["msg"] for e in problem["errors"]), problem["errors"]


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"strategy__exposure_per_regime": [0.0, 1.0]}, "2 exposures for 3 regimes"),
        (
            {"basics__mode": "live", "basics__live_confirmation": LIVE_CONFIRMATION},
            "a live bot needs a broker connection",
        ),
        (
            {"basics__surface": "hosted", "market__data_source": "file", "market__data_file": "/tmp/bars.csv"},
            "a hosted bot cannot read a file from your laptop",
        ),
    ],
)
async def test_steps_that_contradict_each_other_are_explained(
    api: httpx.AsyncClient, auth: dict[str, str], changes: dict[str, Any], says: str
) -> None:
    response = await api.post("/api/v1/bots", json=_profile(**changes), headers=auth)
    assert response.status_code == 422
    assert any(says in e["msg"] for e in response.json()["errors"]), response.json()


async def test_malformed_json_is_400(api: httpx.AsyncClient, auth: dict[str, str]) -> None:
    response = await api.post(
        "/api/v1/bots", content=b'{"basics": {', headers={**auth, "content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["detail"] == "The request body is not valid JSON."


async def test_oversized_body_is_413_whether_declared_or_streamed(api: httpx.AsyncClient, auth: dict[str, str]) -> None:
    big = _profile(basics__name="x" * 70_000)
    declared = await api.post("/api/v1/bots", json=big, headers=auth)
    assert declared.status_code == 413 and "65536 byte limit" in declared.json()["detail"]

    async def chunks() -> Any:
        for _ in range(100):
            yield b" " * 1024

    streamed = await api.post("/api/v1/bots", content=chunks(), headers={**auth, "content-type": "application/json"})
    assert streamed.status_code == 413


@pytest.mark.parametrize(
    ("step", "section", "field"),
    [
        (1, {"name": "", "surface": "local"}, "name"),
        (2, {"connection": "not-a-uuid"}, "connection"),
        (3, {"symbols": ["SPY"], "data_source": "file"}, "(section)"),
        (4, {"n_states": 1}, "n_states"),
        (5, {"max_daily_loss_pct": 80}, "max_daily_loss_pct"),
        (6, {"confirmed": True, "starting_cash": 5}, "starting_cash"),
    ],
)
async def test_wizard_step_validation_names_the_field(
    api: httpx.AsyncClient, step: int, section: dict[str, Any], field: str
) -> None:
    response = await api.post("/api/v1/bots/validate", params={"step": step}, json=section)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert f"Step {step}" in problem["detail"]
    assert any(e["field"] == field or (field == "(section)" and e["field"] == "body") for e in problem["errors"])


@pytest.mark.parametrize(
    ("step", "section"),
    [
        (1, {"name": "Trend & Calm", "surface": "hosted"}),
        (2, {"connection": "paper"}),
        (3, {"symbols": ["btc-usd"], "data_source": "file", "data_file": "bars.csv"}),
        (4, {"n_states": 4}),
        (5, {"exposure_per_regime": [-0.5, 0, 0.5, 1]}),
        (6, {"confirmed": True}),
    ],
)
async def test_valid_wizard_steps_pass(api: httpx.AsyncClient, step: int, section: dict[str, Any]) -> None:
    response = await api.post("/api/v1/bots/validate", params={"step": step}, json=section)
    assert response.status_code == 200, response.text
    assert response.json()["valid"] is True and response.json()["step"] == step


async def test_unknown_wizard_step_is_422(api: httpx.AsyncClient) -> None:
    response = await api.post("/api/v1/bots/validate", params={"step": 7}, json={})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "step"
