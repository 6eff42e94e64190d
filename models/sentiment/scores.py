"""What a scorer returns, label mapping and length bucketing: pure, no torch."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

__all__ = ["LABELS", "Scores", "label_columns", "length_buckets"]

LABELS = ("positive", "negative", "neutral")
_PREFIXES = {"pos": "positive", "neg": "negative", "neu": "neutral"}


@dataclass(frozen=True, slots=True)
class Scores:
    """Scores of N texts by one model.

    ``probabilities``: (N, 3) float32 in ``LABELS`` order (positive, negative, neutral),
    rows summing to 1; ``score``: (N,) in [-1, 1], P(positive) - P(negative) for
    classifiers (VADER: its compound score); ``labels``: (N,) the label per text (a
    classifier's most probable class; VADER's compound thresholds); ``model``: names the
    model, stored with every row so scores of different models are never mixed.
    """

    model: str
    probabilities: np.ndarray
    score: np.ndarray
    labels: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.score)

    @classmethod
    def from_probabilities(cls, model: str, probabilities: np.ndarray) -> Scores:
        p = np.asarray(probabilities, dtype=np.float32).reshape(-1, len(LABELS))
        labels = tuple(LABELS[i] for i in p.argmax(axis=1))
        return cls(model, p, (p[:, 0] - p[:, 1]).astype(np.float32), labels)


def label_columns(id2label: Mapping[int | str, str]) -> np.ndarray:
    """Output columns of (positive, negative, neutral) from a model's ``config.id2label``.

    Names match in any case and order ("Positive", "NEG", "neutral"; pos/neg/neu allowed); a model whose labels
    are not exactly these three is refused, never mapped by position.
    """
    found: dict[str, int] = {}
    for index, name in id2label.items():
        key = str(name).strip().lower()
        label = key if key in LABELS else _PREFIXES.get(key)
        if label is None or label in found:
            raise ValueError(
                f"id2label {dict(id2label)} is not a positive/negative/neutral classifier (label {name!r})"
            )
        found[label] = int(index)
    if set(found) != set(LABELS):
        raise ValueError(f"id2label {dict(id2label)} lacks {sorted(set(LABELS) - set(found))}")
    return np.array([found[label] for label in LABELS], dtype=np.int64)


def length_buckets(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Batches of indices with similar lengths: sort by length, cut every ``batch_size``.

    Padding then costs at most the spread within a batch, so short headlines never pad to
    a long body. ``lengths``: (N,) token counts; returns index arrays covering 0..N-1.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    order = np.argsort(np.asarray(lengths), kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
