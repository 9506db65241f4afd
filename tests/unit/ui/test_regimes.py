"""Regimes named by exposure, coloured on one scale shared by every bot, readable as text."""

from __future__ import annotations

import pytest

from ui.regimes import (
    NO_REGIME_COLOR,
    by_exposure,
    contrast_on_white,
    exposure_color,
    regime_color,
    regime_name,
    regime_names,
)


def test_regimes_are_named_by_the_exposure_the_profile_gives_them() -> None:
    assert regime_names([0.0, 0.5, 1.0]) == ["Risk-off · 0%", "Cautious · 50%", "Risk-on · 100%"]
    assert regime_names([-0.5, 0.0, 0.2, 0.8]) == [
        "Short · −50%",
        "Risk-off · 0%",
        "Defensive · 20%",
        "Constructive · 80%",
    ]
    assert regime_name(2, [0.0, 0.5, 1.0]) == "Risk-on · 100%"


def test_two_regimes_with_one_exposure_are_told_apart_in_a_legend() -> None:
    names = regime_names([0.0, 0.0, 1.0])
    assert names == ["Risk-off · 0%", "Risk-off · 0% (2)", "Risk-on · 100%"]
    assert len(set(names)) == 3


def test_unknown_profiles_and_missing_regimes_still_have_names() -> None:
    assert regime_names(None, 3) == ["Regime 0", "Regime 1", "Regime 2"]
    assert regime_name(None, [0.0, 1.0]) == "No regime"
    assert regime_name(4, [0.0, 1.0]) == "Regime 4"


def test_colours_run_from_red_at_the_lowest_exposure_to_green_at_the_highest() -> None:
    exposures = [1.0, 0.0, 0.5]  # regime order need not be exposure order
    assert by_exposure(exposures) == [1, 2, 0]
    red, amber, green = (regime_color(k, exposures) for k in by_exposure(exposures))

    def rgb(c: str) -> tuple[int, int, int]:
        return int(c[1:3], 16), int(c[3:5], 16), int(c[5:7], 16)

    assert rgb(red)[0] > rgb(red)[1]  # more red than green
    assert rgb(green)[1] > rgb(green)[0]  # more green than red
    assert len({red, amber, green}) == 3


def test_the_same_exposure_has_the_same_colour_in_every_bot() -> None:
    assert regime_color(1, [0.0, 0.5]) == regime_color(1, [0.0, 0.5, 1.0]) == regime_color(0, [0.5, 1.0])
    assert regime_color(0, [0.0, 1.0]) != regime_color(0, [-0.5, 1.0])


def test_no_regime_is_grey() -> None:
    assert regime_color(None, [0.0, 1.0]) == NO_REGIME_COLOR


@pytest.mark.parametrize("exposure", [x / 20 for x in range(-20, 21)])
def test_every_regime_colour_reads_as_text_on_white(exposure: float) -> None:
    assert contrast_on_white(exposure_color(exposure)) >= 4.5


def test_fallback_and_grey_colours_read_as_text_on_white() -> None:
    for color in [NO_REGIME_COLOR, *(regime_color(k, None) for k in range(6))]:
        assert contrast_on_white(color) >= 4.5


def test_the_contrast_check_matches_known_values() -> None:
    assert contrast_on_white("#000000") == pytest.approx(21.0)
    assert contrast_on_white("#ffffff") == pytest.approx(1.0)
    assert contrast_on_white("#ff7f0e") < 3  # the old orange regime digits: unreadable
