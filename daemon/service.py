"""The live daemon: jobs on APScheduler, events on the live bus, clean shutdown.

Trading jobs (``pull_prices``, ``rebalance``) run one at a time; after each, the bus is
joined so the cascade it started (bars -> marks, target -> orders -> fills) is fully
handled before the next one looks at the world, as in a backtest. Data-collection jobs
(``pull_macro``, news, social, fundamentals) run beside them: a slow source or a large
backfill never delays a trade, and what they store is read point-in-time anyway.

SIGTERM or SIGINT: stop scheduling, let the trading job in hand finish (up to
``service.stop_timeout_s``), deliver what is queued, commit, close, exit 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time

import structlog
from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent

from core.events import FeedExhausted
from daemon.app import App
from daemon.scheduler import build_scheduler
from daemon.systemd import notify, watchdog_interval

__all__ = ["TRADING_JOBS", "serve"]

# Jobs that change the portfolio's view of the world; they run one at a time.
TRADING_JOBS = frozenset({"pull_prices", "rebalance"})


async def serve(app: App, *, exit_when_done: bool = False) -> str:
    """Run until stopped; returns how the run ended ("stopped" or "completed")."""
    log = structlog.get_logger(component="service")
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    reason = {"status": "stopped"}

    def on_signal(signum: int, _frame: object) -> None:
        # A Python-level handler runs between bytecodes even when the loop is busy; the
        # first signal asks for a clean stop, a second one while stopping exits at once.
        if stop.is_set():
            log.error("second_signal_exiting_now", signal=signal.Signals(signum).name)
            raise SystemExit(1)
        log.info("shutdown_requested", signal=signal.Signals(signum).name)
        loop.call_soon_threadsafe(stop.set)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)

    def on_exhausted(event: FeedExhausted) -> None:
        log.info(
            "replay_finished",
            source=event.source,
            last_bar=event.last_bar_ts.isoformat() if event.last_bar_ts else None,
            action="exiting" if exit_when_done else "serving until stopped",
        )
        if exit_when_done:
            reason["status"] = "completed"
            stop.set()

    app.bus.subscribe(FeedExhausted, on_exhausted, name="service:feed")
    app.bus.start()
    if app.sentiment is not None:
        app.sentiment.start(loop)
    await app.data.open(set(app.triggers))
    job_lock = asyncio.Lock()

    async def run_job(name: str) -> None:
        try:
            if name not in TRADING_JOBS:
                if not stop.is_set():
                    await app.jobs.fire(name)
                return
            async with job_lock:
                if stop.is_set():
                    return
                await app.jobs.fire(name)
                await app.bus.join()
        except asyncio.CancelledError:
            # Only jobs still waiting for their turn (and data pulls) are cancelled, at shutdown.
            log.info("job_cancelled_at_shutdown", job=name)

    skipped = {"count": 0, "logged_at": 0.0}

    def on_skipped(event: JobSubmissionEvent) -> None:
        # Falling behind (a high pace, a slow machine): one warning a minute, not one per job.
        skipped["count"] += 1
        if time.monotonic() - skipped["logged_at"] > 60:
            log.warning("jobs_skipped_behind_schedule", skipped=skipped["count"], last_job=event.job_id)
            skipped["logged_at"] = time.monotonic()

    scheduler = build_scheduler(app.triggers, app.clock, run_job)  # type: ignore[arg-type]
    scheduler.add_listener(on_skipped, EVENT_JOB_MAX_INSTANCES)
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)  # skips: see on_skipped
    scheduler.start()
    log.info(
        "daemon_started",
        run_id=app.run_id,
        resumed=app.resumed,
        jobs={name: str(t) for name, t in app.triggers.items()},
        sim_time=app.clock.now().isoformat(),
        pace=getattr(app.clock, "pace", None),
    )
    notify("READY=1")
    watchdog = asyncio.create_task(_watchdog(log)) if watchdog_interval() else None
    started = time.monotonic()
    await stop.wait()

    notify("STOPPING=1")
    scheduler.pause()  # nothing new starts; the job in hand finishes below
    timeout = app.config.service.stop_timeout_s
    try:
        await asyncio.wait_for(job_lock.acquire(), timeout)
        job_lock.release()
    except TimeoutError:
        log.error("job_still_running_at_shutdown", timeout_s=timeout)
    scheduler.shutdown(wait=False)
    clean = await app.bus.stop(timeout)
    await app.data.close()
    if watchdog is not None:
        watchdog.cancel()
    status = reason["status"] if clean else "stopped"
    app.close(status)
    log.info("daemon_stopped", status=status, uptime_s=round(time.monotonic() - started, 1))
    return status


async def _watchdog(log: structlog.typing.FilteringBoundLogger) -> None:
    # Pings only while the loop runs: a blocked loop stops them and systemd restarts us.
    interval = watchdog_interval() or 1.0
    log.info("watchdog_enabled", interval_s=interval)
    while True:
        notify("WATCHDOG=1")
        await asyncio.sleep(interval)
