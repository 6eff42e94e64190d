"""Events: everything that happens in tradingd, as frozen, typed, past-tense facts.

Every event carries ``ts``, the (clock) time it describes. Array fields are read-only
numpy arrays aligned with the event's ``symbols``; ``freeze`` makes them so.

Market data is cross-sectional: one ``BarsClosed`` per timestamp carries the universe.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:  # annotations only: brokers and strategies need not import pyarrow
    import pyarrow as pa

# The closed vocabularies of event fields. Literals rather than enums: the values stay
# plain text in SQLite, JSON and the writer's pipe, and the writer process need not
# import this module to read them.
Side = Literal["buy", "sell"]
"""An order's direction."""
ActionKind = Literal["split", "dividend"]
"""A corporate action's kind."""
Bound = Literal["target_vol", "max_var", "max_cvar", "max_gross", "none"]
"""The risk limit that set a target's exposure (``none``: no limit bound)."""
RunMode = Literal["live", "backtest"]
"""How a run is driven: the daemon and one-off jobs (``live``) or a replay."""

__all__ = [
    "ActionKind",
    "BarsClosed",
    "Bound",
    "CheckpointPublished",
    "CorporateActionOccurred",
    "Event",
    "FeedExhausted",
    "ForecastReady",
    "FundamentalsUpdated",
    "JobFailed",
    "JobFinished",
    "MacroUpdated",
    "ModelRejected",
    "ModelSwapped",
    "OrderCancelled",
    "OrderFilled",
    "OrderRejected",
    "OrderSubmitted",
    "PortfolioMarked",
    "PositionAdjusted",
    "RiskAssessed",
    "RiskAssessment",
    "RunMode",
    "SentimentScored",
    "Side",
    "TargetWeightsSet",
    "TextsReceived",
    "freeze",
]


def freeze(values: object, dtype: type = np.float64) -> np.ndarray:
    """A read-only float array copy of ``values``; events must not be mutated by handlers."""
    array = np.array(values, dtype=dtype)
    array.flags.writeable = False
    return array


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of all events. ``ts``: the aware UTC time the event describes."""

    ts: datetime


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
class PositionAdjusted(Event):
    """The account applied a corporate action: shares and cash changed without a trade."""

    symbol: str
    reason: str
    qty_before: float
    qty_after: float
    avg_price: float
    cash_change: float


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


@dataclass(frozen=True, slots=True, kw_only=True)
class ForecastReady(Event):
    """A model's per-symbol forecast of forward returns, made at ``ts``.

    ``quantiles``: (N, Q) forecast return quantiles at ``levels`` (e.g. 0.1, 0.5, 0.9)
    over ``horizon`` trading days, rows aligned with ``symbols``. ``model`` names the
    checkpoint that made it.
    """

    symbols: tuple[str, ...]
    levels: tuple[float, ...]
    quantiles: np.ndarray
    horizon: int
    model: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskAssessment:
    """The risk numbers behind one target, as a strategy reports them.

    ``vol``: annualised forecast volatility of the final weights; ``var`` / ``cvar``:
    one-day loss fractions at ``confidence`` by ``var_method``; ``scale``: the exposure
    multiplier the limits applied; ``bound``: target_vol | max_var | max_cvar |
    max_gross | none; ``gross``: the sum of the weights. ``limits``: the limits in force
    by name (None: off); ``weights``: the final weight by symbol; ``diagnostics``: per
    symbol, named values (None where undefined); ``notes``: what was done, in words.
    """

    vol: float
    var: float
    cvar: float
    var_method: str
    confidence: float
    scale: float
    bound: Bound
    gross: float
    limits: Mapping[str, float | str | None]
    weights: Mapping[str, float]
    diagnostics: Mapping[str, Mapping[str, float | str | None]]
    notes: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskAssessed(Event):
    """Why a target looks as it does: the risk forecast and which limit bound.

    ``bar_ts``: the bar the decision was made on; ``assessment``: the numbers.
    """

    bar_ts: datetime
    strategy: str
    assessment: RiskAssessment


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetWeightsSet(Event):
    """A strategy decided the portfolio it wants; ``ts`` is the decision time.

    ``weights``: (N,) fractions of equity, aligned with ``symbols``; symbols held but not
    listed are targeted at zero. ``bar_ts`` is the bar the decision was made on.
    """

    symbols: tuple[str, ...]
    weights: np.ndarray
    strategy: str
    bar_ts: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderSubmitted(Event):
    """A market order was created. ``qty`` > 0; ``side`` is "buy" or "sell".

    ``order_id`` is deterministic: (run, decision time, symbol).
    """

    order_id: str
    symbol: str
    side: Side
    qty: float
    decision_ts: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderFilled(Event):
    """Part or all of an order traded. ``qty`` is signed (+ buy, - sell).

    ``price`` includes slippage and impact; ``fee`` is the commission charged;
    ``cost`` is what slippage and impact cost versus the bar price (>= 0, currency);
    ``bar_price`` is the price of the bar the fill used; ``remaining`` is what is left of
    the order; ``position`` / ``avg_price`` are the symbol's holding after the fill.
    """

    order_id: str
    fill_id: str
    symbol: str
    qty: float
    price: float
    fee: float
    cost: float
    bar_price: float
    remaining: float
    position: float
    avg_price: float


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderRejected(Event):
    """An order could not be placed or filled at all; ``reason`` says why.

    ``ts`` is when it was refused; ``decision_ts`` the decision that asked for it.
    """

    order_id: str
    symbol: str
    side: Side
    qty: float
    reason: str
    decision_ts: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderCancelled(Event):
    """The unfilled remainder ``qty`` (> 0) of an order was cancelled; ``reason`` says why."""

    order_id: str
    symbol: str
    qty: float
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PortfolioMarked(Event):
    """The portfolio was valued at ``ts``.

    ``equity == cash + sum(qty * prices)`` exactly as computed here; ``gross`` is
    ``sum(|qty * prices|)``; ``symbols``/``qty``/``prices``: (M,) the open positions and
    the prices they were marked at.
    """

    cash: float
    equity: float
    gross: float
    symbols: tuple[str, ...]
    qty: np.ndarray
    prices: np.ndarray


@dataclass(frozen=True, slots=True, kw_only=True)
class JobFinished(Event):
    """A scheduled job ran to completion; ``ts`` is when it finished.

    ``detail`` is a short human-readable outcome ("1 bar", "already decided this
    period"); ``routine`` marks runs that only did the everyday thing; ``skipped`` marks
    a run that refused to act (stale data) and says why in ``detail``.
    """

    job: str
    fired_at: datetime
    detail: str
    routine: bool = False
    skipped: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class JobFailed(Event):
    """A scheduled job raised; ``error`` is one line: exception type and message."""

    job: str
    fired_at: datetime
    error: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckpointPublished(Event):
    """A checkpoint was renamed into the registry (``path``; ``version`` is its folder name);
    ``retrain_id`` names the retrain that made it, empty when it came from elsewhere."""

    version: str
    path: str
    retrain_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelSwapped(Event):
    """``version`` now serves forecasts instead of ``previous`` (None: there was none).
    ``reason``: "validated", "operator" (a manual activation or rollback), "restart"."""

    version: str
    previous: str | None
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelRejected(Event):
    """Checkpoint ``version`` failed a check (``reason``, one line); the champion keeps
    serving."""

    version: str
    reason: str
