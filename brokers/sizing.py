"""Order sizing: target weights to share quantities, and buys cut to fit the cash.

Pure functions of the broker config and plain numbers. Orders are sized at the decision
bar's close against equity marked at that close, in whole shares unless ``fractional``.
When buys (and their fees) cost more than the cash plus what the sells raise, every buy
shrinks by the same factor, so the target's proportions survive instead of starving
whichever symbol happens to come last.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from brokers.config import BrokerConfig
from brokers.fill_model import cash_flow, whole
from core.positions import QTY_EPS

__all__ = ["buy_scale", "order_qty", "usable"]


def usable(price: float) -> bool:
    """A price an order can be sized or filled at: finite and > 0."""
    return math.isfinite(price) and price > 0


def order_qty(config: BrokerConfig, *, weight: float, held: float, price: float, equity: float) -> float:
    """Signed shares to trade (> 0 buy) to hold ``weight`` of ``equity`` at ``price``;
    0 when the change is below a share's tolerance or ``min_order_value``."""
    want = whole(config, weight * equity / price)
    delta = want - held
    if abs(delta) < QTY_EPS or abs(delta) * price < config.min_order_value:
        return 0.0
    return delta


def buy_scale(
    config: BrokerConfig, cash: float, *, buys: Iterable[tuple[float, float]], sells: Iterable[tuple[float, float]] = ()
) -> float:
    """Factor (<= 1) by which every buy must shrink so that the buys and their fees fit
    ``cash`` plus what the sells raise, all at the given prices moved by the slippage.

    ``buys``, ``sells``: (unsigned qty, price) per order.
    """
    available = cash + cash_flow(config, ((-q, p) for q, p in sells))
    need = -cash_flow(config, buys)
    if need <= available or need <= 0:
        return 1.0
    return max(available, 0.0) / need
