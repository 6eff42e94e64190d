"""Decisions and their execution: forecasts, risk, targets, orders, fills and marks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from core.events.base import Bound, Event, Side

__all__ = [
    "ForecastReady",
    "OrderCancelled",
    "OrderFilled",
    "OrderRejected",
    "OrderSubmitted",
    "PortfolioMarked",
    "PositionAdjusted",
    "RiskAssessed",
    "RiskAssessment",
    "TargetWeightsSet",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class ForecastReady(Event):
    """A model's per-symbol forecast of forward returns, made at ``ts``.

    ``quantiles``: (N, Q) forecast return quantiles at ``levels`` (e.g. 0.1, 0.5, 0.9)
    over ``horizon`` trading days, rows aligned with ``symbols``. ``model`` names the
    checkpoint that made it. ``vol``: (N, Q) quantiles at the same ``levels`` of each
    symbol's realised volatility over the next ``vol_horizon`` trading days, in daily units
    (the model's ``rv_<h>`` target: sqrt of the mean squared daily log return; NaN where
    not forecast), or None when the model has no volatility target.
    """

    symbols: tuple[str, ...]
    levels: tuple[float, ...]
    quantiles: np.ndarray
    horizon: int
    model: str
    vol: np.ndarray | None = None
    vol_horizon: int = 0


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
class PositionAdjusted(Event):
    """The account applied a corporate action: shares and cash changed without a trade."""

    symbol: str
    reason: str
    qty_before: float
    qty_after: float
    avg_price: float
    cash_change: float


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
