"""What every source returns, and the small time helpers they share.

A source's ``fetch(keys, since, until)`` returns a ``FetchResult``: frames in the lake's
dataset schemas (``state.lake.DATASETS``) plus the keys that failed and why. ``until`` is
the knowledge time of the pull (the daemon passes ``clock.now()``): no returned row has
``available_at > until``. ``since`` is one timestamp or one per key (see each source for
whether it bounds ``ts`` or ``available_at``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

import pandas as pd

from state.lake import DATASETS

__all__ = [
    "FetchResult",
    "Since",
    "Source",
    "as_utc",
    "concat",
    "empty_frame",
    "known_by",
    "local_time",
    "next_day_start",
    "since_for",
    "since_within",
]

Since = datetime | pd.Timestamp | Mapping[str, datetime | pd.Timestamp | None] | None
NEW_YORK = ZoneInfo("America/New_York")


@dataclass(frozen=True, slots=True)
class FetchResult:
    """``frames``: dataset name -> rows in that dataset's schema; ``failures``: key -> reason
    (already redacted); ``dropped``: rows left out as unusable, with why (counted in logs)."""

    source: str
    frames: Mapping[str, pd.DataFrame]
    failures: Mapping[str, str] = field(default_factory=dict)
    dropped: Sequence[str] = ()

    @property
    def rows(self) -> int:
        return sum(len(frame) for frame in self.frames.values())


class Source(Protocol):
    """A data source the daemon's pull jobs call. ``since_column``: which lake column of
    ``datasets[0]`` the incremental ``since`` refers to (``ts`` or ``available_at``)."""

    name: str
    datasets: tuple[str, ...]
    since_column: str

    async def fetch(self, keys: Sequence[str], since: Since, until: datetime) -> FetchResult: ...


def as_utc(value: datetime | pd.Timestamp | str, name: str = "time") -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware, got {value!r}")
    return stamp.tz_convert("UTC")


def since_for(since: Since, key: str, default: datetime | pd.Timestamp | None = None) -> pd.Timestamp | None:
    """The ``since`` that applies to ``key`` (a per-key mapping falls back to ``default``)."""
    value = since.get(key) if isinstance(since, Mapping) else since
    value = default if value is None else value
    return None if value is None else as_utc(value, "since")


def since_within(since: Since, key: str, until: pd.Timestamp, lookback: timedelta) -> pd.Timestamp:
    """``since`` for ``key``, but no earlier than ``until - lookback`` (APIs that only keep
    recent items: asking further back fails or wastes a page)."""
    floor = until - lookback
    return max(since_for(since, key, floor), floor)


def local_time(day: date, at: time, zone: ZoneInfo = NEW_YORK) -> pd.Timestamp:
    """``day`` at wall-clock ``at`` in ``zone``, as a UTC timestamp (DST-correct)."""
    return pd.Timestamp(datetime.combine(day, at), tz=zone).tz_convert("UTC")


def next_day_start(day: date, zone: ZoneInfo = NEW_YORK) -> pd.Timestamp:
    """Midnight in ``zone`` after ``day``: when a value dated ``day`` (no time) is surely out."""
    return local_time(day + timedelta(days=1), time(0), zone)


def empty_frame(dataset: str) -> pd.DataFrame:
    return DATASETS[dataset].empty_frame()


def concat(frames: Sequence[pd.DataFrame], dataset: str) -> pd.DataFrame:
    """The non-empty ``frames`` stacked, or an empty ``dataset`` frame."""
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else empty_frame(dataset)


def known_by(frame: pd.DataFrame, until: pd.Timestamp, dropped: list[str], what: str) -> pd.DataFrame:
    """Rows of ``frame`` known at ``until``; notes how many later ones were left out."""
    later = frame["available_at"] > until
    if later.any():
        dropped.append(f"{int(later.sum())} {what} not yet available at {until.isoformat()}")
    return frame.loc[~later].reset_index(drop=True)
