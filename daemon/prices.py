"""The price source of a run: bundled or lake replay, or live Yahoo bars through the lake.

Each builder decides the feed, the clock, the run's window and the warm-up bars together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from core.clock import Clock, LiveClock, PacedClock, ReplayClock
from core.events import BarsClosed
from daemon.config import Config, InputError
from daemon.feeds.bundled import BundledPrices
from daemon.feeds.lake_replay import LakeReplayPrices
from daemon.feeds.live_prices import LakePrices
from daemon.feeds.resilience import Guard
from daemon.feeds.yahoo import YahooSource
from state.lake import Lake

__all__ = ["RunPrices", "bundled_prices", "session_midnights", "yahoo_prices"]


def session_midnights(prices: BundledPrices, timezone: str) -> list[datetime]:
    """Midnight (exchange time) of every session of ``prices``, as UTC."""
    local = prices.sessions.tz_localize(timezone, ambiguous=True, nonexistent="shift_forward")
    return [t.to_pydatetime() for t in local.tz_convert(UTC)]


@dataclass
class RunPrices:
    """What the price source decides about a run: feed, clock, window, warm-up bars."""

    feed: BundledPrices | LakePrices
    clock: Clock
    window: tuple[datetime, datetime | None]
    history: list[BarsClosed]



def bundled_prices(
    config: Config, *, start: date | None, end: date | None, warmup: int, history: int, live: bool,
    resume_after: datetime | None, pace_wall_start: float | None, first_decision: int = 1,
) -> RunPrices:
    """A replay of bundled (or lake) history: the window, a replay or paced clock, warm-up bars."""
    market = config.market
    try:
        if market.source == "lake":
            prices: BundledPrices = LakeReplayPrices(
                Lake(Path(config.run.data_dir) / "lake"), timezone=market.timezone, close_time=market.close_time,
                symbols=market.symbols, as_of=datetime.now(UTC), benchmark=market.benchmark,
            )
        else:
            prices = BundledPrices(
                market.source, timezone=market.timezone, close_time=market.close_time, symbols=market.symbols
            )
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    first = start or market.replay_start
    # Without a start date the run starts on the first day a decision is possible.
    i0 = max(prices.index_of(first) if first else first_decision, 0)
    last = end or market.replay_end
    i1 = prices.index_of(last, after=True) if last else len(prices.sessions)
    if i0 >= i1:
        raise InputError(
            f"empty window: no {market.source} sessions between {first} and {last} "
            f"(data covers {prices.sessions[0].date()} .. {prices.sessions[-1].date()})"
        )
    cursor = i0
    if resume_after is not None:
        prices.seek_after(resume_after)
        cursor = prices.cursor
    prices.limit(cursor, i1)
    midnights = session_midnights(prices, market.timezone)
    sim_start = midnights[min(cursor, len(midnights) - 1)]
    clock: Clock = (
        PacedClock(midnights, market.pace_per_s, sim_start, wall_start=pace_wall_start)
        if live
        else ReplayClock(sim_start)
    )
    return RunPrices(prices, clock, (prices.bar_times[i0], prices.bar_times[i1 - 1]), prices.history(cursor - history, cursor))


def yahoo_prices(config: Config, *, history: int, live: bool, resume_after: datetime | None) -> RunPrices:
    """Live Yahoo bars through the lake on the wall clock; the lake's last bars warm up."""
    if not live:
        raise InputError(
            "market.source = 'yfinance' is live only: backtests replay bundled history "
            "(market.source = 'skfolio_sp500' or 'arch_indices')"
        )
    feeds = config.feeds
    yahoo = YahooSource(
        feeds.yahoo,
        Guard.from_config("yahoo", feeds.yahoo),
        zone=ZoneInfo(config.market.timezone),
        close_time=config.market.close_time,
    )
    feed = LakePrices(yahoo, Lake(Path(config.run.data_dir) / "lake"), config.market.symbols, start=feeds.yahoo.history_start)
    clock = LiveClock()
    bars = feed.history(history, clock.now())
    if resume_after is not None:
        feed.seek_after(resume_after)
    elif bars:
        feed.seek_after(bars[-1].ts)  # bars already in the lake were seen by the warm-up
    return RunPrices(feed, clock, (clock.now(), None), bars)

