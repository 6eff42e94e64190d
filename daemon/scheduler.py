"""APScheduler glue for the live daemon.

Cron specs in config are written in market time. ``ClockTrigger`` lets a stock
``AsyncIOScheduler`` (which only knows wall time) fire them against any clock that maps
between simulated and wall time (identity for ``LiveClock``).

A fire missed on the wall clock (the host slept, the loop was blocked) is never dropped:
``misfire_grace_time=None`` runs a late job however late, ``coalesce=True`` runs it once
for all the fires it missed, and ``MissedFires`` logs it (``job_fire_missed``) and adds a
note to the run's ``jobs`` row.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from apscheduler.events import EVENT_JOB_SUBMITTED, JobSubmissionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

__all__ = ["ClockTrigger", "MissedFires", "build_scheduler"]

# A job that starts later than this after its fire time counts as a missed fire.
LATE_AFTER = timedelta(seconds=30)


class WallMapped(Protocol):
    def to_wall(self, sim: datetime) -> float: ...
    def from_wall(self, wall: float) -> datetime: ...


class ClockTrigger(BaseTrigger):
    """A cron trigger evaluated in a clock's time, reporting wall times to APScheduler.

    APScheduler hands back the wall time we returned as ``previous_fire_time``, rounded
    to a microsecond; at a high pace one wall microsecond is several simulated seconds,
    so the simulated fire time is remembered exactly rather than mapped back.
    """

    def __init__(self, inner: CronTrigger, clock: WallMapped) -> None:
        self.inner = inner
        self.clock = clock
        self._sim_of: dict[datetime, datetime] = {}

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        clock = self.clock
        sim_now = clock.from_wall(now.timestamp())
        sim_prev = None
        if previous_fire_time is not None:
            sim_prev = self._sim_of.get(previous_fire_time) or clock.from_wall(previous_fire_time.timestamp())
            # Mapping wall -> sim can land a hair before sim_prev; the cron trigger would
            # then return sim_prev again.
            sim_now = max(sim_now, sim_prev)
        nxt = self.inner.get_next_fire_time(sim_prev, sim_now)
        if nxt is None:
            return None
        wall = datetime.fromtimestamp(clock.to_wall(nxt), UTC)
        if len(self._sim_of) > 64:
            self._sim_of.clear()
        self._sim_of[wall] = nxt
        return wall

    def __str__(self) -> str:
        return f"clock[{self.inner}]"


class MissedFires:
    """Notes on fires that ran late, by job: logged when submitted, taken by the job run."""

    def __init__(self, log: Any, late_after: timedelta = LATE_AFTER) -> None:
        self._log = log
        self._late_after = late_after
        self._notes: dict[str, str] = {}

    def on_submitted(self, event: JobSubmissionEvent) -> None:
        # With coalesce=True APScheduler submits one run for every fire missed, stamped
        # with the newest of them.
        if not event.scheduled_run_times:
            return
        missed = max(event.scheduled_run_times)
        late = datetime.now(UTC) - missed
        if late < self._late_after:
            return
        self._log.warning(
            "job_fire_missed", job=event.job_id, fire_time=missed.isoformat(),
            late_s=round(late.total_seconds(), 1), action="run once now",
        )
        self._notes[event.job_id] = f"caught up: fire at {missed.isoformat()} missed, run {late.total_seconds():.0f} s late"

    def take(self, job: str) -> str | None:
        """The note for ``job``'s run now, if its fire was missed."""
        return self._notes.pop(job, None)


def build_scheduler(
    triggers: dict[str, CronTrigger],
    clock: WallMapped,
    run_job: Callable[[str], Awaitable[None]],
    missed: MissedFires | None = None,
) -> AsyncIOScheduler:
    """An AsyncIOScheduler firing ``run_job(name)`` on each trigger (not started)."""
    scheduler = AsyncIOScheduler(timezone=UTC)
    if missed is not None:
        scheduler.add_listener(missed.on_submitted, EVENT_JOB_SUBMITTED)
    for name, trigger in triggers.items():
        scheduler.add_job(
            run_job,
            trigger=ClockTrigger(trigger, clock),
            args=[name],
            id=name,
            name=name,
            coalesce=True,  # after a stall, run once, not once per missed slot
            max_instances=1,
            misfire_grace_time=None,  # however late: a missed fire is caught up, never dropped
        )
    return scheduler
