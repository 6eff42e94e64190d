"""APScheduler glue for the live daemon.

Cron specs in config are written in market time. ``ClockTrigger`` lets a stock
``AsyncIOScheduler`` (which only knows wall time) fire them against any clock that maps
between simulated and wall time: identity for ``LiveClock``, accelerated for
``PacedClock`` (the offline daemon replaying history "as if live").
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

__all__ = ["ClockTrigger", "build_scheduler"]


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


def build_scheduler(
    triggers: dict[str, CronTrigger],
    clock: WallMapped,
    run_job: Callable[[str], Awaitable[None]],
) -> AsyncIOScheduler:
    """An AsyncIOScheduler firing ``run_job(name)`` on each trigger (not started)."""
    scheduler = AsyncIOScheduler(timezone=UTC)
    for name, trigger in triggers.items():
        scheduler.add_job(
            run_job,
            trigger=ClockTrigger(trigger, clock),
            args=[name],
            id=name,
            name=name,
            coalesce=True,  # after a stall, run once, not once per missed slot
            max_instances=1,
            misfire_grace_time=None,
        )
    return scheduler
