"""The fill model: what an order costs and how much of it fills at one bar.

Pure functions of the broker config and plain numbers (no account, no bus, no clock),
plus ``ImpactWindow``, the trailing closes and volumes the impact estimate reads.

- Price: the bar price moved against the order by ``slippage_bps`` plus, when the bar
  has volume and ``impact_coef`` > 0, the square-root impact ``Y * sigma * sqrt(Q / ADV)``
  (sigma: std of the last ``impact_window`` daily returns, ADV: their mean volume).
- When a bar has volume, a fill is capped at ``participation`` x volume.
- Commission: ``max(min_commission, commission_bps x notional)``, rounded to the cent.
- Long-only and no leverage: a sell never exceeds the holding, a buy never spends cash
  the account does not have.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import NamedTuple

import numpy as np

from brokers.config import BrokerConfig
from core.positions import QTY_EPS

__all__ = ["Fill", "ImpactWindow", "affordable", "cash_flow", "commission", "fee", "fill", "whole"]


def commission(notional: float, bps: float, minimum: float) -> float:
    """Fee for one fill: ``max(minimum, bps/1e4 x |notional|)`` rounded half-up to cents."""
    raw = max(minimum, abs(notional) * bps / 1e4)
    return math.floor(raw * 100.0 + 0.5) / 100.0


def fee(config: BrokerConfig, notional: float) -> float:
    """The commission ``config`` charges on a fill of ``notional``."""
    return commission(notional, config.commission_bps, config.min_commission)


def whole(config: BrokerConfig, qty: float) -> float:
    """``qty`` rounded down to whole shares, unless the broker trades fractions."""
    return qty if config.fractional else float(math.floor(qty + QTY_EPS))


def cash_flow(config: BrokerConfig, legs: Iterable[tuple[float, float]]) -> float:
    """Cash that ``legs`` (signed qty, price) bring in (> 0) or cost (< 0), fees included.

    Each price is moved against its order by the slippage; the impact, which depends on
    the bar the order fills on, is not included.
    """
    slip = config.slippage_bps / 1e4
    total = 0.0
    for qty, price in legs:
        notional = abs(qty) * price * (1 + slip if qty > 0 else 1 - slip)
        total += (notional if qty < 0 else -notional) - fee(config, notional)
    return total


def affordable(config: BrokerConfig, cash: float, price: float) -> float:
    """Most shares buyable at ``price`` with ``cash``, commission included."""
    if cash <= 0:
        return 0.0
    qty = max(min(cash / (price * (1 + config.commission_bps / 1e4)), (cash - config.min_commission) / price), 0.0)
    if not config.fractional:
        qty = float(math.floor(qty + QTY_EPS))
        # The fee is rounded to the cent and may round up: step down until it fits.
        while qty > 0 and qty * price + fee(config, qty * price) > cash:
            qty -= 1.0
        return qty
    if qty * price + fee(config, qty * price) > cash:
        qty -= 0.01 / price
    return max(qty, 0.0)


class Fill(NamedTuple):
    """What one order gets at one bar: ``qty`` shares (unsigned; 0: nothing) at ``price``
    (after slippage and impact) for ``fee``; ``reason`` says why less than asked filled."""

    qty: float
    price: float
    fee: float
    reason: str | None


def fill(
    config: BrokerConfig,
    *,
    side: int,
    qty: float,
    held: float,
    cash: float,
    bar_price: float,
    volume: float,
    liquidity: tuple[float, float] | None = None,
    scale: float = 1.0,
) -> Fill:
    """Fill ``qty`` shares (``side`` +1 buy, -1 sell) at a bar priced ``bar_price`` with
    ``volume`` traded (NaN: unknown), holding ``held`` shares and ``cash``.

    ``scale`` < 1: the buys were cut pro rata to fit the cash. ``liquidity``: (sigma,
    ADV) for the impact, ``None`` when there is no estimate.
    """
    reason = None
    if scale < 1.0:
        qty = whole(config, qty * scale)
        reason = f"insufficient cash: buys scaled to {scale:.4%} of their size"
    if side < 0 and qty > held + QTY_EPS:
        qty, reason = max(held, 0.0), "sell exceeds holding (long-only)"
    if volume > 0 and math.isfinite(volume):  # NaN > 0 is False
        cap = config.participation * volume
        cap = cap if config.fractional else math.floor(cap + QTY_EPS)
        if qty > cap + QTY_EPS:
            qty, reason = cap, f"participation cap: {config.participation:.0%} of bar volume {volume:g}"
    move = config.slippage_bps / 1e4
    if config.impact_coef > 0 and liquidity is not None:
        sigma, adv = liquidity
        move += config.impact_coef * sigma * math.sqrt(qty / adv)
    price = bar_price * (1.0 + side * move)
    cost = fee(config, qty * price)
    if side > 0 and qty * price + cost > cash:
        most = affordable(config, cash, price)
        if qty > most + QTY_EPS:
            qty, reason = most, f"insufficient cash: {cash:.2f} available"
            cost = fee(config, qty * price)
    elif side < 0 and qty * price - cost + cash < 0:
        # A sell worth less than its (minimum) fee would overdraw the account.
        qty, reason = 0.0, f"insufficient cash: fee {cost:.2f} exceeds the proceeds and {cash:.2f} available"
    return Fill(qty, price, cost, reason)


class ImpactWindow:
    """The last ``size + 1`` bars' closes and volumes, by symbol, for the impact estimate.

    Bars are kept as they came (their arrays are read-only): a symbol added to the
    universe later simply has no history in the older bars, and the others keep theirs.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._bars: list[tuple[Mapping[str, int], np.ndarray, np.ndarray]] = []

    def push(self, index: Mapping[str, int], close: np.ndarray, volume: np.ndarray) -> None:
        """Add a bar: ``index`` maps a symbol to its position in ``close`` and ``volume``."""
        self._bars.append((index, close, volume))
        del self._bars[: -(self.size + 1)]

    def liquidity(self, symbol: str) -> tuple[float, float] | None:
        """(std of the daily returns, mean volume) of ``symbol`` over the window, or
        ``None`` with fewer than two returns or no volume."""
        if len(self._bars) < 3:
            return None
        closes = np.array([_at(close, index.get(symbol)) for index, close, _ in self._bars])
        volumes = np.array([_at(volume, index.get(symbol)) for index, _, volume in self._bars[1:]])
        returns = closes[1:] / closes[:-1] - 1.0
        returns = returns[np.isfinite(returns)]
        adv = float(np.nanmean(volumes)) if np.isfinite(volumes).any() else math.nan
        if len(returns) < 2 or not (math.isfinite(adv) and adv > 0):
            return None
        return float(returns.std(ddof=1)), adv


def _at(values: np.ndarray, j: int | None) -> float:
    return math.nan if j is None else float(values[j])
