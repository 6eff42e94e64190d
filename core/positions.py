"""Position accounting: the one place where a fill or a corporate action changes a holding.

The broker (``brokers.account``), the ledger rebuilt after a restart (``state.store``)
and the recorder (``state.recorder``) all go through ``Position``, so they agree to the
last bit on quantity and average cost, with one tolerance (``QTY_EPS``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from core.events import Side

__all__ = ["QTY_EPS", "PendingOrder", "Position"]

QTY_EPS = 1e-9  # shares: a quantity closer to zero than this is flat


class Position(NamedTuple):
    """A holding: ``qty`` shares (long-only, so >= 0) bought at ``avg_price`` on average.

    Immutable; a ``NamedTuple`` because the broker builds a few per fill.
    """

    qty: float = 0.0
    avg_price: float = 0.0

    def apply_fill(self, qty: float, price: float) -> Position:
        """The holding after a fill of ``qty`` shares (signed: > 0 bought) at ``price``.

        A buy moves the average cost to the quantity-weighted mean; a sell keeps it. A
        holding sold down to within ``QTY_EPS`` of zero is flat (qty and cost 0).
        """
        new = self.qty + qty
        avg = self.avg_price
        if qty > 0:
            avg = (self.qty * avg + qty * price) / new
        elif abs(new) < QTY_EPS:
            new, avg = 0.0, 0.0
        return Position(new, avg)

    def apply_adjustment(self, action: str, value: float) -> tuple[Position, float]:
        """The holding after a corporate action, and the cash it pays.

        ``split`` (``value`` new shares per old share): shares multiplied, average cost
        divided, no cash. ``dividend`` (``value`` cash per share): shares unchanged,
        ``qty x value`` paid. ``delisting`` (``value`` the last price): the holding is
        sold at it, flat, ``qty x value`` paid. Raises ``ValueError`` on any other action.
        """
        if action == "split":
            return Position(self.qty * value, self.avg_price / value), 0.0
        if action == "dividend":
            return self, self.qty * value
        if action == "delisting":
            return Position(), self.qty * value
        raise ValueError(f"unknown corporate action {action!r} (expected 'split', 'dividend' or 'delisting')")


@dataclass(frozen=True, slots=True)
class PendingOrder:
    """An order submitted and not yet filled, cancelled or rejected (as the ledger has it).

    ``decision_ts``: the decision that placed it; ``side``: "buy" or "sell"; ``qty``: the
    size submitted; ``filled_qty``: how much of it has filled so far.
    """

    order_id: str
    decision_ts: datetime
    symbol: str
    side: Side
    qty: float
    filled_qty: float

    @property
    def remaining(self) -> float:
        return self.qty - self.filled_qty
