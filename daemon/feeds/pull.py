"""One pull: fetch what is new for some keys and store it in the lake, surviving failure.

This is what the daemon's scheduled jobs call (``pull_prices``, ``pull_macro``, ...). It
never raises a FeedError: a source that is down, a key that fails or rows that cannot be
stored end as a logged error and a ``PullReport`` that says so. The report carries the
fetched frames so the job can publish ``BarsClosed`` / ``MacroUpdated`` / ``TextsReceived``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd
import structlog

from daemon.feeds.base import Since, Source, as_utc
from daemon.feeds.errors import FeedError
from state.lake import Lake, LakeSchemaError

__all__ = ["PullReport", "pull"]


@dataclass(frozen=True, slots=True)
class PullReport:
    """``rows_added``: per dataset, rows new or changed in the lake. ``error``: why nothing
    was stored (source down, unusable rows); ``failures``: keys that failed alone."""

    source: str
    rows_fetched: int = 0
    rows_added: Mapping[str, int] = field(default_factory=dict)
    failures: Mapping[str, str] = field(default_factory=dict)
    error: str | None = None
    frames: Mapping[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None and not self.failures


async def pull(
    source: Source,
    lake: Lake,
    keys: Sequence[str],
    *,
    until: datetime,
    start: datetime,
    since: Since = None,
) -> PullReport:
    """Fetch ``keys`` from ``source`` up to ``until`` and merge the rows into ``lake``.

    ``since`` defaults to what the lake already holds per key (``lake.latest`` on the
    source's ``since_column``), or ``start`` for keys with nothing stored.
    """
    log = structlog.get_logger(component=f"feeds.{source.name}")
    until = as_utc(until, "until")
    if since is None:
        stored = await asyncio.to_thread(lake.latest, source.datasets[0], keys, source.since_column)
        since = {key: stored.get(key, as_utc(start, "start")) for key in keys}
    try:
        result = await source.fetch(keys, since, until)
    except FeedError as exc:
        log.error("pull_failed", source=source.name, error=str(exc))
        return PullReport(source.name, error=str(exc))
    for key, reason in result.failures.items():
        log.warning("pull_key_failed", source=source.name, key=key, reason=reason)
    if result.dropped:
        log.warning("rows_dropped", source=source.name, count=len(result.dropped), examples=list(result.dropped[:5]))
    try:
        for dataset, frame in result.frames.items():  # check every frame before writing any
            lake.spec(dataset).conform(frame)
        added = {}
        for dataset, frame in result.frames.items():
            added[dataset] = (await asyncio.to_thread(lake.write, dataset, frame)).rows_added
    except LakeSchemaError as exc:
        log.error("pull_store_failed", source=source.name, error=str(exc))
        return PullReport(source.name, result.rows, failures=result.failures, error=str(exc))
    log.info(
        "pull_finished", source=source.name, keys=len(keys), rows=result.rows, added=added, failed=len(result.failures)
    )
    return PullReport(source.name, result.rows, added, result.failures, None, result.frames)
