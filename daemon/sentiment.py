"""The sentiment service: ``TextsReceived`` -> scores -> ``SentimentScored``.

Each batch of texts is de-duplicated by content hash (across sources, channels and
re-pulls, remembered over restarts from the lake), linked to universe symbols, scored and
stored, all in a worker thread (the subscription is ``blocking``) so the event loop keeps
serving other events while a batch scores. Stored:

- the lake's ``sentiment`` dataset: one row per text and model;
- the lake's ``sentiment_daily`` dataset: per symbol, UTC day and model, point in time;
- the SQLite ``sentiment_latest`` table: the latest day per symbol and model, for a person.

The scorer loads on the first batch: the configured model, or VADER when no weights can be
loaded (said once, in ``sentiment_model_unavailable``). Every row names its model, and
features are only ever computed over one model's rows.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import structlog

from core.bus import EventBus
from core.events import SentimentScored, TextsReceived, freeze
from models.sentiment.config import SentimentConfig
from models.sentiment.daily import daily_features
from models.sentiment.linking import EntityLinker
from models.sentiment.pipeline import ScoredTexts, score_texts
from models.sentiment.select import Scorer, open_scorer
from state.lake import Lake
from state.store import Store, iso

__all__ = ["SentimentService", "SentimentStore", "TopTexts", "linked_rows", "top_texts"]


def linked_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (text, linked symbol) with a ``symbol`` column; unlinked texts drop out.
    The shape ``build_features(sentiment=...)`` and ``daily_features`` take."""
    if rows.empty:
        return rows.assign(symbol=pd.Series(dtype=object))
    exploded = rows.assign(symbol=rows["symbols"].str.split()).explode("symbol")
    return exploded[exploded["symbol"].notna()].reset_index(drop=True)


@dataclass(frozen=True)
class TopTexts:
    """The extremes of one model's scores: lake ``sentiment`` rows, best (or worst) first."""

    model: str | None
    positive: pd.DataFrame
    negative: pd.DataFrame


def top_texts(
    lake: Lake, start: datetime, end: datetime | None = None, *, as_of: datetime, symbol: str | None = None,
    model: str | None = None, limit: int = 5,
) -> TopTexts:
    """The ``limit`` most positive and most negative texts of the lake's ``sentiment`` rows
    with ``start <= ts <= end`` known at ``as_of``, linked to ``symbol`` when given, scored
    by ``model`` (default: the model of the newest score). What ``tradingd sentiment top``
    and the dashboard show."""
    rows = lake.read("sentiment", start=start, end=end, as_of=as_of)
    if symbol:
        rows = linked_rows(rows)
        rows = rows[rows["symbol"] == symbol].drop(columns="symbol")
    model = model or (str(rows.sort_values("available_at")["model"].iloc[-1]) if len(rows) else None)
    rows = rows[rows["model"] == model].sort_values("score", kind="stable")
    return TopTexts(model, rows.iloc[::-1].head(limit).reset_index(drop=True), rows.head(limit).reset_index(drop=True))


class SentimentStore:
    """Score rows in the lake, daily features in the lake and the latest in SQLite.

    ``db_path`` None: no SQLite table is written (a lake-only backfill, tests).
    """

    def __init__(self, lake: Lake, db_path: str | Path | None, half_life_days: float) -> None:
        self.lake = lake
        self.db_path = db_path
        self.half_life_days = half_life_days
        # Decayed scores look back this far; older texts weigh < 0.1%.
        self.lookback = pd.Timedelta(days=max(7.0, 10 * half_life_days))

    def seen_hashes(self, model: str, since: datetime, as_of: datetime) -> set[str]:
        """Content hashes ``model`` has scored with texts from ``since`` on."""
        frame = self.lake.read("sentiment", start=since, as_of=as_of, columns=["model", "hash"])
        return set(frame.loc[frame["model"] == model, "hash"])

    def scores(
        self, model: str, start: datetime | None, end: datetime | None, *, as_of: datetime,
        symbols: Iterable[str] | None = None,
    ) -> pd.DataFrame:
        """One model's scored texts known at ``as_of``, one row per linked symbol: the
        ``sentiment=`` frame of ``models.features.build_features``."""
        frame = self.lake.read("sentiment", start=start, end=end, as_of=as_of)
        rows = linked_rows(frame[frame["model"] == model])
        if symbols is not None:
            rows = rows[rows["symbol"].isin(list(symbols))]
        return rows.reset_index(drop=True)

    def write(self, rows: pd.DataFrame, as_of: datetime, now: datetime) -> pd.DataFrame:
        """Store score rows (one model), refresh the daily features they touch; returns the
        daily rows written."""
        if rows.empty:
            return pd.DataFrame()
        self.lake.write("sentiment", rows)
        touched = linked_rows(rows)
        if touched.empty:
            return pd.DataFrame()
        model = str(rows["model"].iloc[0])
        days = touched["available_at"].dt.floor("D")
        since = days.min() - self.lookback
        # ts <= available_at, so texts known since `since` have ts >= since - 1 day or so;
        # the read is bounded by ts (pushed down), the filter by available_at.
        history = self.scores(model, since - pd.Timedelta(days=1), None, as_of=as_of, symbols=set(touched["symbol"]))
        history = history[history["available_at"] >= since]
        daily = daily_features(history[["symbol", "score", "label", "available_at", "model"]], self.half_life_days)
        wanted = set(zip(touched["symbol"], days, strict=True))
        daily = daily[[k in wanted for k in zip(daily["symbol"], daily["ts"], strict=True)]]
        self.lake.write("sentiment_daily", daily.reset_index(drop=True))
        if self.db_path is not None:
            self._latest_to_sqlite(daily, now)
        return daily

    def _latest_to_sqlite(self, daily: pd.DataFrame, now: datetime) -> None:
        latest = daily.sort_values("ts").groupby("symbol").tail(1)
        rows = [
            {
                "symbol": r.symbol, "model": r.model, "day": r.ts.date().isoformat(),
                "available_at": iso(r.available_at.to_pydatetime()), "mean_score": float(r.mean_score),
                "count": int(r.count), "share_positive": float(r.share_positive),
                "share_negative": float(r.share_negative), "decayed_score": float(r.decayed_score),
                "updated_at": iso(now),
            }
            for r in latest.itertuples(index=False)
        ]  # fmt: skip
        store = Store.open(self.db_path)  # a connection of this worker thread's own
        try:
            store.upsert_sentiment(rows)
        finally:
            store.close()


