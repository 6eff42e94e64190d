"""The account of one run: cash, holdings, average costs and the last usable prices.

Holdings live in columns, one per symbol ever seen, so marking is one dot product.
Every change to a holding goes through ``core.positions.Position`` (the one position
accounting). The account owns its caches: ``_grow`` (a wider account) and ``_changed``
(a holding changed) are the only places that drop them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from core.positions import Position

__all__ = ["Account", "Layout"]


@dataclass(frozen=True, slots=True)
class Layout:
    """Where a tuple of symbols (a bar's, a target's) sits in the account.

    ``cols``: (N,) account column of each symbol; ``index``: symbol -> position in the
    tuple; ``identity``: the tuple is exactly the account's columns, in order.
    """

    cols: np.ndarray
    index: Mapping[str, int]
    identity: bool


@dataclass(frozen=True, slots=True)
class Held:
    """What a mark needs: the held symbols, their columns and their (read-only) shares."""

    symbols: tuple[str, ...]
    cols: np.ndarray
    qty: np.ndarray


class Account:
    """Cash and long holdings by symbol; ``price`` is the last usable close (0 before one)."""

    def __init__(self, cash: float) -> None:
        self.cash = float(cash)
        self._col: dict[str, int] = {}
        self.qty = np.zeros(0)
        self.avg = np.zeros(0)
        self.price = np.zeros(0)
        self._layouts: dict[tuple[str, ...], Layout] = {}
        self._last: tuple[tuple[str, ...] | None, Layout | None] = (None, None)
        self._held: Held | None = None

    # -- columns -------------------------------------------------------------------------

    def layout(self, symbols: tuple[str, ...]) -> Layout:
        """The columns of ``symbols``, adding the ones the account has not seen.

        Feeds reuse one tuple for every bar, so an identity check finds the last one.
        """
        last_symbols, last = self._last
        if symbols is last_symbols and last is not None:
            return last
        layout = self._layouts.get(symbols)
        if layout is None:
            new = [s for s in dict.fromkeys(symbols) if s not in self._col]
            if new:
                self._grow(new)
            cols = np.array([self._col[s] for s in symbols], dtype=np.intp)
            identity = len(cols) == len(self._col) and bool((cols == np.arange(len(cols))).all())
            layout = self._layouts[symbols] = Layout(cols, {s: j for j, s in enumerate(symbols)}, identity)
        self._last = (symbols, layout)
        return layout

    def _grow(self, symbols: list[str]) -> None:
        for s in symbols:
            self._col[s] = len(self._col)
        pad = np.zeros(len(symbols))
        self.qty = np.concatenate([self.qty, pad])
        self.avg = np.concatenate([self.avg, pad])
        self.price = np.concatenate([self.price, pad])
        # Columns of known symbols never move, but "identity" and the held cache might
        # no longer hold for a wider account.
        self._layouts.clear()
        self._last = (None, None)
        self._held = None

    def _changed(self) -> None:
        """A holding changed: the next mark recomputes what is held."""
        self._held = None

    def has(self, symbol: str) -> bool:
        return symbol in self._col

    def column(self, symbol: str) -> int:
        return self._col[symbol]

    def symbols(self) -> list[str]:
        """Every symbol with a column, in column order."""
        return list(self._col)

    # -- prices --------------------------------------------------------------------------

    def learn_prices(self, layout: Layout, close: np.ndarray) -> None:
        """Remember the usable closes of a bar; a missing one (NaN, <= 0) keeps the last."""
        usable = close > 0  # False for NaN too
        if layout.identity and len(layout.cols) == len(self.price):
            np.copyto(self.price, close, where=usable)
        else:
            self.price[layout.cols[usable]] = close[usable]

    # -- holdings ------------------------------------------------------------------------

    def position(self, symbol: str) -> Position:
        i = self._col[symbol]
        return Position(self.qty.item(i), self.avg.item(i))

    def apply_fill(self, symbol: str, qty: float, price: float, fee: float) -> Position:
        """Book a fill of ``qty`` shares (signed) at ``price`` plus ``fee``."""
        i = self._col[symbol]
        after = Position(self.qty.item(i), self.avg.item(i)).apply_fill(qty, price)
        self.cash -= qty * price + fee
        self.qty[i], self.avg[i] = after.qty, after.avg_price
        self._changed()
        return after

    def apply_adjustment(self, symbol: str, action: str, value: float) -> tuple[Position, Position, float]:
        """Book a corporate action: (position before, after, cash paid). A split also
        divides the last price, so the holding's value does not jump; a delisting sets it
        to the price the holding was sold at."""
        i = self._col[symbol]
        before = Position(self.qty.item(i), self.avg.item(i))
        after, cash = before.apply_adjustment(action, value)
        if action == "split":
            self.price[i] /= value
        elif action == "delisting":
            self.price[i] = value  # sold at it; the last price it ever had
        self.qty[i], self.avg[i] = after.qty, after.avg_price
        self.cash += cash
        self._changed()
        return before, after, cash

    def restore(self, cash: float, positions: Mapping[str, Position]) -> None:
        """Set cash and holdings (after a restart)."""
        self.cash = float(cash)
        self.layout(tuple(positions))
        for symbol, position in positions.items():
            i = self._col[symbol]
            self.qty[i], self.avg[i] = position.qty, position.avg_price
        self._changed()

    # -- marks ---------------------------------------------------------------------------

    def equity(self) -> float:
        return self.cash + float(self.qty @ self.price)

    def positions(self) -> dict[str, float]:
        return {s: float(self.qty[i]) for s, i in self._col.items() if self.qty[i] != 0}

    def held(self) -> Held:
        """The held symbols and their shares (cached until a holding changes)."""
        held = self._held
        if held is None:
            mask = self.qty != 0
            cols = np.flatnonzero(mask)
            qty = self.qty[cols]  # fancy indexing copies: safe to share read-only until it changes
            qty.setflags(write=False)
            held = self._held = Held(tuple(np.asarray(list(self._col))[mask]), cols, qty)
        return held
