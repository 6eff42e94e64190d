"""Is the newest data fresh enough to trade on? A pure check for the rebalance job.

The job refuses to trade when the newest price is older than ``max_staleness`` and
records ``Freshness.reason``; the daemon keeps running and trades again once fresh.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from daemon.feeds.base import as_utc

__all__ = ["Freshness", "check_freshness"]


@dataclass(frozen=True, slots=True)
class Freshness:
    """``fresh``: the newest timestamp is within ``max_age`` of ``now``. ``stale``: the keys
    whose own newest timestamp is older than that (or missing). ``reason``: why not fresh."""

    fresh: bool
    newest: pd.Timestamp | None
    age: timedelta | None
    stale: tuple[str, ...]
    reason: str | None


def check_freshness(
    latest: Mapping[str, datetime | pd.Timestamp | None], now: datetime, max_age: timedelta
) -> Freshness:
    """``latest``: key -> newest ``ts`` known at ``now`` (None when a key has none), e.g.
    from ``lake.read("bars", symbols, now - window, now, as_of=now)``. Raises ValueError
    for a timestamp after ``now``: that would be data from the future."""
    now = as_utc(now, "now")
    stamps = {key: None if value is None else as_utc(value, key) for key, value in latest.items()}
    if future := sorted(key for key, value in stamps.items() if value is not None and value > now):
        raise ValueError(f"latest timestamps after now ({now.isoformat()}) for {future}: look-ahead")
    stale = tuple(sorted(k for k, v in stamps.items() if v is None or now - v > max_age))
    known = [v for v in stamps.values() if v is not None]
    if not known:
        return Freshness(False, None, None, stale, "no data")
    newest = max(known)
    age = now - newest
    if age > max_age:
        reason = f"newest data {newest.isoformat()} is {age} old (max_staleness {max_age})"
        return Freshness(False, newest, age, stale, reason)
    return Freshness(True, newest, age, stale, None)
