"""Cron specs: parsed by APScheduler, expanded fast for replays.

A backtest must fire the same jobs at the same times as the live daemon, so both use
APScheduler's ``CronTrigger``. Asking the trigger for each next fire time costs ~85 us,
which over 33 years of two daily jobs would be the largest cost of a backtest. So
``fire_times`` expands a whole window at once with APScheduler's own field objects
(``field.get_next_value(d) == field.get_value(d)`` is APScheduler's notion of "matches"),
and delegates days with a DST transition to ``get_next_fire_time`` itself. A test
checks the two agree over random specs and windows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import product

import numpy as np
import pandas as pd
from apscheduler.triggers.cron import CronTrigger

__all__ = ["fire_epochs", "fire_times", "fire_times_reference", "parse_cron"]


def parse_cron(spec: str, timezone: str) -> CronTrigger:
    """A 5-field crontab spec in ``timezone``; raises ValueError on a bad spec."""
    return CronTrigger.from_crontab(spec, timezone=timezone)


def fire_times_reference(trigger: CronTrigger, start: datetime, end: datetime) -> list[datetime]:
    """Fire times in ``[start, end)`` by asking the trigger one at a time (slow, exact)."""
    out: list[datetime] = []
    t = trigger.get_next_fire_time(None, start)
    while t is not None and t < end:
        out.append(t.astimezone(UTC))
        t = trigger.get_next_fire_time(t, t)
    return out


def _matching(field: object, lo: int, hi: int, probe: datetime, name: str) -> list[int]:
    values = []
    for v in range(lo, hi + 1):
        d = probe.replace(**{name: v})
        if field.get_next_value(d) == v:  # type: ignore[attr-defined]
            values.append(v)
    return values


def fire_times(trigger: CronTrigger, start: datetime, end: datetime) -> list[datetime]:
    """Fire times in ``[start, end)`` as aware UTC datetimes, equal to the reference."""
    return [datetime.fromtimestamp(t, UTC) for t in fire_epochs(trigger, start, end).tolist()]


def fire_epochs(trigger: CronTrigger, start: datetime, end: datetime) -> np.ndarray:
    """``fire_times`` as int64 epoch seconds (cron fires are whole seconds), ascending."""
    if getattr(trigger, "jitter", None):
        raise ValueError("jittered triggers cannot be replayed deterministically")
    if trigger.start_date is not None:
        start = max(start, trigger.start_date)
    if trigger.end_date is not None:
        end = min(end, trigger.end_date + timedelta(microseconds=1))
    if end <= start:
        return np.zeros(0, dtype=np.int64)
    tz = trigger.timezone
    fields = {f.name: f for f in trigger.fields}
    seconds_of_day = _seconds_of_day(fields)
    # Every local calendar day in the window (one extra to know tomorrow's UTC offset).
    first = start.astimezone(tz).date()
    last = end.astimezone(tz).date()
    days = pd.date_range(first, last + timedelta(days=1), freq="D", unit="s")
    keep = _day_mask(fields, days[:-1])
    # UTC offset of each local midnight. A day whose offset differs from the next
    # midnight's has a DST change; APScheduler steps across it in UTC, which shifts or
    # skips fires that day and the next, so those two days are asked of the trigger
    # itself, chained from the previous fire as the live scheduler would be.
    midnights = days.tz_localize(tz, ambiguous=True, nonexistent="shift_forward")
    offsets = days.asi8 - midnights.tz_convert("UTC").tz_localize(None).as_unit("s").asi8
    change = offsets[:-1] != offsets[1:]
    special = change | np.r_[False, change[:-1]]
    plain = keep & ~special
    base = days.asi8[:-1][plain] - offsets[:-1][plain]
    epoch = (base[:, None] + seconds_of_day[None, :]).ravel()
    lo, hi = start.timestamp(), end.timestamp()
    epoch = np.sort(epoch[(epoch >= lo) & (epoch < hi)])
    extra: list[int] = []
    day_start = days.asi8 - offsets  # UTC instant of each local midnight
    for i in np.flatnonzero(change):
        region_start = datetime.fromtimestamp(int(day_start[i]), UTC)
        region_end = datetime.fromtimestamp(int(day_start[min(i + 2, len(days) - 1)]), UTC)
        # Once a fire lands on the day after the change, the next step from it crosses
        # no transition: the rest of that day is plain cron arithmetic in its offset.
        settled = int(day_start[i + 1]) if i + 1 < len(keep) and not change[i + 1] else None
        k = int(np.searchsorted(epoch, region_start.timestamp(), side="left"))
        previous = datetime.fromtimestamp(int(epoch[k - 1]), UTC) if k > 0 else None
        t = (
            trigger.get_next_fire_time(previous, previous)
            if previous is not None
            else trigger.get_next_fire_time(None, max(start, region_start))
        )
        while t is not None and t < region_end and t < end:
            if t >= start:
                extra.append(int(t.timestamp()))
            if settled is not None and t.timestamp() >= settled:
                later = day_start[i + 1] + seconds_of_day if keep[i + 1] else seconds_of_day[:0]
                later = later[(later > t.timestamp()) & (later < min(region_end.timestamp(), hi)) & (later >= lo)]
                extra.extend(later.tolist())
                break
            t = trigger.get_next_fire_time(t, t)
    if extra:
        epoch = np.sort(np.concatenate([epoch, np.array(extra, dtype=np.int64)]))
    return epoch


def _seconds_of_day(fields: dict[str, object]) -> np.ndarray:
    """The times of day (seconds after local midnight) the hour/minute/second fields accept, ascending."""
    probe = datetime(2001, 1, 1)
    return np.array(
        sorted(
            h * 3600 + m * 60 + s
            for h, m, s in product(
                _matching(fields["hour"], 0, 23, probe, "hour"),
                _matching(fields["minute"], 0, 59, probe, "minute"),
                _matching(fields["second"], 0, 59, probe, "second"),
            )
        ),
        dtype=np.int64,
    )


def _day_mask(fields: dict[str, object], days: pd.DatetimeIndex) -> np.ndarray:
    """Which local days the date fields (year, month, day, week, day_of_week) accept."""
    mask = np.ones(len(days), dtype=bool)
    # Fields whose match depends on one attribute only are evaluated once per value.
    by_value = {"year": days.year, "month": days.month, "day_of_week": days.day_of_week}
    for name, values in by_value.items():
        field = fields[name]
        if _matches_all(field):
            continue
        for v in np.unique(values):
            day = days[np.argmax(values == v)].to_pydatetime()
            if field.get_next_value(day) != field.get_value(day):  # type: ignore[attr-defined]
                mask &= values != v
    # Day-of-month ("last", "2nd fri") and ISO week depend on the month: check each day.
    for name in ("day", "week"):
        field = fields[name]
        if _matches_all(field):
            continue
        for i in np.flatnonzero(mask):
            day = days[i].to_pydatetime()
            if field.get_next_value(day) != field.get_value(day):  # type: ignore[attr-defined]
                mask[i] = False
    return mask


def _matches_all(field: object) -> bool:
    # from_crontab passes "*" explicitly, so is_default alone misses it.
    return bool(field.is_default) or str(field) == "*"  # type: ignore[attr-defined]
