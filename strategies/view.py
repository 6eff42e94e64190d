"""The point-in-time view of the market that strategies read.

``PriceHistory`` is built only from ``BarsClosed`` events the strategy has received, so
it cannot hold a bar from the future. ``MarketView`` adds the clock: every read is
"as of now", and asking for anything later than ``clock.now()`` raises
``LookAheadError`` instead of quietly returning data a live run could not have had.
"""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pandas as pd

from core.clock import Clock
from core.events import BarsClosed, ForecastReady, PortfolioMarked

__all__ = ["LookAheadError", "MarketView", "PriceHistory"]


class LookAheadError(LookupError):
    """A read asked for data later than the decision time, or inputs hold such data (the
    one look-ahead error: ``strategies.portfolio`` raises it too)."""


class PriceHistory:
    """Daily bars seen so far: ``(T, N)`` close and volume arrays, growing by events."""

    def __init__(self, capacity: int = 1024) -> None:
        self.symbols: tuple[str, ...] = ()
        self._col: dict[str, int] = {}
        self._n = 0
        self._last_ts = -math.inf  # epoch seconds of the newest bar
        self._ts = np.empty(capacity, dtype=np.float64)  # epoch seconds of bar ts
        self._avail = np.empty(capacity, dtype=np.float64)
        self._close = np.empty((capacity, 0))
        self._volume = np.empty((capacity, 0))

    def __len__(self) -> int:
        return self._n

    def append(self, bar: BarsClosed) -> None:
        """Add one cross-section; a bar older than the last one is refused."""
        ts = bar.ts.timestamp()
        if ts <= self._last_ts:
            raise ValueError(f"bar at {bar.ts} is not after the last bar seen")
        same = bar.symbols is self.symbols or bar.symbols == self.symbols
        if not same:
            self._align(bar.symbols)
            same = bar.symbols == self.symbols
        if self._n == len(self._ts):
            self._grow()
        i = self._n
        self._ts[i] = self._last_ts = ts
        self._avail[i] = ts if bar.available_at is bar.ts else bar.available_at.timestamp()
        if same:
            self._close[i] = bar.close
            self._volume[i] = bar.volume
        else:
            self._close[i] = np.nan
            self._volume[i] = np.nan
            cols = [self._col[s] for s in bar.symbols]
            self._close[i, cols] = bar.close
            self._volume[i, cols] = bar.volume
        self._n += 1

    def _align(self, symbols: tuple[str, ...]) -> None:
        new = [s for s in symbols if s not in self._col]
        if not new:
            return
        cap = len(self._ts)
        for s in new:
            self._col[s] = len(self._col)
        pad = np.full((cap, len(new)), np.nan)
        self._close = np.hstack([self._close, pad])
        self._volume = np.hstack([self._volume, pad.copy()])
        self.symbols = tuple(self._col)

    def _grow(self) -> None:
        cap = 2 * len(self._ts)
        for name in ("_ts", "_avail"):
            old = getattr(self, name)
            grown = np.empty(cap, dtype=old.dtype)
            grown[: len(old)] = old
            setattr(self, name, grown)
        for name in ("_close", "_volume"):
            old = getattr(self, name)
            grown = np.empty((cap, old.shape[1]))
            grown[: len(old)] = old
            setattr(self, name, grown)

    def adjust(self, symbol: str, before: float, factor: float) -> None:
        """Multiply ``symbol``'s closes before epoch ``before`` by ``factor`` (volumes by
        1 / factor): back-adjusting for a split or dividend known now, so returns across
        the ex-date are not a fake jump."""
        col = self._col.get(symbol)
        if col is None:
            return
        rows = int(np.searchsorted(self._ts[: self._n], before, side="left"))
        self._close[:rows, col] *= factor
        self._volume[:rows, col] /= factor

    def last_close(self, symbol: str) -> float:
        col = self._col.get(symbol)
        if col is None or self._n == 0:
            return float("nan")
        column = self._close[: self._n, col]
        finite = column[np.isfinite(column)]
        return float(finite[-1]) if len(finite) else float("nan")

    def rows_until(self, epoch: float) -> int:
        """How many rows were available at ``epoch`` (their ``available_at`` <= it)."""
        return int(np.searchsorted(self._avail[: self._n], epoch, side="right"))

    def arrays(self, stop: int, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The ``count`` rows before row ``stop``: (ts epoch (T,), close (T, N), volume (T, N)).

        Read-only views of the history (no copy): a strategy cannot rewrite what it saw."""
        lo = max(0, stop - count)
        views = self._ts[lo:stop], self._close[lo:stop], self._volume[lo:stop]
        for view in views:
            view.flags.writeable = False
        return views


class MarketView:
    """What a strategy may see at ``clock.now()``. Arrays it hands out are read-only."""

    def __init__(self, history: PriceHistory, clock: Clock) -> None:
        self._history = history
        self._clock = clock
        self._mark: PortfolioMarked | None = None
        self._forecast: ForecastReady | None = None

    # -- what the runner tells the view (from PortfolioMarked / ForecastReady) -----------

    def set_mark(self, mark: PortfolioMarked) -> None:
        self._mark = mark

    def set_forecast(self, forecast: ForecastReady) -> None:
        self._forecast = forecast

    def current_weights(self) -> pd.Series:
        """Weights held at the last mark (fraction of equity by symbol)."""
        mark = self._mark
        if mark is None or mark.equity <= 0:
            return pd.Series(dtype=float)
        return pd.Series(mark.qty * mark.prices / mark.equity, index=list(mark.symbols))

    def _current(self, *, vol: bool = False) -> ForecastReady | None:
        """The newest forecast (with vol quantiles, if ``vol``) if it was made by now and has
        not outlived its horizon (``vol_horizon`` for the vol): fewer than that many bars
        have become available since it was made (a forecast whose whole horizon has passed
        says nothing about the next one, e.g. when `infer` fails)."""
        f, now = self._forecast, self._clock.now()
        if f is None or f.ts > now or (vol and f.vol is None):
            return None
        horizon = f.vol_horizon if vol else f.horizon
        since = self._history.rows_until(now.timestamp()) - self._history.rows_until(f.ts.timestamp())
        return f if since < max(horizon, 1) else None

    def forecast_frame(self) -> pd.DataFrame | None:
        """The newest forecast made by now and within its ``horizon`` bars: index symbols,
        columns ``q10``, ``q50``, ``q90``..."""
        f = self._current()
        return None if f is None else _quantile_frame(f, f.quantiles)

    def vol_forecast_frame(self) -> pd.DataFrame | None:
        """The same forecast's realised-vol quantiles (daily units over its ``vol_horizon``),
        shaped like `forecast_frame`; None without one made by now and within its
        ``vol_horizon`` bars."""
        f = self._current(vol=True)
        return None if f is None else _quantile_frame(f, f.vol)

    @property
    def now(self) -> datetime:
        return self._clock.now()

    @property
    def symbols(self) -> tuple[str, ...]:
        return self._history.symbols

    def _stop(self, end: datetime | None) -> int:
        now = self._clock.now()
        if end is not None and end > now:
            raise LookAheadError(f"read up to {end.isoformat()} at decision time {now.isoformat()}")
        limit = (end or now).timestamp()
        stop = self._history.rows_until(now.timestamp())
        if end is not None:
            ts, _, _ = self._history.arrays(stop, stop)
            stop = int(np.searchsorted(ts, limit, side="right"))
        return stop

    def bars_available(self) -> int:
        """Number of bars known at the decision time."""
        return self._stop(None)

    def bar_times(self, count: int) -> np.ndarray:
        """Epoch seconds of the last ``count`` bars known now (oldest first)."""
        ts, _, _ = self._history.arrays(self._stop(None), count)
        return ts

    def close_matrix(self, count: int, *, end: datetime | None = None) -> np.ndarray:
        """The last ``count`` closes up to ``end`` (default now): ``(T, N)``, NaN gaps."""
        _, close, _ = self._history.arrays(self._stop(end), count)
        return close

    def closes(self, count: int, *, end: datetime | None = None) -> pd.DataFrame:
        """The last ``count`` closes as a DataFrame (index: UTC bar times, columns: symbols)."""
        ts, close, _ = self._history.arrays(self._stop(end), count)
        return pd.DataFrame(close, index=_bar_index(ts), columns=list(self.symbols), copy=True)

    def returns(self, count: int, *, end: datetime | None = None) -> pd.DataFrame:
        """The last ``count`` simple daily returns ``(T, N)`` (needs ``count + 1`` closes)."""
        ts, close, _ = self._history.arrays(self._stop(end), count + 1)
        with np.errstate(divide="ignore", invalid="ignore"):  # a zero close: inf, screened out later
            simple = close[1:] / close[:-1] - 1.0
        return pd.DataFrame(simple, index=_bar_index(ts[1:]), columns=list(self.symbols))

    def bar(self, ts: datetime) -> pd.Series:
        """Closes of the bar at ``ts``; a bar later than now raises ``LookAheadError``."""
        frame = self.closes(1, end=ts)
        if frame.empty or frame.index[-1] != pd.Timestamp(ts):
            raise KeyError(f"no bar at {ts.isoformat()}")
        return frame.iloc[-1]


def _quantile_frame(f: ForecastReady, values: np.ndarray) -> pd.DataFrame:
    """(N, Q) quantiles of `f`'s symbols: index symbols, columns ``q10``, ``q50``, ..."""
    return pd.DataFrame(values, index=list(f.symbols), columns=[f"q{round(level * 100):02d}" for level in f.levels])


def _bar_index(ts: np.ndarray) -> pd.DatetimeIndex:
    """Bar times (epoch seconds) as the UTC index of the view's frames."""
    return pd.DatetimeIndex(pd.to_datetime(ts, unit="s", utc=True), name="ts")
