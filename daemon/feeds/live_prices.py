"""Live daily bars: Yahoo through the lake, handed out once per session as ``BarsClosed``.

Each pull fetches what is new (``daemon.feeds.pull``: rate limit, retries, breaker), the
lake stores it raw and point-in-time, and every session newer than the last one handed
out becomes one cross-sectional ``BarsClosed`` (NaN for a symbol without that session).
Splits and dividends whose ex-date has come are handed out as ``CorporateActionOccurred``
just before the first bar priced ex the action, so the broker and the strategy adjust
shares, cash and history exactly then. Only rows available by ``now`` are read back.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd

from core.events import BarsClosed, CorporateActionOccurred, freeze
from daemon.feeds.pull import pull
from daemon.feeds.yahoo import YahooSource
from state.lake import Lake

__all__ = ["LakePrices", "PricePullFailed"]


class PricePullFailed(RuntimeError):
    """The price source stored nothing; the message says why."""


class LakePrices:
    """The price feed of a live run on ``market.source = "yfinance"``."""

    exhausted = False  # live data does not run out

    def __init__(self, yahoo: YahooSource, lake: Lake, symbols: tuple[str, ...], *, start: date) -> None:
        self.source = "yfinance"
        self.symbols = symbols
        self._yahoo = yahoo
        self._lake = lake
        self._start = datetime.combine(start, datetime.min.time(), UTC)
        self._last: pd.Timestamp | None = None
        self._last_action: pd.Timestamp | None = None

    @property
    def last_bar_ts(self) -> datetime | None:
        return None if self._last is None else self._last.to_pydatetime()

    def seek_after(self, ts: datetime) -> None:
        """Resume: hand out only sessions (and corporate actions) after ``ts``."""
        self._last = pd.Timestamp(ts).tz_convert("UTC")
        self._last_action = self._last

    async def pull(self, now: datetime) -> list[BarsClosed | CorporateActionOccurred]:
        """Fetch, store, and return what is new: actions and sessions, in time order."""
        report = await pull(self._yahoo, self._lake, list(self.symbols), until=now, start=self._start)
        if report.error is not None:
            raise PricePullFailed(f"yahoo: {report.error}")
        bars = await asyncio.to_thread(self.read, now, after=self._last)
        actions = await asyncio.to_thread(self.actions, now, after=self._last_action)
        if bars:
            self._last = pd.Timestamp(bars[-1].ts)
        if actions:
            self._last_action = pd.Timestamp(actions[-1].ts)
        merged: list[BarsClosed | CorporateActionOccurred] = [*actions, *bars]
        merged.sort(key=lambda e: e.ts)  # stable: an action sorts before its ex-date's bar
        return merged

    def actions(self, now: datetime, *, after: pd.Timestamp | None) -> list[CorporateActionOccurred]:
        """Splits and dividends with an ex-date in (``after``, ``now``] known by ``now``."""
        frame = self._lake.read("corporate_actions", self.symbols, start=after, end=now, as_of=now)
        if after is not None:
            frame = frame[frame["ts"] > after]
        return [
            CorporateActionOccurred(
                ts=pd.Timestamp(row.ts).to_pydatetime(), symbol=str(row.symbol), action=str(row.action),
                value=float(row.value), source=self.source,
            )
            for row in frame.sort_values("ts").itertuples(index=False)
        ]

    def read(self, now: datetime, *, after: pd.Timestamp | None = None, last: int | None = None) -> list[BarsClosed]:
        """Sessions known at ``now`` (after ``after``; or only the ``last`` ones), oldest first."""
        frame = self._lake.read(
            "bars", self.symbols, start=after, end=now, as_of=now,
            columns=["open", "high", "low", "close", "volume"],
        )
        if after is not None:
            frame = frame[frame["ts"] > after]
        if frame.empty:
            return []
        sessions = sorted(frame["ts"].unique())
        if last is not None:
            sessions = sessions[-last:]
            frame = frame[frame["ts"].isin(sessions)]
        out = []
        for ts, rows in frame.groupby("ts", sort=True):
            rows = rows.set_index("symbol").reindex(list(self.symbols))
            stamp = pd.Timestamp(ts).to_pydatetime()
            known = pd.to_datetime(rows["available_at"].dropna(), utc=True)
            out.append(
                BarsClosed(
                    ts=stamp,
                    symbols=self.symbols,
                    open=freeze(rows["open"].to_numpy(np.float64)),
                    high=freeze(rows["high"].to_numpy(np.float64)),
                    low=freeze(rows["low"].to_numpy(np.float64)),
                    close=freeze(rows["close"].to_numpy(np.float64)),
                    volume=freeze(rows["volume"].to_numpy(np.float64)),
                    available_at=known.max().to_pydatetime() if len(known) else stamp,
                    source=self.source,
                )
            )
        return out

    def history(self, count: int, now: datetime) -> list[BarsClosed]:
        """The last ``count`` sessions known at ``now`` (strategy warm-up)."""
        return self.read(now, last=count)
