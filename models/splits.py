"""Time splits with a purge (>= the label horizon) and an embargo.

All indices are positions on the panel's time axis. A training row t carries a label that
looks `label_horizon` days ahead, so it is usable only if t + label_horizon falls before the
evaluation block: the purge removes those rows, and the embargo widens the gap further for
slowly decaying feature autocorrelation (rolling 60-day windows overlap across the cut).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Fold", "train_val_split", "walk_forward_folds"]


@dataclass(frozen=True, slots=True)
class Fold:
    """train: (n_train,) and test: (n_test,) int positions, every train < every test - gap."""

    train: np.ndarray
    test: np.ndarray


def _fold(start: int, test_start: int, test_end: int, purge: int, embargo: int) -> Fold:
    train_end = test_start - purge - embargo  # exclusive
    if train_end <= start:
        raise ValueError("not enough history before the evaluation block for purge + embargo")
    return Fold(np.arange(start, train_end), np.arange(test_start, test_end))


def train_val_split(candidates: np.ndarray, val_fraction: float, purge: int, embargo: int) -> Fold:
    """Last `val_fraction` of the candidate positions (sorted, contiguous) is validation;
    training stops `purge + embargo` positions before it."""
    lo, hi = int(candidates[0]), int(candidates[-1]) + 1
    val_start = hi - max(1, int(round((hi - lo) * val_fraction)))
    return _fold(lo, val_start, hi, purge, embargo)


def walk_forward_folds(
    candidates: np.ndarray, n_folds: int, purge: int, embargo: int, min_train: int
) -> list[Fold]:
    """Expanding-window folds: the last part of the candidate range is cut into `n_folds`
    equal test blocks; each fold trains on everything up to its block minus the gap.
    candidates: sorted contiguous positions where features and labels exist."""
    lo, hi = int(candidates[0]), int(candidates[-1]) + 1
    first_test = lo + min_train + purge + embargo
    size = (hi - first_test) // n_folds
    if n_folds < 1 or size < 1:
        raise ValueError(f"range of {hi - lo} positions too short for {n_folds} folds")
    return [
        _fold(lo, first_test + k * size, first_test + (k + 1) * size, purge, embargo)
        for k in range(n_folds)
    ]
