"""``bench.regime_scoring``: mapping model states onto true ones, accuracy, precision/recall, switch lag."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.regime_scoring import lag_summary, lasting_switches, precision_recall, score

TRUTH = np.array([0] * 5 + [1] * 12 + [2] * 15 + [0] * 3, dtype=np.int64)


def test_a_renamed_copy_of_the_truth_scores_perfectly() -> None:
    renamed = [{0: 2, 1: 0, 2: 1}[int(s)] for s in TRUTH]
    result = score(TRUTH, renamed, 3)
    assert result.accuracy == 1.0
    assert result.lags == (0, 0)
    np.testing.assert_array_equal(result.matrix, np.diag(np.bincount(TRUTH)))


def test_a_given_mapping_is_used_as_is() -> None:
    renamed = [{0: 2, 1: 0, 2: 1}[int(s)] for s in TRUTH]
    assert score(TRUTH, renamed, 3, mapping={0: 0, 1: 1, 2: 2}).accuracy == 0.0


def test_only_switches_into_lasting_states_count() -> None:
    # day 0 is no switch; 0 -> 1 at 5 lasts 12, 1 -> 2 at 17 lasts 15, 2 -> 0 at 32 lasts 3 bars only
    assert lasting_switches(TRUTH, 10) == [(5, 17), (17, 32)]


def test_a_path_without_a_switch_has_no_lags() -> None:
    steady = np.zeros(30, dtype=np.int64)
    assert lasting_switches(steady, 10) == []
    result = score(steady, [0] * 30, 3)
    assert result.lags == ()
    assert all(math.isnan(v) for v in lag_summary(result.lags))


def test_lag_counts_bars_until_the_label_names_the_new_state() -> None:
    late = TRUTH.copy()
    late[5:8] = 0  # names state 1 three bars late
    late[17:32] = 1  # never names state 2
    result = score(TRUTH, late.tolist(), 3, mapping={0: 0, 1: 1, 2: 2})
    assert result.lags == (3, None)
    assert lag_summary(result.lags) == (3.0, 3.0, 0.5)


def test_bars_without_a_regime_count_as_wrong() -> None:
    labels: list[int | None] = [None] * 10 + TRUTH[10:].tolist()
    result = score(TRUTH, labels, 3)
    assert result.accuracy == pytest.approx((len(TRUTH) - 10) / len(TRUTH))
    assert result.unlabelled == pytest.approx(10 / len(TRUTH))
    assert result.lags == (5, 0), "state 1 began at bar 5 and was first named at bar 10"


def test_precision_and_recall_per_true_state() -> None:
    matrix = np.array([[8, 2], [1, 4]], dtype=np.int64)  # [true, labelled]
    totals = np.array([10, 10], dtype=np.int64)  # state 1 had 5 bars with no label at all
    precision, recall = precision_recall(matrix, totals)
    assert precision == pytest.approx([8 / 9, 4 / 6])
    assert recall == pytest.approx([8 / 10, 4 / 10])


def test_a_state_never_labelled_has_no_precision() -> None:
    precision, _ = precision_recall(np.array([[3, 0], [2, 0]], dtype=np.int64), np.array([3, 2], dtype=np.int64))
    assert math.isnan(precision[1])


def test_labels_and_truth_of_different_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="score the same bars"):
        score(TRUTH, [0, 1], 3)
