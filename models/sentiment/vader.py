"""VADER, the lexicon scorer used when no classifier weights can be loaded.

Its lexicon ships inside the ``vaderSentiment`` package, so it works offline. Rows it
scores say ``model = "vader"``: its compound score is not on FinBERT's scale, and features
of the two are never averaged together.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from models.sentiment.daily import label_from_score
from models.sentiment.scores import Scores

__all__ = ["VaderScorer"]


class VaderScorer:
    """probabilities: VADER's (pos, neg, neu) proportions; score: its compound in [-1, 1];
    labels: from the compound score (+-0.05)."""

    name = "vader"

    def __init__(self) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self._analyzer = SentimentIntensityAnalyzer()

    def score(self, texts: Sequence[str], max_length: int = 64) -> Scores:
        """``max_length`` is accepted for a common signature and ignored (no tokens)."""
        rows = [self._analyzer.polarity_scores(t) for t in texts]
        probabilities = np.array([[r["pos"], r["neg"], r["neu"]] for r in rows], dtype=np.float32).reshape(-1, 3)
        # An empty text has all three at 0: call it neutral.
        probabilities[probabilities.sum(axis=1) == 0, 2] = 1.0
        compound = np.array([r["compound"] for r in rows], dtype=np.float32)
        # VADER's documented thresholds: compound >= 0.05 positive, <= -0.05 negative.
        labels = tuple(label_from_score(pd.Series(compound, dtype=float)))
        return Scores(self.name, probabilities, compound, labels)
