"""``market.source = "lake"``: replaying your own history from the lake, point in time.

The bars of ``market.symbols`` (every symbol in the lake when empty) become one wide
table over the union of their sessions (a local date in ``market.timezone``); a symbol
without a bar on a session is NaN there, so it is not traded that day and the broker
marks it at its last price. Each session is handed out once every row of it is known
(its ``available_at``), with each row's first vintage: a revision imported later is not
known to a replay of the days before it, exactly as the live feed never re-reads a bar it
has handed out.

Corporate actions from the lake reach the broker and the strategy as
``CorporateActionOccurred`` on their ex-dates (before that session's bar), as on the live
path. A symbol whose bars end while the calendar goes on is delisted: on its first
missing session a ``CorporateActionOccurred(action="delisting", value=last close)`` sells
any holding at that price. The warm-up bars before the window are back-adjusted for the
actions known by then, as the strategy's history would be had it seen them live.
"""

from __future__ import annotations

from datetime import datetime, time

import numpy as np
import pandas as pd
import structlog

from core.events import BarsClosed, CorporateActionOccurred, freeze
from daemon.feeds.bundled import BundledPrices
from state.lake import Lake, adjustment_factors

__all__ = ["LakeReplayPrices"]

_FIELDS = ("open", "high", "low", "close", "volume")
_log = structlog.get_logger(component="feeds.lake")


