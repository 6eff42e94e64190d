"""The paced daemon's driver: replayed market time that never runs ahead of due work.

The offline daemon replays bundled history "as if live": the live bus (one queue and
worker per subscriber), blocking work in threads, one commit per cascade. Which jobs fire
when comes from the same APScheduler cron triggers a backtest expands (``daemon.cron``).
For each fire the driver waits until the ``PacedClock`` reaches it at the requested pace,
holds the clock there, runs the job and waits for its whole cascade, commits, and only
then lets time flow toward the next fire. ``market.pace`` is thus a ceiling: a slow
cascade makes the run late (``pace_report`` says by how much), never skips or moves a
decision, so a paced run trades exactly as ``tradingd backtest`` of the window.

Resume after ``kill -9``: the run's own history is replayed from its start through the
same components, on the replay bus, with writes held back, up to the last committed
cascade (``App.resume_until``). Strategy history, GARCH refit cadence and filtered state,
the rebalance calendar, the broker's book and impact window all come back as they were,
without snapshot code. Forecasts are not recomputed: `infer` re-publishes the ones
stored then, made by the model active then (``daemon.serving``), and a `retrain` in the
replayed history is not run again (what it published is in the registry and the
``models`` table). The fills and equity rows the replay produces are checked against
the stored ones; a difference stops the daemon with ``ReplayDivergedError``. A cascade
that was cut short was never committed (one transaction per cascade) and simply reruns.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime

import structlog

from core.clock import PacedClock
from daemon.app import App
from daemon.jobs import TRADING_JOBS
from state.batch import EquityRow, FillRow

__all__ = ["ReplayDivergedError", "catch_up", "drive_paced"]

REPORT_EVERY_S = 30.0
# Jobs whose outcome outlives the process: replaying them would redo work already recorded.
NOT_REPLAYED = frozenset({"retrain"})


class ReplayDivergedError(RuntimeError):
    """Replaying a resumed run did not reproduce the rows it had stored."""


Timeline = list[tuple[datetime, str]]


async def catch_up(app: App, timeline: Timeline) -> Timeline:
    """Rebuild a resumed run's state by replaying its fires up to ``app.resume_until``;
    returns the fires still to run. Call before the bus starts (replay delivery)."""
    until = app.resume_until
    if until is None:
        return timeline
    log = structlog.get_logger(component="paced")
    clock = app.clock
    assert isinstance(clock, PacedClock)
    done = [(when, name) for when, name in timeline if when <= until]
    started = time.monotonic()
    ctx = app.jobs.ctx
    ctx.live = False  # inline, no per-job log lines: this is history
    app.recorder.start_replay()
    app.serving.start_replay()
    try:
        for when, name in done:
            if name in NOT_REPLAYED:
                continue
            clock.hold(when)
            await app.jobs.fire(name)
            app.bus.drain()
    finally:
        ctx.live = True
        app.serving.end_replay()
        replayed = app.recorder.end_replay()
    _check_replay(app, replayed.fills, list(replayed.equity.values()))
    clock.restart(until)
    log.info(
        "run_resumed", rebuilt_by="replay", fires_replayed=len(done), up_to=until.isoformat(),
        fills=len(replayed.fills), seconds=round(time.monotonic() - started, 2),
    )
    return timeline[len(done):]


def _check_replay(app: App, fills: list[FillRow], equity: list[EquityRow]) -> None:
    stored_fills = [
        tuple(r.values())
        for r in app.store.rows(
            "select ts, symbol, qty, price, fee from fills where run_id = ? order by ts, symbol", (app.run_id,)
        )
    ]
    replayed_fills = sorted((f.ts, f.symbol, f.qty, f.price, f.fee) for f in fills)
    _same("fills", stored_fills, replayed_fills)
    stored_equity = [
        tuple(r.values())
        for r in app.store.rows("select ts, cash, equity from equity where run_id = ? order by ts", (app.run_id,))
    ]
    _same("equity", stored_equity, sorted((e.ts, e.cash, e.equity) for e in equity))


def _same(table: str, stored: list[tuple], replayed: list[tuple]) -> None:
    if stored == replayed:
        return
    first = next((i for i, (a, b) in enumerate(zip(stored, replayed, strict=False)) if a != b), min(len(stored), len(replayed)))
    raise ReplayDivergedError(
        f"resume: replaying the run does not reproduce its {table} rows ({len(stored)} stored, "
        f"{len(replayed)} replayed; first difference at row {first}: stored "
        f"{stored[first] if first < len(stored) else None}, replayed {replayed[first] if first < len(replayed) else None}). "
        "Did the data or the code change under this run? It is marked failed; the next `tradingd run` starts a new one."
    )


async def drive_paced(
    app: App, timeline: Timeline, run_job: Callable[[str], Awaitable[None]], stop: asyncio.Event
) -> None:
    """Fire ``timeline`` no faster than the pace; each trading job's cascade completes
    (``run_job`` joins the bus and commits) before time moves past its fire time."""
    clock = app.clock
    assert isinstance(clock, PacedClock)
    log = structlog.get_logger(component="paced")
    background: set[asyncio.Task[None]] = set()
    clock.restart(clock.now())  # the pace counts from here, not from start-up
    reported = time.monotonic()
    for i, (when, name) in enumerate(timeline):
        wait = clock.wait_s(when)
        if wait > 0:
            try:
                await asyncio.wait_for(stop.wait(), wait)
            except TimeoutError:
                pass
        if stop.is_set():
            break
        clock.hold(when)
        if name in TRADING_JOBS:
            await run_job(name)
        else:  # data collection runs beside trading; what it stores is read point-in-time
            task = asyncio.create_task(run_job(name), name=f"job:{name}")
            background.add(task)
            task.add_done_callback(background.discard)
            await asyncio.sleep(0)  # let it read its fire time before the clock moves on
        clock.release(timeline[i + 1][0] if i + 1 < len(timeline) else None)
        if time.monotonic() - reported > REPORT_EVERY_S:
            reported = time.monotonic()
            _report(log, clock)
    _report(log, clock)
    if background:
        await asyncio.gather(*background, return_exceptions=True)


def _report(log: structlog.typing.FilteringBoundLogger, clock: PacedClock) -> None:
    log.info(
        "pace_report",
        sim_time=clock.now().isoformat(),
        requested_pace="max" if clock.pace == float("inf") else clock.pace,
        achieved_pace=round(clock.achieved_pace(), 3),
        behind_s=round(clock.behind_s, 3),
    )
