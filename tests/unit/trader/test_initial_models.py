"""Shipped first models: used only when they are exactly the bot's own first fit, refused when malformed."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from contracts.profile import BotProfile
from tests.conftest import VALID_PROFILE
from trader import audit, regime_slot
from trader.bars import load_bundled
from trader.config import engine_config
from trader.engine import Engine
from trader.first_fit import first_fits, shippable
from trader.initial_models import InitialModelError, fit_key, from_json, to_json
from trader.model import FitOptions, RegimeModel

PROFILE = BotProfile.model_validate(
    {**VALID_PROFILE, "model": {**VALID_PROFILE["model"], "training_window": 252, "refit_every": 1000}}
)
BARS = {"SPY": load_bundled("sp500").head(400)}


def _audit(engine: Engine) -> list[str]:
    lines = []
    for t in range(len(BARS["SPY"].close)):
        record = engine.on_bar({s: b.head(t + 1) for s, b in BARS.items()}, t)
        if record is not None:
            lines.append(audit.encode(record))
    return lines


@pytest.fixture(scope="module")
def shipped() -> list[dict[str, Any]]:
    return to_json(first_fits(PROFILE))


def test_a_bot_given_its_first_fit_records_byte_for_byte_what_it_records_fitting_itself(
    shipped: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = engine_config(PROFILE, bot_id="shipped")
    own = _audit(Engine(config))

    def no_fit(*args: Any, **kwargs: Any) -> RegimeModel:
        raise AssertionError("the bot fitted although its first fit was shipped")

    monkeypatch.setattr(regime_slot, "fit", no_fit)
    received = json.loads(json.dumps(shipped))  # as it crosses the wire
    given = _audit(Engine(config, initial_models=from_json(received)))
    assert len(own) > 100
    assert given == own


def test_a_shipped_model_for_another_window_or_other_options_is_not_used(shipped: list[dict[str, Any]]) -> None:
    other_window = BotProfile.model_validate(
        {**VALID_PROFILE, "model": {**VALID_PROFILE["model"], "training_window": 260, "refit_every": 1000}}
    )
    other_seed = BotProfile.model_validate(
        {**VALID_PROFILE, "model": {**VALID_PROFILE["model"], "training_window": 252, "random_seed": 8}}
    )
    for profile in (other_window, other_seed):
        engine = Engine(engine_config(profile, bot_id="other"), initial_models=from_json(shipped))
        _audit(engine)
        ((key, model),) = engine.first_fits()
        assert key != shipped[0]["key"]
        assert model.to_json() != shipped[0]["model"]  # it fitted its own


def test_the_fit_key_changes_with_any_bit_of_the_window_or_any_option() -> None:
    window = np.random.default_rng(1).normal(size=(300, 2))
    options = FitOptions(n_states=3)
    key = fit_key(window, options)
    assert key == fit_key(window.copy(), FitOptions(n_states=3))
    nudged = window.copy()
    nudged[150, 1] = np.nextafter(nudged[150, 1], np.inf)
    assert fit_key(nudged, options) != key
    assert fit_key(window[:-1], options) != key
    assert fit_key(window, replace(options, seed=8)) != key
    assert fit_key(window, replace(options, restarts=3)) != key


def test_only_one_symbol_on_bundled_data_with_a_fixed_state_count_is_fitted_by_the_control_plane() -> None:
    assert shippable(PROFILE)
    for change in (
        {"model": {**VALID_PROFILE["model"], "n_states": "auto"}},
        {"market": {**VALID_PROFILE["market"], "data_source": "bundled", "symbols": ["SPY", "QQQ"]}},
        {"market": {**VALID_PROFILE["market"], "data_source": "file", "data_file": "spy.csv"}},
    ):
        profile = BotProfile.model_validate({**VALID_PROFILE, **change})
        assert not shippable(profile)
        assert first_fits(profile) == []


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        (lambda m: m.update(startprob=[0.5, 0.6, -0.1]), "sum to 1"),
        (lambda m: m["transmat"][0].__setitem__(0, float("nan")), "not finite"),
        (lambda m: m.update(means=m["means"][:2]), "inconsistent shapes"),
        (lambda m: m["covars"][1][0].__setitem__(1, 5.0), "not symmetric"),
        (lambda m: m["covars"][2].__setitem__(0, [-1.0, 0.0]) or m["covars"][2].__setitem__(1, [0.0, 1.0]), "positive"),
        (lambda m: m.pop("covars"), "KeyError"),
    ],
)
def test_a_malformed_shipped_model_is_refused_naming_what_is_wrong(
    shipped: list[dict[str, Any]], spoil: Any, reason: str
) -> None:
    item = json.loads(json.dumps(shipped[0]))
    spoil(item["model"])
    with pytest.raises(InitialModelError, match=reason):
        from_json([item])


def test_the_shipped_list_itself_is_checked(shipped: list[dict[str, Any]]) -> None:
    with pytest.raises(InitialModelError, match="a list"):
        from_json({"key": "x"})
    with pytest.raises(InitialModelError, match="64 hex"):
        from_json([{**shipped[0], "key": "short"}])
    with pytest.raises(InitialModelError, match="at most 20"):
        from_json(shipped * 21)
    assert from_json(shipped)[shipped[0]["key"]].to_json() == shipped[0]["model"]  # exact round trip
