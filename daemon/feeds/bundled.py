"""Offline prices: real daily history bundled with skfolio and arch.

- ``skfolio_sp500``: 20 S&P 500 stocks, adjusted closes, 1990-01-02 .. 2022-12-28 (no
  open or volume: fills use the close).
- ``arch_indices``: the S&P 500 and NASDAQ Composite, OHLCV, 1999 .. 2018.

A bar describes the session's close (``market.close_time`` in ``market.timezone``) and
becomes available at that instant. ``pull(now)`` hands out, in order, every bar that is
available by ``now`` and was not handed out before, exactly like an incremental pull
from a live source; the same object serves the paced daemon and backtests.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import numpy as np
import pandas as pd

from core.events import BarsClosed

__all__ = ["SOURCES", "BundledPrices"]

SOURCES = ("skfolio_sp500", "arch_indices")


def _load(source: str) -> dict[str, pd.DataFrame]:
    """Wide frames (dates x symbols) for open/high/low/close/volume; missing fields absent."""
    if source == "skfolio_sp500":
        from skfolio.datasets import load_sp500_dataset

        return {"close": load_sp500_dataset().astype(float)}
    if source == "arch_indices":
        from arch.data import nasdaq, sp500

        frames = {"SP500": sp500.load(), "NASDAQ": nasdaq.load()}
        return {
            field: pd.DataFrame({s: f[field.capitalize()] for s, f in frames.items()}).astype(float)
            for field in ("open", "high", "low", "close", "volume")
        }
    raise ValueError(f"unknown bundled price source {source!r} (known: {', '.join(SOURCES)})")


class BundledPrices:
    """Bundled daily bars replayed through an incremental ``pull``."""

    def __init__(
        self,
        source: str,
        *,
        timezone: str,
        close_time: time,
        symbols: tuple[str, ...] = (),
        frames: dict[str, pd.DataFrame] | None = None,
    ) -> None:
        """``frames``: wide frames (sessions x symbols) to replay instead of loading the
        bundled ``source`` (the lake replay builds them; ``source`` then only names it)."""
        frames = _load(source) if frames is None else frames
        close = frames["close"].sort_index()
        if symbols:
            missing = [s for s in symbols if s not in close.columns]
            if missing:
                raise ValueError(
                    f"market.symbols: {', '.join(missing)} not in {source} (it has {', '.join(close.columns)})"
                )
            close = close[list(symbols)]
        self.source = source
        self.symbols: tuple[str, ...] = tuple(str(c) for c in close.columns)
        self.sessions: pd.DatetimeIndex = pd.DatetimeIndex(close.index).normalize()
        n = len(self.symbols)
        nan_row = np.full(n, np.nan)
        nan_row.flags.writeable = False

        def matrix(field: str) -> np.ndarray | None:
            frame = frames.get(field)
            if frame is None:
                return None
            values = frame.reindex(index=close.index, columns=list(self.symbols)).to_numpy(np.float64, copy=True)
            values.flags.writeable = False  # rows handed to events are read-only views
            return values

        self._close = matrix("close")
        self._ohlv = tuple(matrix(f) for f in ("open", "high", "low", "volume"))
        self._nan_row = nan_row
        local = (self.sessions + pd.Timedelta(hours=close_time.hour, minutes=close_time.minute)).tz_localize(
            timezone, ambiguous=True, nonexistent="shift_forward"
        )
        self.bar_times: list[datetime] = [t.to_pydatetime() for t in local.tz_convert(UTC)]
        self._epoch = np.array([t.timestamp() for t in self.bar_times])
        self._epoch_list: list[float] = self._epoch.tolist()  # scalar reads in pull()
        self._cursor = 0
        self._stop = len(self.bar_times)

    # -- window and position -------------------------------------------------------------

    def index_of(self, day: date, *, after: bool = False) -> int:
        """First session index on or after ``day`` (strictly after when ``after``)."""
        side = "right" if after else "left"
        return int(self.sessions.searchsorted(pd.Timestamp(day), side=side))

    def limit(self, start: int, stop: int) -> None:
        """Hand out only bars ``start <= i < stop`` from now on."""
        self._cursor = max(0, start)
        self._stop = min(stop, len(self.bar_times))

    def seek_after(self, ts: datetime) -> None:
        """Resume: the next bar handed out is the first one after ``ts``."""
        self._cursor = int(np.searchsorted(self._epoch, ts.timestamp(), side="right"))

    @property
    def cursor(self) -> int:
        return self._cursor

    @property
    def exhausted(self) -> bool:
        return self._cursor >= self._stop

    @property
    def last_bar_ts(self) -> datetime | None:
        return self.bar_times[self._cursor - 1] if self._cursor > 0 else None

    # -- bars ----------------------------------------------------------------------------

    def bar(self, i: int) -> BarsClosed:
        """The bar of session ``i`` as an event."""
        o, h, lo, v = self._ohlv
        nan = self._nan_row
        ts = self.bar_times[i]
        return BarsClosed(
            ts=ts,
            symbols=self.symbols,
            open=nan if o is None else o[i],
            high=nan if h is None else h[i],
            low=nan if lo is None else lo[i],
            close=self._close[i],
            volume=nan if v is None else v[i],
            available_at=ts,
            source=self.source,
        )

    async def pull(self, now: datetime) -> list[BarsClosed]:
        """Every not-yet-pulled bar available by ``now``, oldest first."""
        return self.take(now)

    def take(self, now: datetime) -> list[BarsClosed]:
        """``pull`` without the coroutine (the same cursor)."""
        limit = now.timestamp()
        epochs, stop = self._epoch_list, self._stop
        start = end = self._cursor
        while end < stop and epochs[end] <= limit:  # usually zero or one step
            end += 1
        if end == start:
            return []
        self._cursor = end
        return [self.bar(i) for i in range(start, end)]

    def closes(self) -> pd.DataFrame:
        """Every session's closes (bar time in UTC x symbols), for reports and benchmarks."""
        index = pd.DatetimeIndex(self.bar_times, name="ts")
        return pd.DataFrame(self._close, index=index, columns=list(self.symbols), copy=True)

    def history(self, start: int, stop: int) -> list[BarsClosed]:
        """Bars ``start <= i < stop`` without moving the cursor (strategy warm-up)."""
        return [self.bar(i) for i in range(max(0, start), min(stop, len(self.bar_times)))]
