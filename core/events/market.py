"""Market data: bars, corporate actions, the lake's pulls and their sentiment scores."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np

from core.events.base import ActionKind, Event

if TYPE_CHECKING:  # annotations only: brokers and strategies need not import pyarrow
    import pyarrow as pa

__all__ = [
    "BarsClosed",
    "CorporateActionOccurred",
    "DataReceived",
    "FeedExhausted",
    "FundamentalsUpdated",
    "MacroUpdated",
    "SentimentScored",
    "TextsReceived",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class BarsClosed(Event):
    """One bar closed for the whole universe.

    ``symbols``: (N,) names; ``open``/``high``/``low``/``close``/``volume``: (N,) float64,
    NaN where a symbol has no value (not listed yet, halted, or the source has no such
    field: the bundled skfolio set has closes only). ``available_at``: when the bar
    became known (>= ``ts``).
    """

    symbols: tuple[str, ...]
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    available_at: datetime
    source: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CorporateActionOccurred(Event):
    """A split or cash dividend takes effect at ``ts`` (the start of the ex-date).

    ``action``: "split" (``value`` = new shares per old share, 4.0 for 4:1) or "dividend"
    (``value`` = cash per share). Bars after ``ts`` are priced ex the action; bars before
    it are not (prices are stored raw).
    """

    symbol: str
    action: ActionKind
    value: float
    source: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedExhausted(Event):
    """A replayed source has no more data (the offline daemon keeps serving)."""

    source: str
    last_bar_ts: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class DataReceived(Event):
    """Rows a pull added, in the lake dataset's schema (``docs/feeds.md``).

    ``table`` is an immutable Arrow table: partition column (series, symbol or channel),
    ``ts``, ``available_at`` and the dataset's value columns. ``ts`` of the event is the
    pull time; every row has ``available_at <= ts``.
    """

    source: str
    table: pa.Table


@dataclass(frozen=True, slots=True, kw_only=True)
class MacroUpdated(DataReceived):
    """New macro observations (or revisions), e.g. FRED series."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FundamentalsUpdated(DataReceived):
    """New statement or ratio values, known from their filing (acceptance) time."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TextsReceived(DataReceived):
    """New news articles or social posts and comments, for sentiment scoring."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SentimentScored(Event):
    """New texts were scored; ``ts`` is when (the ``TextsReceived`` time).

    ``table``: one row per newly scored text, in the lake's ``sentiment`` schema
    (``docs/feeds.md``). ``symbols`` / ``score`` / ``count``: (N,) the linked symbols, the
    mean score of their new texts and how many. ``model`` names the scorer; ``duplicates``
    and ``skipped`` count texts not scored (seen before; empty).
    """

    source: str
    model: str
    table: pa.Table
    symbols: tuple[str, ...]
    score: np.ndarray
    count: np.ndarray
    duplicates: int
    skipped: int
