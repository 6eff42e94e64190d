"""Per-symbol daily sentiment features from scored texts, point in time.

Pure: a long frame of scored texts in, one row per (symbol, day) out. Each output row is
known from the ``available_at`` of the newest text it includes, so a day that gains texts
later gets a later vintage instead of rewriting the past.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["DAILY_COLUMNS", "POSITIVE_AT", "daily_features", "label_from_score"]

DAILY_COLUMNS = (
    "symbol", "ts", "available_at", "model", "mean_score", "count",
    "share_positive", "share_negative", "decayed_score",
)  # fmt: skip
# Without a label column, a score at or beyond +-0.05 counts as positive / negative
# (VADER's documented thresholds; for FinBERT P(pos) - P(neg)).
POSITIVE_AT = 0.05


def label_from_score(score: pd.Series) -> pd.Series:
    return pd.Series(
        np.select([score >= POSITIVE_AT, score <= -POSITIVE_AT], ["positive", "negative"], "neutral"),
        index=score.index,
    )


def daily_features(texts: pd.DataFrame, half_life_days: float) -> pd.DataFrame:
    """Features per symbol and UTC day of ``available_at``, for one model.

    ``texts``: rows (symbol, score, available_at, model[, label]), one per text and linked
    symbol. Returns ``DAILY_COLUMNS``: ``ts`` the day (midnight UTC), ``available_at``
    the newest text of that day, mean score, count, shares labelled positive / negative,
    and ``decayed_score``: the mean of every text up to ``available_at`` weighted by
    ``0.5 ** (age_days / half_life_days)``. Raises ``ValueError`` for mixed models.
    """
    if half_life_days <= 0:
        raise ValueError("half_life_days must be > 0")
    if texts["model"].nunique() > 1:
        raise ValueError(f"texts of several models {sorted(texts['model'].unique())}: compute features per model")
    if texts.empty:
        return pd.DataFrame(columns=list(DAILY_COLUMNS))
    frame = texts.assign(available_at=pd.to_datetime(texts["available_at"], utc=True))
    labels = frame["label"] if "label" in frame else label_from_score(frame["score"])
    frame = frame.assign(
        ts=frame["available_at"].dt.floor("D"),
        positive=(labels == "positive").astype(float),
        negative=(labels == "negative").astype(float),
    ).sort_values("available_at", kind="stable")
    days = frame.groupby(["symbol", "ts"], sort=True).agg(
        available_at=("available_at", "max"),
        model=("model", "first"),
        mean_score=("score", "mean"),
        count=("score", "size"),
        share_positive=("positive", "mean"),
        share_negative=("negative", "mean"),
    )
    days = days.reset_index()
    decayed = _decayed_at_each_text(frame, half_life_days)
    days["decayed_score"] = decayed.groupby([frame["symbol"], frame["ts"]], sort=True).last().to_numpy()
    days["count"] = days["count"].astype("int64")
    return days[list(DAILY_COLUMNS)].reset_index(drop=True)


def _decayed_at_each_text(frame: pd.DataFrame, half_life_days: float) -> pd.Series:
    """Per text (sorted by available_at): the decayed mean of its symbol's texts so far."""
    out = pd.Series(np.nan, index=frame.index)
    for _, texts in frame.groupby("symbol", sort=False):
        at = (texts["available_at"] - texts["available_at"].iloc[0]).dt.total_seconds().to_numpy() / 86400.0
        decay = 0.5 ** (np.diff(at, prepend=at[0]) / half_life_days)
        total = weight = 0.0
        values = np.empty(len(texts))
        for i, (d, score) in enumerate(zip(decay, texts["score"].to_numpy(), strict=True)):
            total, weight = total * d + score, weight * d + 1.0
            values[i] = total / weight
        out[texts.index] = values
    return out