class SentimentService:
    """Scores the texts the feeds publish. Attach to a bus; ``start`` once it runs live."""

    def __init__(
        self, config: SentimentConfig, *, universe: tuple[str, ...], store: SentimentStore,
        scorer: Scorer | None = None, onnx_dir: str | Path | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.linker = EntityLinker(universe, config.alias_table(), config.english_word_tickers)
        self._scorer = scorer
        self._onnx_dir = onnx_dir
        self._seen: set[str] | None = None
        self._lock = threading.Lock()
        self._bus: EventBus | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._log = structlog.get_logger(component="sentiment")

    def attach(self, bus: EventBus) -> None:
        self._bus = bus
        bus.subscribe(TextsReceived, self.on_texts, name="sentiment", blocking=True)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Live: publish on ``loop``, and load the scorer now in a thread (importing torch
        and transformers takes seconds) rather than when the first texts arrive."""
        self._loop = loop
        threading.Thread(target=lambda: self.scorer, name="sentiment-load", daemon=True).start()

    @property
    def scorer(self) -> Scorer:
        """The scorer, loaded on first use; a fallback to VADER is logged once, here."""
        with self._lock:
            if self._scorer is None:
                scorer, why = open_scorer(self.config, onnx_dir=str(self._onnx_dir) if self._onnx_dir else None)
                if why is not None:
                    self._log.warning("sentiment_model_unavailable", model=self.config.model, using=scorer.name,
                                      reason=why)
                else:
                    self._log.info("sentiment_model_loaded", model=scorer.name, backend=self.config.backend)
                self._scorer = scorer
            return self._scorer

    def process(
        self, texts: pd.DataFrame, *, as_of: datetime, now: datetime, since: datetime | None = None
    ) -> ScoredTexts:
        """Score and store ``texts`` (lake ``texts`` rows); thread-safe, one batch at a time.

        The first call loads the hashes this model scored since ``since`` (default:
        ``dedup_days`` before ``as_of``): texts among them are not scored again.
        """
        scorer = self.scorer
        with self._lock:
            if self._seen is None:
                since = since or as_of - timedelta(days=self.config.dedup_days)
                self._seen = self.store.seen_hashes(scorer.name, since, as_of)
            scored = score_texts(texts, scorer, self.linker, self.config, self._seen)
            self.store.write(scored.rows, as_of, now)
        return scored

    def on_texts(self, event: TextsReceived) -> None:
        texts = event.table.to_pandas()
        as_of = max(event.ts, texts["available_at"].max().to_pydatetime()) if len(texts) else event.ts
        scored = self.process(texts, as_of=as_of, now=datetime.now(UTC))
        rows = scored.rows
        self._log.info("texts_scored", source=event.source, model=self.scorer.name, scored=len(rows),
                       duplicates=scored.duplicates, skipped=scored.skipped)
        if rows.empty:
            return
        per_symbol = linked_rows(rows).groupby("symbol")["score"].agg(["mean", "size"])
        self._publish(
            SentimentScored(
                ts=event.ts, source=event.source, model=self.scorer.name,
                table=pa.Table.from_pandas(rows, preserve_index=False),
                symbols=tuple(per_symbol.index), score=freeze(per_symbol["mean"]),
                count=freeze(per_symbol["size"]), duplicates=scored.duplicates, skipped=scored.skipped,
            )
        )  # fmt: skip

    def _publish(self, event: SentimentScored) -> None:
        assert self._bus is not None
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._bus.publish, event)  # from the worker thread
        else:
            self._bus.publish(event)  # replay: delivered by the drain in hand

