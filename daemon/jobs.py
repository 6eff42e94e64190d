"""Scheduled jobs: what runs on a cron spec, and the runner that records each run.

A job is an async function of a ``JobContext`` returning a ``JobOutcome``. The same
functions run in the live daemon (fired by APScheduler) and in backtests (fired by the
replay driver against the replay clock). ``JobRunner.fire`` contains failures: a job that
raises is logged, recorded as ``JobFailed`` and the daemon goes on.

The live daemon records every run in the ``jobs`` table. A backtest records failures and
the runs that did something beyond routine (a rebalance that set a target): 33 years of
daily "1 bar" and "no decision today" rows would bury the ones that matter, and the
``equity`` table already has one row per bar.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import structlog

from core.bus import EventBus
from core.clock import Clock
from core.events import BarsClosed, Event, FeedExhausted, JobFailed, JobFinished
from daemon.feeds.bundled import BundledPrices
from daemon.feeds.live_prices import LakePrices
from strategies.runner import StrategyRunner

if TYPE_CHECKING:
    from daemon.backtest_retrain import BacktestRetrainer
    from daemon.pulls import DataFeeds
    from daemon.retrain import RetrainSupervisor
    from daemon.serving import ModelServer

__all__ = ["JOBS", "TRADING_JOBS", "JobContext", "JobOutcome", "JobRunner"]

# Jobs that change the portfolio's view of the world; the daemon runs them one at a time.
TRADING_JOBS = frozenset({"pull_prices", "infer", "rebalance", "refit"})

_log = structlog.get_logger(component="jobs")


@dataclass
class JobContext:
    """What jobs may use. ``live`` decides how to publish and where slow work runs."""

    clock: Clock
    bus: EventBus
    prices: BundledPrices | LakePrices
    trader: StrategyRunner
    live: bool
    record_routine: bool = True
    data: DataFeeds | None = None
    max_staleness: timedelta = timedelta(days=4)
    feed_done: bool = False
    stale: bool = False
    serving: ModelServer | None = None
    retrainer: RetrainSupervisor | BacktestRetrainer | None = None

    async def emit(self, event: Event) -> None:
        """Publish; a live producer waits while a subscriber's queue is full."""
        await self.emit_all((event,))

    async def emit_all(self, events: Iterable[Event]) -> None:
        """``emit`` each of ``events`` in order (one coroutine for the lot in a replay)."""
        if self.live:
            for event in events:
                await self.bus.publish_wait(event)
        else:
            publish = self.bus.publish
            for event in events:
                publish(event)

    async def offload(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run blocking work off the event loop when live; inline in a replay."""
        if self.live:
            return await asyncio.to_thread(fn, *args)
        return fn(*args)


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """What a job did: one line for the jobs table; ``routine`` runs are not recorded in
    backtests; ``skipped`` runs refused to act (the detail says why)."""

    detail: str
    routine: bool = False
    skipped: bool = False


@lru_cache(maxsize=256)
def _routine(detail: str) -> JobOutcome:
    """The routine outcome with this detail ("already decided this period" recurs daily)."""
    return JobOutcome(detail, routine=True)


_NO_BARS = JobOutcome("no new bars", routine=True)
_BARS_UNRECORDED = JobOutcome("bars published", routine=True)  # a backtest drops routine details


async def pull_prices(ctx: JobContext) -> JobOutcome:
    """Publish every bar that became available since the last pull."""
    events = await ctx.prices.pull(ctx.clock.now())
    await ctx.emit_all(events)
    prices = ctx.prices
    if not ctx.feed_done and prices.exhausted:  # bundled history ran out
        ctx.feed_done = True
        await ctx.emit(FeedExhausted(ts=ctx.clock.now(), source=prices.source, last_bar_ts=prices.last_bar_ts))
    if not events:
        return _NO_BARS
    if not (ctx.live or ctx.record_routine):
        return _BARS_UNRECORDED
    bars = [e for e in events if isinstance(e, BarsClosed)]
    if not bars:
        return _NO_BARS
    return JobOutcome(f"{len(bars)} bar(s), last {bars[-1].ts.date().isoformat()}", routine=True)


async def rebalance(ctx: JobContext) -> JobOutcome:
    """Ask the strategy for a target and hand it to the broker, unless prices are stale."""
    last_bar = ctx.trader.last_bar_ts
    now = ctx.clock.now()
    if last_bar is not None and now - last_bar > ctx.max_staleness:
        age_days = (now - last_bar).total_seconds() / 86400
        reason = (
            f"refused to trade: newest price {last_bar.isoformat()} is {age_days:.1f} days old "
            f"(market.max_staleness_days = {ctx.max_staleness.total_seconds() / 86400:g})"
        )
        if not ctx.stale:
            ctx.stale = True
            _log.warning("trading_paused_stale_prices", newest_bar=last_bar.isoformat(), age_days=round(age_days, 2))
        return JobOutcome(reason, skipped=True)
    if ctx.stale:
        ctx.stale = False
        _log.info("trading_resumed_fresh_prices", newest_bar=last_bar.isoformat() if last_bar else None)
    events, detail = await ctx.offload(ctx.trader.decide)
    if not events:
        return _routine(detail)
    await ctx.emit_all(events)
    return JobOutcome(detail)


async def refit(ctx: JobContext) -> JobOutcome:
    """Refit the strategy's estimators after a rebalance (``risk.garch.refit_at =
    "after_decision"``), so the next decision only filters."""
    return _routine(await ctx.offload(ctx.trader.refit))


async def infer(ctx: JobContext) -> JobOutcome:
    """Validate new checkpoints, then forecast with the champion (``daemon.serving``)."""
    if ctx.serving is None:
        raise RuntimeError("infer: no model server in this run")
    return await ctx.serving.infer(ctx)


async def retrain(ctx: JobContext) -> JobOutcome:
    """Start a retrain under torchrun unless one runs (``daemon.retrain``); never waits."""
    if ctx.retrainer is None:
        raise RuntimeError("retrain: no retrain supervisor in this run")
    return await ctx.retrainer.launch(ctx)


def _pull_job(name: str) -> Callable[[JobContext], Awaitable[JobOutcome]]:
    async def pull_data(ctx: JobContext) -> JobOutcome:
        if ctx.data is None:
            raise RuntimeError(f"{name}: no data feeds in this run")
        event, detail = await ctx.data.pull(name, ctx.clock.now())
        if event is None:
            return JobOutcome(detail, routine=True)
        await ctx.emit(event)
        return JobOutcome(detail, routine=True)

    pull_data.__name__ = name
    pull_data.__doc__ = f"Pull what is new for {name.removeprefix('pull_')} and publish it."
    return pull_data


JOBS: dict[str, Callable[[JobContext], Awaitable[JobOutcome]]] = {
    "pull_prices": pull_prices,
    "pull_macro": _pull_job("pull_macro"),
    "pull_fundamentals": _pull_job("pull_fundamentals"),
    "pull_news": _pull_job("pull_news"),
    "pull_social": _pull_job("pull_social"),
    "rebalance": rebalance,
    "refit": refit,
    "infer": infer,
    "retrain": retrain,
}


class JobRunner:
    """Fires jobs by name and records the outcome as ``JobFinished`` / ``JobFailed``."""

    def __init__(self, ctx: JobContext) -> None:
        self.ctx = ctx
        self.last_error: str | None = None
        self.last_detail: str | None = None
        self._log = structlog.get_logger(component="jobs")

    async def fire(self, name: str, *, note: str | None = None) -> bool:
        """Run job ``name`` once now; True when it succeeded. ``note`` is added to what
        the jobs table records (a fire caught up after it was missed)."""
        ctx = self.ctx
        fired_at = ctx.clock.now()
        try:
            outcome = await JOBS[name](ctx)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            self.last_error = error
            if note:
                error = f"{error} ({note})"
            self._log.error("job_failed", job=name, fired_at=fired_at.isoformat(), error=error, exc_info=exc)
            ctx.bus.publish(JobFailed(ts=ctx.clock.now(), job=name, fired_at=fired_at, error=error))
            return False
        if note:
            outcome = JobOutcome(f"{outcome.detail} ({note})", routine=False, skipped=outcome.skipped)
        self.last_detail = outcome.detail
        if ctx.live:
            self._log.info("job_finished", job=name, fired_at=fired_at.isoformat(), detail=outcome.detail)
        if outcome.routine and not ctx.record_routine and not outcome.skipped:
            return True
        ctx.bus.publish(
            JobFinished(
                ts=ctx.clock.now(), job=name, fired_at=fired_at, detail=outcome.detail,
                routine=outcome.routine, skipped=outcome.skipped,
            )
        )
        return True
