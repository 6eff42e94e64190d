"""The strategy interface and the two built-in allocators (``strategies.factory`` picks one).

A strategy is plain synchronous code: it reads a ``MarketView`` (the point-in-time data
the clock allows) and returns target weights (fractions of equity per symbol). It
overrides only the hooks it needs; ``strategies.runner`` calls them through one wrapper
that logs and contains exceptions, and decides *when* to ask (the rebalance calendar).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np
import pandas as pd

from core.events import BarsClosed, RiskAssessment
from strategies.view import MarketView

__all__ = ["HRP", "InverseVol", "Strategy", "Weights"]

Weights = Mapping[str, float] | pd.Series


class Strategy:
    """Base class. ``warmup_bars``: bars needed before the first decision.

    ``history_needs()`` declares the longest history each part of a decision reads; the
    run warms up with the maximum over every component, so a run starting on a date
    decides as that date inside a longer run would.
    """

    name: ClassVar[str] = "strategy"
    warmup_bars: int = 0
    # True: the `refit` job is scheduled and calls `after_decision` after each rebalance.
    refits_after_decision: bool = False

    def history_needs(self) -> dict[str, int]:
        """Bars of history each lookback of this strategy reads, by config key."""
        return {f"strategy.{self.name}": self.warmup_bars}

    def on_bars(self, bar: BarsClosed) -> None:
        """Called for every bar, before any rebalance that follows it. Optional."""

    def target_weights(self, view: MarketView) -> Weights | None:
        """Target fractions of equity by symbol; ``None`` means "no change now"."""
        raise NotImplementedError

    def last_assessment(self) -> RiskAssessment | None:
        """Risk numbers behind the last target, if the strategy has any."""
        return None

    def after_decision(self) -> str | None:
        """Estimation for the next decision, run by the ``refit`` job after a rebalance, off
        the decision's latency path; it may use only what the last decision saw. A one-line
        outcome, or None when there was nothing to do. Optional."""
        return None

    def close(self) -> None:
        """Release resources (worker processes) at the end of a run."""


class InverseVol(Strategy):
    """Weights proportional to 1 / trailing return std (floored), over complete windows.

    A symbol without ``lookback`` returns (not listed yet, gaps) gets no weight.
    """

    name = "inverse_vol"

    def __init__(self, lookback: int = 60, vol_floor: float = 1e-4) -> None:
        self.lookback = lookback
        self.vol_floor = vol_floor
        self.warmup_bars = lookback + 1

    def target_weights(self, view: MarketView) -> Weights | None:
        closes = view.close_matrix(self.lookback + 1)
        if len(closes) < self.lookback + 1:
            return None
        returns = closes[1:] / closes[:-1] - 1.0
        ok = np.isfinite(returns).all(axis=0)
        if not ok.any():
            return None
        inverse = 1.0 / np.maximum(returns[:, ok].std(axis=0, ddof=1), self.vol_floor)
        weights = inverse / inverse.sum()
        symbols = [s for s, keep in zip(view.symbols, ok.tolist(), strict=True) if keep]
        return dict(zip(symbols, weights.tolist(), strict=True))


class HRP(Strategy):
    """Hierarchical Risk Parity (pypfopt ``HRPOpt``) on trailing daily returns.

    Symbols with gaps in the window or no variance are left out of the tree.
    """

    name = "hrp"

    def __init__(self, lookback: int = 252, linkage: str = "single") -> None:
        self.lookback = lookback
        self.linkage = linkage
        self.warmup_bars = lookback + 1

    def target_weights(self, view: MarketView) -> Weights | None:
        from pypfopt import HRPOpt

        returns = view.returns(self.lookback)
        if len(returns) < self.lookback:
            return None
        usable = returns.columns[returns.notna().all() & (returns.std() > 0)]
        if len(usable) == 0:
            return None
        if len(usable) == 1:
            return {str(usable[0]): 1.0}
        weights = HRPOpt(returns=returns[usable]).optimize(linkage_method=self.linkage)
        return {str(s): float(w) for s, w in weights.items()}
