"""Scoring regime labels against a known truth: state mapping, accuracy, precision/recall, switch lag.

A model's state numbers are its own (by volatility at the first fit, then kept by matching), not the
generator's, so labels are first mapped onto true states with the assignment that maximises
agreement (Hungarian method on the confusion matrix). One mapping per labelled path: a model
that swaps two states' meanings halfway through is scored as wrong for half the path, which is
what its trades would be.

``None`` is a label too: the bot before its first accepted regime. It is never mapped to a
true state, so those bars count against accuracy and recall.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

Labels = Sequence[int | None]
NO_LABEL = -1  # a bar the labeller left unlabelled (None)


def as_array(labels: Labels) -> NDArray[np.int64]:
    """Labels as integers, ``NO_LABEL`` for None."""
    return np.array([NO_LABEL if label is None else label for label in labels], dtype=np.int64)


def confusion(truth: NDArray[np.int64], predicted: NDArray[np.int64], n_states: int) -> NDArray[np.int64]:
    """``matrix[true state, label]`` counts; unlabelled bars are left out (they match nothing)."""
    if len(predicted) != len(truth):
        raise ValueError(f"{len(predicted)} labels for {len(truth)} true states: score the same bars")
    matrix = np.zeros((n_states, n_states), dtype=np.int64)
    labelled = predicted != NO_LABEL
    np.add.at(matrix, (truth[labelled], predicted[labelled]), 1)
    return matrix


def best_mapping(matrix: NDArray[np.int64]) -> dict[int, int]:
    """Model label -> true state, one to one, maximising the bars on which they agree."""
    true_states, labels = linear_sum_assignment(matrix, maximize=True)
    return {int(label): int(state) for state, label in zip(true_states, labels, strict=True)}


def mapped(predicted: NDArray[np.int64], mapping: dict[int, int]) -> NDArray[np.int64]:
    """The labels translated into true states (``NO_LABEL`` stays ``NO_LABEL``)."""
    return np.array([mapping.get(int(label), NO_LABEL) for label in predicted], dtype=np.int64)


@dataclass(frozen=True)
class Score:
    """How well one labelled path matches the truth, after mapping its labels onto true states."""

    accuracy: float  # share of all scored bars whose mapped label is the true state
    unlabelled: float  # share of bars with no label at all (before the first accepted regime)
    matrix: NDArray[np.int64]  # [true state, mapped state], labelled bars only
    lags: tuple[int | None, ...]  # per qualifying true switch: bars until detected, None = never


def score(
    truth: NDArray[np.int64],
    labels: Labels,
    n_states: int,
    *,
    min_duration: int = 10,
    mapping: dict[int, int] | None = None,
) -> Score:
    """Accuracy, the mapped confusion matrix and the detection lag of every lasting switch.

    ``mapping`` (label -> true state) when the labels' meaning is known without the truth;
    by default the best one-to-one mapping for this path (:func:`best_mapping`).
    """
    labelled = as_array(labels)
    if mapping is None:
        mapping = best_mapping(confusion(truth, labelled, n_states))
    predicted = mapped(labelled, mapping)
    return Score(
        accuracy=float(np.mean(predicted == truth)),
        unlabelled=float(np.mean(predicted == NO_LABEL)),
        matrix=confusion(truth, predicted, n_states),
        lags=tuple(switch_lags(truth, predicted, min_duration=min_duration)),
    )


def lasting_switches(truth: NDArray[np.int64], min_duration: int) -> list[tuple[int, int]]:
    """(start, end) of every true episode that follows a change of state and lasts >= ``min_duration`` bars.

    The first episode is not a switch (nothing before it was seen); an episode cut off by the end of
    the path counts only if ``min_duration`` of its bars are in the path.
    """
    changes = np.flatnonzero(np.diff(truth) != 0) + 1
    if len(changes) == 0:
        return []
    ends = [*changes[1:].tolist(), len(truth)]
    return [(int(start), end) for start, end in zip(changes, ends, strict=True) if end - start >= min_duration]


def switch_lags(truth: NDArray[np.int64], predicted: NDArray[np.int64], *, min_duration: int = 10) -> list[int | None]:
    """Bars from each lasting true switch until the mapped label first equals the new state.

    0 means the label already named the new state on the switch bar; None means it never did
    before the episode ended (the state changed again, or the path ended).
    """
    lags: list[int | None] = []
    for start, end in lasting_switches(truth, min_duration):
        hits = np.flatnonzero(predicted[start:end] == truth[start])
        lags.append(int(hits[0]) if len(hits) else None)
    return lags


def precision_recall(matrix: NDArray[np.int64], totals: NDArray[np.int64]) -> tuple[list[float], list[float]]:
    """Per true state: precision (of the bars labelled s, the share truly s) and recall (of the bars
    truly s, the share labelled s). ``matrix`` is in mapped states; ``totals[s]`` counts every bar truly
    in s, unlabelled ones included. NaN where a denominator is 0."""
    hits = np.diag(matrix).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = hits / matrix.sum(axis=0)
        recall = hits / totals
    return precision.tolist(), recall.tolist()


def lag_summary(lags: Sequence[int | None]) -> tuple[float, float, float]:
    """(median lag, 90th percentile lag, share never detected); lags over the detected switches."""
    if not lags:
        return float("nan"), float("nan"), float("nan")
    detected = [lag for lag in lags if lag is not None]
    never = 1 - len(detected) / len(lags)
    if not detected:
        return float("nan"), float("nan"), never
    return float(np.median(detected)), float(np.percentile(detected, 90)), never
