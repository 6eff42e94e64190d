"""The live daemon: jobs on their cron triggers, events on the live bus, clean shutdown.

Trading jobs (``pull_prices``, ``rebalance``) run one at a time; after each, the bus is
joined so the cascade it started (bars -> marks, target -> orders -> fills) is fully
handled before the next one looks at the world, as in a backtest, and then committed in
one transaction. Data-collection jobs (``pull_macro``, news, social, fundamentals) run
beside them: a slow source or a large backfill never delays a trade, and what they store
is read point-in-time anyway.

Who fires the jobs: on the wall clock, APScheduler (a fire missed while the host slept is
caught up once, logged and recorded: ``daemon.scheduler``); on the paced clock (the
offline daemon), ``daemon.paced``, which holds replayed time at each fire until its
cascade is done and rebuilds a resumed run by replaying it.

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
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from core.clock import PacedClock
from core.events import FeedExhausted
from daemon.app import App
from daemon.backtest import replay_timeline
from daemon.health import HealthServer, Heartbeat
from daemon.jobs import TRADING_JOBS
from daemon.metrics import DaemonMetrics
from daemon.paced import catch_up, drive_paced
from daemon.scheduler import MissedFires, build_scheduler
from daemon.systemd import notify, watchdog_interval

__all__ = ["TRADING_JOBS", "serve"]

# SQLite copies the WAL into the database inside whichever commit takes it past 1,000 pages:
# in a daily-rebalancing run one trading cascade in ~14 days took 5-15 ms more for it. The
# daemon turns that off and copies the WAL itself after every 8th job commit, once the
# commit is done and timed (live, the next job is minutes away). Not after every commit:
# the commit after a copy restarts the WAL (~0.2 ms). 8 commits are ~150 pages here.
CHECKPOINT_EVERY = 8


async def serve(app: App, *, exit_when_done: bool = False) -> str:
    """Run until stopped; returns how the run ended ("stopped", "completed" or "failed")."""
    return await _Service(app, exit_when_done).run()


class _Service:
    """One daemon run: signals, the job runner, who fires jobs, HTTP, shutdown."""

    def __init__(self, app: App, exit_when_done: bool) -> None:
        self.app = app
        self.exit_when_done = exit_when_done
        self.log = structlog.get_logger(component="service")
        self.stop = asyncio.Event()
        self.status = "stopped"
        self.job_lock = asyncio.Lock()
        self.missed = MissedFires(self.log)
        self.heartbeat = Heartbeat()
        self.metrics = DaemonMetrics(app.bus, app.clock, app.trader, app.recorder)
        self.skipped = {"count": 0, "logged_at": 0.0}
        self.commits = 0

    async def run(self) -> str:
        app, log = self.app, self.log
        self._handle_signals()
        app.bus.subscribe(FeedExhausted, self._on_exhausted, name="service:feed")
        paced = isinstance(app.clock, PacedClock)
        timeline = replay_timeline(app) if paced else []
        if app.sentiment is not None:
            app.sentiment.start(asyncio.get_running_loop())
        await app.data.open(set(app.triggers))
        if paced:
            try:
                timeline = await catch_up(app, timeline)  # a resumed run: replay it first
            except Exception:
                await app.data.close()
                app.close("failed")
                raise
        self.metrics.attach()
        app.store.defer_checkpoints()  # the WAL is copied after a cascade, never inside one
        app.bus.start()
        tasks = [asyncio.create_task(self.heartbeat.run(), name="heartbeat")]
        if watchdog_interval():
            tasks.append(asyncio.create_task(_watchdog(log), name="watchdog"))
        http = await self._start_http()
        driver, scheduler = None, None
        if paced:
            driver = asyncio.create_task(drive_paced(app, timeline, self.run_job, self.stop), name="paced-driver")
            driver.add_done_callback(self._on_driver_done)
        else:
            scheduler = self._start_scheduler()
        log.info(
            "daemon_started", run_id=app.run_id, resumed=app.resumed,
            jobs={name: str(t) for name, t in app.triggers.items()},
            sim_time=app.clock.now().isoformat(), pace=app.config.market.pace if paced else None,
        )
        notify("READY=1")
        started = time.monotonic()
        await self.stop.wait()
        status = await self._shutdown(driver, scheduler, http, tasks)
        log.info("daemon_stopped", status=status, uptime_s=round(time.monotonic() - started, 1))
        return status

    def _handle_signals(self) -> None:
        loop = asyncio.get_running_loop()

        def on_signal(signum: int, _frame: object) -> None:
            # A Python-level handler runs between bytecodes even when the loop is busy; the
            # first signal asks for a clean stop, a second one while stopping exits at once.
            if self.stop.is_set():
                self.log.error("second_signal_exiting_now", signal=signal.Signals(signum).name)
                raise SystemExit(1)
            self.log.info("shutdown_requested", signal=signal.Signals(signum).name)
            loop.call_soon_threadsafe(self.stop.set)

        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, on_signal)

    def _on_exhausted(self, event: FeedExhausted) -> None:
        self.log.info(
            "replay_finished",
            source=event.source,
            last_bar=event.last_bar_ts.isoformat() if event.last_bar_ts else None,
            action="exiting" if self.exit_when_done else "serving until stopped",
        )
        if self.exit_when_done:
            self.status = "completed"
            self.stop.set()

    def _on_driver_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.log.error("paced_driver_failed", error=repr(task.exception()), exc_info=task.exception())
            self.status = "failed"
            self.stop.set()

    async def run_job(self, name: str) -> None:
        """Fire ``name``; a trading job holds the lock through its cascade and its commit."""
        app = self.app
        try:
            if name not in TRADING_JOBS:
                if not self.stop.is_set():
                    await self._fire(name)
                async with self.job_lock:  # commit its rows between two trading cascades
                    await app.bus.join()
                    app.recorder.flush()
                    self._checkpoint_when_due()
                return
            async with self.job_lock:
                if self.stop.is_set():
                    return
                started, fired_at = time.perf_counter(), app.clock.now()
                await self._fire(name, cascade=True)
                app.recorder.flush()  # the whole cascade in one transaction
                # Fire -> cascade handled -> committed: what a trading job costs end to end.
                ms = round(1e3 * (time.perf_counter() - started), 3)
                pages = self._checkpoint_when_due()
                self.log.info("cascade_committed", job=name, fired_at=fired_at.isoformat(), ms=ms, wal_pages=pages)
        except asyncio.CancelledError:
            # Only jobs still waiting for their turn (and data pulls) are cancelled, at shutdown.
            self.log.info("job_cancelled_at_shutdown", job=name)

    def _checkpoint_when_due(self) -> int | None:
        """After every `CHECKPOINT_EVERY`-th job commit, copy the WAL into the database:
        the pages copied, else None. The store's own automatic copy is off (`run`)."""
        self.commits += 1
        return self.app.store.checkpoint() if self.commits % CHECKPOINT_EVERY == 0 else None

    async def _fire(self, name: str, *, cascade: bool = False) -> None:
        started = time.perf_counter()
        ok = await self.app.jobs.fire(name, note=self.missed.take(name))
        if cascade:
            await self.app.bus.join()
        self.metrics.job_done(name, ok, time.perf_counter() - started)

    def _start_scheduler(self) -> AsyncIOScheduler:
        def on_skipped(event: JobSubmissionEvent) -> None:
            # Falling behind (a slow machine): one warning a minute, not one per job.
            self.skipped["count"] += 1
            if time.monotonic() - self.skipped["logged_at"] > 60:
                self.log.warning("jobs_skipped_behind_schedule", skipped=self.skipped["count"], last_job=event.job_id)
                self.skipped["logged_at"] = time.monotonic()

        scheduler = build_scheduler(self.app.triggers, self.app.clock, self.run_job, self.missed)  # type: ignore[arg-type]
        scheduler.add_listener(on_skipped, EVENT_JOB_MAX_INSTANCES)
        logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)  # skips: see on_skipped
        scheduler.start()
        return scheduler

    async def _start_http(self) -> HealthServer | None:
        app = self.app
        listen = app.config.service.http_listen
        if not listen:
            return None
        server = HealthServer(
            listen, metrics=self.metrics, heartbeat=self.heartbeat, clock=app.clock, trader=app.trader,
            max_staleness=app.jobs.ctx.max_staleness, started=app.clock.now(),
        )
        await server.start()
        return server

    async def _shutdown(
        self, driver: asyncio.Task[None] | None, scheduler: AsyncIOScheduler | None, http: HealthServer | None,
        tasks: list[asyncio.Task[None]],
    ) -> str:
        app, log = self.app, self.log
        self.heartbeat.stopping = "stopping" if self.status != "failed" else "failed"
        notify("STOPPING=1")
        if scheduler is not None:
            scheduler.pause()  # nothing new starts; the job in hand finishes below
        timeout = app.config.service.stop_timeout_s
        try:
            await asyncio.wait_for(self.job_lock.acquire(), timeout)
            self.job_lock.release()
        except TimeoutError:
            log.error("job_still_running_at_shutdown", timeout_s=timeout)
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        await app.retrainer.close()
        if driver is not None:
            _, pending = await asyncio.wait([driver], timeout=timeout)  # its failure is logged
            if pending:
                driver.cancel()
                log.error("paced_driver_still_running_at_shutdown", timeout_s=timeout)
        clean = await app.bus.stop(timeout)
        await app.data.close()
        if http is not None:
            await http.stop()
        for task in tasks:
            task.cancel()
        status = self.status if clean else "stopped"
        app.close(status)
        return status


async def _watchdog(log: structlog.typing.FilteringBoundLogger) -> None:
    # Pings only while the loop runs: a blocked loop stops them and systemd restarts us.
    interval = watchdog_interval() or 1.0
    log.info("watchdog_enabled", interval_s=interval)
    while True:
        notify("WATCHDOG=1")
        await asyncio.sleep(interval)
