"""Scored texts from the lake for the forecasters: training hand-over and serving reads.

``models`` cannot read the lake (``state`` is its sibling layer), so the daemon side reads
the lake's ``sentiment`` dataset and hands the rows over:

- ``tradingd train`` and the retrain job write the rows known at the training window's end
  to a Parquet file (``models.data.sentiment_rows``) that every torchrun rank reads;
- the `infer` job reads the rows known at its decision time on each forecast.

Both read per-text rows (one per text and linked symbol), not the ``sentiment_daily``
dataset: ``build_features`` aggregates them per trading day itself, each text from the
first trading time at or after its ``available_at``, so training rows and serving windows
are computed by the same code from the same gate. ``sentiment_daily`` and the SQLite
``sentiment`` view stay the person's summary of the same numbers.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import structlog

from daemon.config import Config, load_config
from daemon.sentiment import SentimentStore
from models.config import DataConfig, RunConfig
from models.sentiment.training import TRAINING_COLUMNS, empty_rows
from state.lake import Lake

__all__ = ["export_training_rows", "lake_rows", "sentiment_lake", "train_sentiment_rows"]

log = structlog.get_logger(component="sentiment")


def sentiment_lake(config: Config) -> Lake | None:
    """Where the forecasters' scored texts come from: the lake the sentiment service writes
    (``<run.data_dir>/lake``), when ``models.data.sentiment`` is on."""
    from daemon.data.commands import lake_of

    return None if config.models.data.sentiment == "off" else lake_of(config)


def _utc(value: datetime | pd.Timestamp | str) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def lake_rows(
    lake: Lake,
    model: str,
    as_of: datetime | pd.Timestamp | str,
    *,
    start: datetime | pd.Timestamp | str | None = None,
    symbols: tuple[str, ...] | None = None,
) -> pd.DataFrame:
    """``model``'s scored texts known at ``as_of`` (naive = UTC) with ``ts >= start``, one
    row per linked symbol: ``TRAINING_COLUMNS``. Empty (with those columns) when none."""
    as_of = _utc(as_of)
    begin = None if start is None else _utc(start)
    # The store's half-life only matters when it writes daily rows; this only reads.
    rows = SentimentStore(lake, None, half_life_days=1.0).scores(model, begin, None, as_of=as_of, symbols=symbols)
    if rows.empty:
        return empty_rows()
    return rows[list(TRAINING_COLUMNS)].reset_index(drop=True)


def export_training_rows(lake: Lake, data: DataConfig, path: str | Path) -> Path:
    """Write the configured model's texts known at the end of the training window
    (``data.end``, midnight UTC: the last decision time of the window) to ``path``."""
    path = Path(path)
    as_of = _utc(pd.Timestamp(data.end))
    rows = lake_rows(lake, data.sentiment, as_of, symbols=data.symbols)
    present = lake.read("sentiment", as_of=as_of, columns=["model"])["model"].value_counts()
    others = {str(m): int(n) for m, n in present.items() if m != data.sentiment}
    if others:  # never mixed in: features of different scorers are not comparable
        log.warning("sentiment_other_models_ignored", using=data.sentiment, ignored=others)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    rows.to_parquet(partial, index=False)
    partial.replace(path)  # a rank never reads a half-written file
    log.info("training_sentiment_exported", model=data.sentiment, rows=len(rows), as_of=str(data.end), path=str(path))
    return path


def train_sentiment_rows(config_path: Path | None, cfg: RunConfig) -> Path:
    """``tradingd train``'s hand-over: the lake of the daemon config that ``--config``
    names (its ``run.data_dir``; a models-only file or none: the default ``data/lake``),
    written to ``<run_dir>/sentiment_rows.parquet``."""
    import tomllib

    from daemon.data.commands import lake_of

    daemon_file = config_path is not None and "models" in tomllib.loads(Path(config_path).read_text())
    config = load_config(config_path if daemon_file else None)
    return export_training_rows(lake_of(config), cfg.data, Path(cfg.run_dir) / "sentiment_rows.parquet")