class LakeReplayPrices(BundledPrices):
    """Bars, corporate actions and delistings from the lake, through ``pull``/``take``."""

    def __init__(
        self,
        lake: Lake,
        *,
        timezone: str,
        close_time: time,
        symbols: tuple[str, ...] = (),
        as_of: datetime,
        benchmark: str | None = None,
    ) -> None:
        """``symbols``: the universe (empty: every symbol with bars, except ``benchmark``)."""
        stored = lake.symbols("bars")
        if not stored:
            raise ValueError(f"market.source = 'lake': no bars in {lake.root} (load some: tradingd data import FILES)")
        symbols = tuple(symbols) or tuple(s for s in stored if s != benchmark)
        if not symbols:
            raise ValueError(f"market.symbols: nothing to trade in {lake.root} besides the benchmark {benchmark!r}")
        if missing := [s for s in symbols if s not in stored]:
            raise ValueError(f"market.symbols: {', '.join(missing)} not in the lake at {lake.root} (it has {', '.join(stored)})")
        rows = lake.read("bars", symbols, as_of=as_of, vintages="all", columns=list(_FIELDS))
        rows = rows.sort_values(["symbol", "ts", "available_at"], kind="stable").drop_duplicates(["symbol", "ts"])
        rows["session"] = rows["ts"].dt.tz_convert(timezone).dt.tz_localize(None).dt.normalize()
        rows = rows.drop_duplicates(["symbol", "session"], keep="last")
        wide = rows.set_index(["session", "symbol"])[list(_FIELDS)].unstack("symbol")  # one reshape for all fields
        frames = {f: wide[f].reindex(columns=list(symbols)) for f in _FIELDS}
        super().__init__("lake", timezone=timezone, close_time=close_time, symbols=symbols, frames=frames)
        known = rows.groupby("session")["available_at"].max().reindex(self.sessions)
        release = np.maximum(self._epoch, known.map(lambda t: t.timestamp()).to_numpy(np.float64))
        self._epoch_list = np.maximum.accumulate(release).tolist()  # when each session can be pulled
        self._zone = timezone
        self._actions = self._action_events(lake, symbols, as_of, timezone)
        self._action_cursor = 0
        self._past_delistings: list[CorporateActionOccurred] = []

    # -- corporate actions and delistings --------------------------------------------------

    def _action_events(self, lake: Lake, symbols: tuple[str, ...], as_of: datetime, zone: str) -> list[tuple[float, CorporateActionOccurred]]:
        """(release epoch, event), sorted: lake actions and inferred delistings."""
        frame = lake.read("corporate_actions", symbols, as_of=as_of)
        events = [
            (max(row.ts, row.available_at).timestamp(), CorporateActionOccurred(
                ts=row.ts.to_pydatetime(), symbol=str(row.symbol), action=str(row.action),
                value=float(row.value), source="lake",
            ))
            for row in frame.itertuples(index=False)
        ]
        finite = np.isfinite(self._close)
        for j, symbol in enumerate(self.symbols):
            listed = np.flatnonzero(finite[:, j])
            if len(listed) and listed[-1] < len(self.sessions) - 1:
                after = listed[-1] + 1
                ts = pd.Timestamp(self.sessions[after]).tz_localize(zone).tz_convert("UTC").to_pydatetime()
                events.append((ts.timestamp(), CorporateActionOccurred(
                    ts=ts, symbol=symbol, action="delisting", value=float(self._close[listed[-1], j]), source="lake",
                )))
        events.sort(key=lambda pair: pair[0])
        return events

    def limit(self, start: int, stop: int) -> None:
        super().limit(start, stop)
        self._skip_actions_until(self.bar_times[start - 1].timestamp() if start > 0 else -np.inf)

    def seek_after(self, ts: datetime) -> None:
        super().seek_after(ts)
        self._skip_actions_until(ts.timestamp())

    def _skip_actions_until(self, epoch: float) -> None:
        """Start after ``epoch``; delistings before it are handed out again with the next
        pull, so a run that starts (or resumes) later still never trades those symbols
        (the broker holds none of them by then, so they move no cash)."""
        self._action_cursor = int(np.searchsorted([e for e, _ in self._actions], epoch, side="right"))
        self._past_delistings = [e for _, e in self._actions[: self._action_cursor] if e.action == "delisting"]

    # -- bars ------------------------------------------------------------------------------

    def take(self, now: datetime) -> list[BarsClosed | CorporateActionOccurred]:  # type: ignore[override]
        """Actions whose ex-date has come, then the sessions known by ``now``, in time order."""
        bars = super().take(now)
        if self._past_delistings:
            bars = [*self._past_delistings, *bars]  # type: ignore[list-item]
            self._past_delistings = []
        last_bar = self._epoch_list[self._stop - 1] if self._stop else -np.inf
        limit, actions, k = min(now.timestamp(), last_bar), self._actions, self._action_cursor  # none after the window
        if k >= len(actions) or actions[k][0] > limit:
            return bars  # type: ignore[return-value]
        due = []
        while k < len(actions) and actions[k][0] <= limit:
            due.append(actions[k][1])
            k += 1
        self._action_cursor = k
        for event in due:
            if event.action == "delisting":
                _log.info("symbol_delisted", symbol=event.symbol, last_price=event.value, at=event.ts.isoformat())
        merged: list[BarsClosed | CorporateActionOccurred] = [*due, *bars]
        merged.sort(key=lambda e: e.ts)  # stable: an action sorts before its ex-date's bar
        return merged

    def history(self, start: int, stop: int) -> list[BarsClosed]:
        """Warm-up bars, back-adjusted for the splits and dividends known at the last one."""
        bars = super().history(start, stop)
        if not bars:
            return bars
        cutoff = bars[-1].ts.timestamp()
        known = [e for epoch, e in self._actions if epoch <= cutoff and e.action in ("split", "dividend")]
        if not known:
            return bars
        ts = np.array([b.ts.timestamp() for b in bars])
        close = np.array([b.close for b in bars])
        price = np.ones_like(close)
        volume = np.ones_like(close)
        for j, symbol in enumerate(self.symbols):
            mine = [e for e in known if e.symbol == symbol]
            if not mine:
                continue
            split = [e for e in mine if e.action == "split"]
            dividend = [e for e in mine if e.action == "dividend"]
            price[:, j], volume[:, j] = adjustment_factors(
                ts, np.nan_to_num(close[:, j], nan=0.0),
                np.array([e.ts.timestamp() for e in split]), np.array([e.value for e in split]),
                np.array([e.ts.timestamp() for e in dividend]), np.array([e.value for e in dividend]),
            )
        return [
            BarsClosed(
                ts=b.ts, symbols=b.symbols, open=freeze(b.open * price[k]), high=freeze(b.high * price[k]),
                low=freeze(b.low * price[k]), close=freeze(b.close * price[k]), volume=freeze(b.volume * volume[k]),
                available_at=b.available_at, source=b.source,
            )
            for k, b in enumerate(bars)
        ]
