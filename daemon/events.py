"""Events: everything that happens in tradingd, as frozen, typed, past-tense facts.

Every event carries ``ts``, the (clock) time it describes. Array fields are read-only
numpy arrays aligned with the event's ``symbols``; ``freeze`` makes them so.

Market data is cross-sectional: one ``BarsClosed`` per timestamp carries the universe.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa

__all__ = [
    "BarsClosed",
    "CorporateActionOccurred",
    "Event",
    "FeedExhausted",
    "ForecastReady",
    "FundamentalsUpdated",
    "JobFailed",
    "JobFinished",
    "MacroUpdated",
    "OrderCancelled",
    "OrderFilled",
    "OrderRejected",
    "OrderSubmitted",
    "PortfolioMarked",
    "PositionAdjusted",
    "RiskAssessed",
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
    """Base of all events. ``ts``: the aware UTC time the event describes.

    ``make(**fields)`` builds an event like the class call does; tradingd's own event
    types get a faster one (``_fast_constructors`` below), other subclasses call the class.
    """

    ts: datetime

    def __init_subclass__(cls) -> None:  # no super(): slots=True rebuilds the class

        def make(**fields: Any) -> Event:
            return cls(**fields)

        cls.make = staticmethod(make)  # type: ignore[attr-defined]


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
    action: str
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
class RiskAssessed(Event):
    """Why a target looks as it does: the risk forecast and which limit bound.

    ``vol``: annualised forecast volatility of the final weights; ``var`` / ``cvar``:
    one-day loss fractions at ``confidence`` by ``var_method``; ``scale``: the exposure
    multiplier the limits applied; ``bound``: target_vol | max_var | max_cvar |
    max_gross | none. ``weights``/``diagnostics``/``notes``/``limits`` are JSON text.
    """

    bar_ts: datetime
    strategy: str
    vol: float
    var: float
    cvar: float
    var_method: str
    confidence: float
    scale: float
    bound: str
    gross: float
    limits: str
    weights: str
    diagnostics: str
    notes: str


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
    side: str
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
    side: str
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


def _fast_constructors(cls: type) -> None:
    """Give a frozen slots dataclass a faster ``__init__`` and a ``make`` constructor.

    Both store each field through its slot descriptor instead of ``object.__setattr__``
    by name; same signature (keyword-only, same defaults), same frozen result.
    ``cls.make(...)`` also skips ``type.__call__``, which packs the keywords into a dict
    for ``__init__``: the hot producers (bars, marks, orders, fills) use it. Building an
    ``OrderFilled`` takes 0.9 us this way against 2.7 us for the dataclass's own
    ``__init__`` (bench/RESULTS.md, W1).
    """
    fields = dataclasses.fields(cls)
    params, body, scope = [], [], {"_object_new": object.__new__, "_cls": cls}
    for f in fields:
        if f.default is not dataclasses.MISSING:
            scope[f"_d_{f.name}"] = f.default
            params.append(f"{f.name}=_d_{f.name}")
        elif f.default_factory is not dataclasses.MISSING:  # pragma: no cover - none today
            return
        else:
            params.append(f.name)
        owner = next(k for k in cls.__mro__ if f.name in k.__dict__)
        scope[f"_set_{f.name}"] = owner.__dict__[f.name].__set__
        body.append(f"    _set_{f.name}(self, {f.name})")
    signature = ", ".join(params)
    source = (
        f"def __init__(self, *, {signature}):\n" + "\n".join(body) + "\n\n"
        f"def make(*, {signature}):\n    self = _object_new(_cls)\n" + "\n".join(body) + "\n    return self\n"
    )
    exec(source, scope)  # noqa: S102 - generated from the dataclass's own field names
    init, make = scope["__init__"], scope["make"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = cls.__init__.__doc__
    make.__qualname__ = f"{cls.__qualname__}.make"
    make.__doc__ = f"Build a {cls.__name__} (same keywords as the class; cheaper on hot paths)."
    cls.__init__ = init
    cls.make = staticmethod(make)


for _cls in [c for c in globals().values() if isinstance(c, type) and issubclass(c, Event)]:
    _fast_constructors(_cls)
del _cls
