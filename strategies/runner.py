"""Runs one strategy: feeds it bars, decides when it rebalances, checks what it returns.

The ``rebalance`` job calls ``StrategyRunner.decide()`` and publishes what it returns. A decision is due on the
first bar of a new period (day, ISO week, month, quarter in exchange time) or, after
downtime, on the first chance in a later period than the last decision. Hooks are called
through ``_call``, which logs a failure with context and raises ``StrategyError`` for the
job to record; nothing a strategy does can take the daemon down.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import structlog

from core.bus import EventBus
from core.clock import Clock
from core.events import (
    BarsClosed,
    CorporateActionOccurred,
    ForecastReady,
    PortfolioMarked,
    RiskAssessed,
    TargetWeightsSet,
    freeze,
)
from strategies.base import Strategy, Weights
from strategies.view import MarketView, PriceHistory

__all__ = ["StrategyError", "StrategyRunner", "period_key"]


class StrategyError(RuntimeError):
    """A strategy hook failed or returned weights that cannot be traded."""


def period_key(ts: datetime, frequency: str, zone: ZoneInfo) -> tuple[int, ...]:
    """The rebalance period a bar belongs to, in exchange time."""
    local = ts.astimezone(zone)
    if frequency == "daily":
        return (local.year, local.month, local.day)
    if frequency == "weekly":
        iso = local.isocalendar()
        return (iso.year, iso.week)
    if frequency == "monthly":
        return (local.year, local.month)
    if frequency == "quarterly":
        return (local.year, (local.month - 1) // 3)
    raise ValueError(f"unknown rebalance frequency {frequency!r}")


class StrategyRunner:
    """Owns a strategy's history and calendar; builds its ``TargetWeightsSet``."""

    def __init__(
        self,
        strategy: Strategy,
        *,
        clock: Clock,
        frequency: str,
        timezone: str,
        max_gross: float = 1.0,
        allow_short: bool = False,
    ) -> None:
        self.strategy = strategy
        self.history = PriceHistory()
        self.view = MarketView(self.history, clock)
        self._clock = clock
        self._frequency = frequency
        self._zone = ZoneInfo(timezone)
        self._max_gross = max_gross
        self._allow_short = allow_short
        self._last_key: tuple[int, ...] | None = None
        self._bar_key: tuple[int, ...] | None = None
        self._bar_ts: datetime | None = None
        self._bar_first_of_period = False
        self._delisted: set[str] = set()
        self._listed = _ListingCounter()
        # The base hook does nothing: skip calling it 8,000 times in a long replay.
        self._wants_bars = getattr(strategy.on_bars, "__func__", None) is not Strategy.on_bars
        self._log = structlog.get_logger(component="strategy", strategy=strategy.name)

    def attach(self, bus: EventBus) -> None:
        bus.subscribe(BarsClosed, self.on_bars, name=f"strategy:{self.strategy.name}")
        bus.subscribe(PortfolioMarked, self.on_marked, name=f"strategy:{self.strategy.name}:marks")
        bus.subscribe(ForecastReady, self.view.set_forecast, name=f"strategy:{self.strategy.name}:forecasts")
        bus.subscribe(CorporateActionOccurred, self.on_corporate_action, name=f"strategy:{self.strategy.name}:actions")

    def on_corporate_action(self, action: CorporateActionOccurred) -> None:
        """Back-adjust the history for an action known now (never before it is known); a
        delisted symbol gets no weight from then on."""
        if action.action == "delisting":
            self._delisted.add(action.symbol)
            return
        if action.action == "split" and action.value > 0:
            factor = 1.0 / action.value
        elif action.action == "dividend":
            last = self.history.last_close(action.symbol)
            if not (math.isfinite(last) and last > action.value > 0):
                return
            factor = 1.0 - action.value / last
        else:
            return
        self.history.adjust(action.symbol, action.ts.timestamp(), factor)

    def on_marked(self, mark: PortfolioMarked) -> None:
        """Keep the last mark; the view turns it into weights only when a strategy asks."""
        self.view.set_mark(mark)

    def on_bars(self, bar: BarsClosed) -> None:
        self.history.append(bar)
        self._listed.count(bar)
        # The period of each bar is fixed when it arrives; decide() only compares keys.
        key = period_key(bar.ts, self._frequency, self._zone)
        # The very first bar seen cannot be known to open its period.
        self._bar_first_of_period = self._bar_key is not None and key != self._bar_key
        self._bar_key = key
        self._bar_ts = bar.ts
        if self._wants_bars:
            self._call("on_bars", bar)

    @property
    def last_bar_ts(self) -> datetime | None:
        """Time of the newest bar received."""
        return self._bar_ts

    def warm_up(self, bars: list[BarsClosed]) -> None:
        """Feed history from before the run (not traded, not recorded)."""
        for bar in bars:
            self.on_bars(bar)

    def restore(self, last_decision_bar_ts: datetime | None) -> None:
        """After a restart: the bar the last recorded decision was made on."""
        if last_decision_bar_ts is not None:
            self._last_key = period_key(last_decision_bar_ts, self._frequency, self._zone)

    # -- the rebalance job ---------------------------------------------------------------

    def decide(self) -> tuple[list[RiskAssessed | TargetWeightsSet], str]:
        """Ask the strategy if a decision is due.

        Returns the events to publish (none, or an optional ``RiskAssessed`` then the
        ``TargetWeightsSet``) and a one-line outcome for the jobs table. Plain synchronous
        code: the daemon may run it in a worker thread.
        """
        view = self.view
        if self._bar_ts is None:
            return [], "no bars yet"
        if self._bar_ts > self._clock.now():
            raise StrategyError(f"bar at {self._bar_ts.isoformat()} is later than the clock")
        available = len(self.history)
        need = max(self.strategy.warmup_bars, 1)
        if available < need:
            return [], f"warming up ({available}/{need} bars)"
        key = self._bar_key
        if key == self._last_key:
            return [], "already decided this period"
        if not self._bar_first_of_period and self._last_key is None:
            return [], "waiting for the first bar of a period"
        last_bar = self._bar_ts
        weights = self._call("target_weights", view)
        if weights is None:
            return [], "strategy made no decision"
        symbols, values = self._validate(weights)
        values = self._tradable(symbols, values, need)
        now = self._clock.now()
        events: list[RiskAssessed | TargetWeightsSet] = []
        assessment = self._call("last_assessment")
        if assessment is not None:
            events.append(RiskAssessed(ts=now, bar_ts=last_bar, strategy=self.strategy.name, assessment=assessment))
        events.append(
            TargetWeightsSet(ts=now, symbols=symbols, weights=freeze(values), strategy=self.strategy.name, bar_ts=last_bar)
        )
        self._last_key = key
        detail = f"target set: {int((values > 0).sum())} positions, gross {values.sum():.4f}"
        if assessment is not None:
            detail += f", vol {assessment.vol:.2%}, bound {assessment.bound}"
        return events, detail

    def refit(self) -> str:
        """The ``refit`` job: the strategy's estimation after its last decision."""
        return self._call("after_decision") or "nothing to refit"

    # -- hooks and checks ----------------------------------------------------------------

    def _call(self, hook: str, *args: Any) -> Any:
        try:
            return getattr(self.strategy, hook)(*args)
        except Exception as exc:
            self._log.error(
                "strategy_hook_failed",
                hook=hook,
                at=self._clock.now().isoformat(),
                error=f"{type(exc).__name__}: {exc}",
                exc_info=exc,
            )
            raise StrategyError(f"{self.strategy.name}.{hook} failed: {type(exc).__name__}: {exc}") from exc

    def _tradable(self, symbols: tuple[str, ...], values: np.ndarray, need: int) -> np.ndarray:
        """No weight for a symbol with fewer priced bars than the warm-up (a late listing
        joins once it has them) or that was delisted."""
        seen = self._listed.totals()
        young = [k for k, s in enumerate(symbols) if values[k] != 0 and seen.get(s, 0) < need]
        gone = [k for k, s in enumerate(symbols) if values[k] != 0 and s in self._delisted]
        if not (young or gone):
            return values
        out = values.copy()
        out[young + gone] = 0.0
        self._log.info(
            "symbols_without_weight", warming_up=[symbols[k] for k in young], delisted=[symbols[k] for k in gone],
            need_bars=need,
        )
        return out

    def _validate(self, weights: Weights) -> tuple[tuple[str, ...], np.ndarray]:
        if isinstance(weights, pd.Series):
            names = [str(s) for s in weights.index]
            values = weights.to_numpy(dtype=np.float64, copy=True)
        else:
            names = [str(s) for s in weights]
            values = np.fromiter(weights.values(), dtype=np.float64, count=len(names))
        known = self.history.symbols
        unknown = [s for s in names if s not in known]
        if unknown:
            raise StrategyError(f"{self.strategy.name}: weights for unknown symbols {unknown}")
        bad = ~np.isfinite(values)
        if bad.any():
            raise StrategyError(f"{self.strategy.name}: non-finite weight for {[n for n, b in zip(names, bad, strict=True) if b]}")
        if not self._allow_short and (values < 0).any():
            negative = [n for n, v in zip(names, values, strict=True) if v < 0]
            raise StrategyError(f"{self.strategy.name}: negative weight for {negative} (long-only)")
        gross = float(np.abs(values).sum())
        if gross > self._max_gross + 1e-12:
            self._log.warning("weights_scaled_to_max_gross", gross=gross, max_gross=self._max_gross)
            values = values * (self._max_gross / gross)
        return tuple(names), values


class _ListingCounter:
    """Priced bars seen per symbol (a positive, finite close), counted in arrays while the
    bars' symbol tuple stays the same."""

    def __init__(self) -> None:
        self._totals: dict[str, int] = {}
        self._symbols: tuple[str, ...] = ()
        self._counts = np.zeros(0, dtype=np.int64)

    def count(self, bar: BarsClosed) -> None:
        if bar.symbols is not self._symbols:
            self._fold()
            self._symbols = bar.symbols
            self._counts = np.zeros(len(bar.symbols), dtype=np.int64)
        self._counts += bar.close > 0  # NaN compares False

    def _fold(self) -> None:
        for symbol, n in zip(self._symbols, self._counts.tolist(), strict=True):
            self._totals[symbol] = self._totals.get(symbol, 0) + n
        self._counts[:] = 0

    def totals(self) -> dict[str, int]:
        self._fold()
        return dict(self._totals)
