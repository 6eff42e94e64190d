"""Clocks: the one place tradingd reads time from.

Components receive a clock and call ``now()``; nothing else calls ``datetime.now()``.
Three implementations share the interface:

- ``LiveClock``: wall time.
- ``ReplayClock``: set by the backtest driver, jumping from one event time to the next.
- ``PacedClock``: simulated market time that flows at most at a fixed number of *trading
  days per wall second* (or as fast as the work allows, ``pace = inf``); the offline
  daemon replays bundled history "as if live" on it. Its driver holds it at each due fire
  time until the work due then is done, so it never runs ahead of a decision.

Live and paced clocks also map between simulated time and wall time (``to_wall`` /
``from_wall``) so that APScheduler, which only knows wall time, can fire cron jobs that
are written in market time.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_right
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

__all__ = [
    "Clock",
    "ClockError",
    "LiveClock",
    "PacedClock",
    "ReplayClock",
    "utc",
]


class ClockError(RuntimeError):
    """A clock was asked to do something that would break causality."""


def utc(value: datetime) -> datetime:
    """Return ``value`` as an aware UTC datetime (naive values are taken to be UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@runtime_checkable
class Clock(Protocol):
    """What components may ask of time."""

    def now(self) -> datetime:
        """Current time, an aware UTC datetime."""
        ...


class LiveClock:
    """Wall time. ``wall`` is injectable for tests."""

    def __init__(self, wall: Callable[[], float] = time.time) -> None:
        self._wall = wall

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._wall(), UTC)

    def to_wall(self, sim: datetime) -> float:
        return utc(sim).timestamp()

    def from_wall(self, wall: float) -> datetime:
        return datetime.fromtimestamp(wall, UTC)


class ReplayClock:
    """Backtest time: only moves when the driver advances it, and never backwards."""

    def __init__(self, start: datetime) -> None:
        self._now = utc(start)

    def now(self) -> datetime:
        return self._now

    def advance_to(self, when: datetime) -> None:
        """Move to ``when``. Moving backwards is a causality bug, so it raises."""
        if when < self._now:
            raise ClockError(f"replay clock cannot go back from {self._now} to {when}")
        self._now = when


class PacedClock:
    """Simulated market time advancing ``pace`` trading days per wall second.

    ``sessions`` are the trading days' anchors (aware datetimes, strictly increasing, e.g.
    midnight exchange time of each trading date). Wall time maps piecewise linearly onto
    them: between two anchors simulated time moves through the calendar gap (nights,
    weekends, holidays) in ``1 / pace`` wall seconds, so each trading day takes the same
    wall time. Past the last anchor, time goes on at one calendar day per ``1 / pace``
    seconds.

    ``start`` is the simulated time at the wall instant ``wall_start`` (default: when the
    clock is built); the clock stands there until its first ``release()``.

    The pace is a ceiling, not a promise: ``hold(t)`` stops simulated time at ``t`` while
    the work due at ``t`` runs, ``release(until)`` lets it flow again from ``t`` (never past
    ``until``, the next due time). Time lost while held is counted in ``behind_s``.
    ``pace = math.inf`` ("max"): no waiting at all; time jumps from one hold to the next.
    """

    def __init__(
        self,
        sessions: Sequence[datetime],
        pace: float,
        start: datetime,
        *,
        wall: Callable[[], float] = time.time,
        wall_start: float | None = None,
    ) -> None:
        if pace <= 0:
            raise ValueError("pace must be > 0 trading days per second")
        if len(sessions) == 0:
            raise ValueError("PacedClock needs at least one session anchor")
        anchors = [utc(s).timestamp() for s in sessions]
        if any(b <= a for a, b in zip(anchors, anchors[1:], strict=False)):
            raise ValueError("session anchors must be strictly increasing")
        # One extra anchor a day after the last keeps the last session as long as a day.
        anchors.append(anchors[-1] + 86400.0)
        self._anchors = anchors
        self._pace = float(pace)
        self._wall = wall
        self._k0 = self._index_of(utc(start).timestamp())
        self._wall0 = wall() if wall_start is None else wall_start
        # Time stands at ``start`` until the driver releases it (a slow start-up costs nothing).
        self._held: datetime | None = utc(start)
        self._until: float | None = None  # sim epoch seconds time may not pass
        self.behind_s = 0.0
        self._k_begin, self._wall_begin = self._k0, self._wall0

    @property
    def pace(self) -> float:
        return self._pace

    def now(self) -> datetime:
        if self._held is not None:
            return self._held
        now = self.from_wall(self._wall())
        if self._until is not None and now.timestamp() > self._until:
            return datetime.fromtimestamp(self._until, UTC)
        return now

    def wait_s(self, sim: datetime) -> float:
        """Wall seconds until simulated time reaches ``sim`` at the requested pace (>= 0)."""
        if self._held is not None:
            return 0.0
        return max(0.0, self.to_wall(sim) - self._wall())

    def hold(self, sim: datetime) -> None:
        """Stop at ``sim`` (the work due then starts); lateness adds to ``behind_s``."""
        if self._held is None:
            self.behind_s += max(0.0, self._wall() - self.to_wall(sim))
        self._held = utc(sim)

    def release(self, until: datetime | None = None) -> None:
        """Flow again from the held time, at most to ``until`` (the next due time)."""
        if self._held is None or math.isinf(self._pace):
            return
        self._k0 = self._index_of(self._held.timestamp())
        self._wall0 = self._wall()
        self._held = None
        self._until = utc(until).timestamp() if until is not None else None

    def restart(self, sim: datetime) -> None:
        """Continue from ``sim`` now, as if the run had just started there (after a resume)."""
        self._held = utc(sim)
        self._k_begin, self._wall_begin = self._index_of(utc(sim).timestamp()), self._wall()
        self.behind_s = 0.0
        self.release(None)

    def achieved_pace(self) -> float:
        """Trading days per wall second since the start (or the last ``restart``)."""
        elapsed = self._wall() - self._wall_begin
        return (self._index_of(self.now().timestamp()) - self._k_begin) / elapsed if elapsed > 0 else 0.0

    def from_wall(self, wall: float) -> datetime:
        """Simulated time at the wall instant ``wall`` (seconds since the epoch)."""
        k = self._k0 + (wall - self._wall0) * self._pace
        return datetime.fromtimestamp(self._sim_of(k), UTC)

    def to_wall(self, sim: datetime) -> float:
        """Wall instant at which simulated time reaches ``sim``."""
        k = self._index_of(utc(sim).timestamp())
        return self._wall0 + (k - self._k0) / self._pace

    # k is a fractional session index: session i starts at k == i.
    def _sim_of(self, k: float) -> float:
        anchors = self._anchors
        last = len(anchors) - 1
        if k < 0:
            return anchors[0] + k * (anchors[1] - anchors[0])
        if k >= last:
            return anchors[last] + (k - last) * 86400.0
        i = int(k)
        return anchors[i] + (k - i) * (anchors[i + 1] - anchors[i])

    def _index_of(self, sim: float) -> float:
        anchors = self._anchors
        last = len(anchors) - 1
        if sim < anchors[0]:
            return (sim - anchors[0]) / (anchors[1] - anchors[0])
        if sim >= anchors[last]:
            return last + (sim - anchors[last]) / 86400.0
        i = bisect_right(anchors, sim) - 1
        return i + (sim - anchors[i]) / (anchors[i + 1] - anchors[i])

