"""Which scored texts a forecaster trains and serves on: one scoring model's, point in time.

``models.data.sentiment`` names the scoring model ("vader", "ProsusAI/finbert", ...) or is
"off". The lake may hold rows of several models (a FinBERT daemon that fell back to VADER
for a while, a backfill with another backend); only the configured model's rows are kept,
and the others are counted in a log line, never averaged in. A configured model with no
rows in the window trains all-zero sentiment features (no news): the feature schema is
decided by the config, not by what the lake happens to hold, so training and serving
always build the same schema.

The manifest records the model under ``training_window["sentiment_model"]``; serving
refuses a checkpoint whose sentiment model differs from the one it reads.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import structlog

__all__ = [
    "SENTIMENT_FEATURE_PREFIX",
    "TRAINING_COLUMNS",
    "empty_rows",
    "model_rows",
    "read_rows",
    "uses_sentiment",
]

log = structlog.get_logger(component="models")

# The columns build_features(sentiment=...) reads, and what the hand-over file holds.
TRAINING_COLUMNS = ("symbol", "score", "label", "available_at", "model")
SENTIMENT_FEATURE_PREFIX = "sent_"


def uses_sentiment(feature_names: tuple[str, ...]) -> bool:
    return any(n.startswith(SENTIMENT_FEATURE_PREFIX) for n in feature_names)


def empty_rows() -> pd.DataFrame:
    """No scored texts, with the columns and dtypes of real ones."""
    return pd.DataFrame(
        {
            "symbol": pd.Series(dtype=object),
            "score": pd.Series(dtype=float),
            "label": pd.Series(dtype=object),
            "available_at": pd.Series(dtype="datetime64[ns, UTC]"),
            "model": pd.Series(dtype=object),
        }
    )


def read_rows(path: str | Path) -> pd.DataFrame:
    """The hand-over file (Parquet, ``TRAINING_COLUMNS``); ``ValueError`` naming the key
    when it is missing or lacks a column."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"models.data.sentiment_rows: no file {path}")
    frame = pd.read_parquet(path)
    missing = sorted(set(TRAINING_COLUMNS) - set(frame.columns))
    if missing:
        raise ValueError(f"models.data.sentiment_rows: {path} lacks columns {missing}")
    return frame


def model_rows(rows: pd.DataFrame | None, model: str, as_of: pd.Timestamp | str) -> pd.DataFrame:
    """``model``'s rows known at ``as_of`` (``available_at <= as_of``; naive = UTC).

    rows: scored texts of any models, one row per (text, linked symbol). Rows of other
    models are dropped and counted in ``sentiment_other_models_ignored``.
    """
    if rows is None or rows.empty:
        return empty_rows()
    as_of = pd.Timestamp(as_of)
    as_of = as_of.tz_localize("UTC") if as_of.tzinfo is None else as_of.tz_convert("UTC")
    avail = pd.to_datetime(rows["available_at"], utc=True)
    known = rows[avail <= as_of]
    others = known.loc[known["model"] != model, "model"].value_counts()
    if len(others):
        log.warning("sentiment_other_models_ignored", using=model, ignored={str(k): int(v) for k, v in others.items()})
    chosen = known[known["model"] == model]
    if chosen.empty:
        log.warning(
            "sentiment_rows_missing",
            model=model,
            as_of=str(as_of),
            models_present=sorted(map(str, rows["model"].unique())),
        )
    columns = [c for c in TRAINING_COLUMNS if c in chosen.columns]
    return chosen[columns].reset_index(drop=True)
