"""Scheduled data pulls besides prices: macro, fundamentals, news, social.

Each pull job fetches what is new from its source, stores it in the Parquet lake
(``state.lake``) and publishes the new rows as one event (``MacroUpdated``,
``FundamentalsUpdated``, ``TextsReceived``). Sources come from ``[feeds.*]`` and their
credentials from the environment or a secrets file; a source without credentials is off
and its job is not scheduled (logged once, with the variables it needs).

Backtests have no lake writes and no network: the only replayable source is the FRED
history bundled with arch, handed out in ``available_at`` order (``ReplayTable``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pandas as pd
import pyarrow as pa
import structlog

from core.events import DataReceived, FundamentalsUpdated, MacroUpdated, TextsReceived
from daemon.config import Config
from daemon.feeds.base import Source
from daemon.feeds.fred import BundledMacroSource
from daemon.feeds.http import new_session
from daemon.feeds.pull import pull
from daemon.feeds.replay import ReplayTable
from daemon.feeds.secrets import load_secrets
from daemon.feeds.sources import REQUIRED, build_sources
from state.lake import Lake

__all__ = ["PULL_JOBS", "DataFeeds", "PullFailed"]

# job -> (source kind in build_sources, event type, lake dataset of the rows to publish)
PULL_JOBS: dict[str, tuple[str, type[DataReceived], str]] = {
    "pull_macro": ("macro", MacroUpdated, "macro"),
    "pull_fundamentals": ("fundamentals", FundamentalsUpdated, "fundamentals"),
    "pull_news": ("news", TextsReceived, "texts"),
    "pull_social": ("social", TextsReceived, "texts"),
}
_CREDENTIALS = {"macro": "fred", "fundamentals": "fmp", "news": "newsapi", "social": "reddit"}


class PullFailed(RuntimeError):
    """A pull stored nothing (source down, unusable rows); the message says why."""


class DataFeeds:
    """The non-price sources of one run, their lake and their HTTP session."""

    def __init__(self, config: Config, *, universe: tuple[str, ...], replay: bool) -> None:
        self.config = config
        self.universe = universe
        self.replay = replay
        self.lake = None if replay else Lake(Path(config.run.data_dir) / "lake")
        self._session: aiohttp.ClientSession | None = None
        self._sources: dict[str, Source] = {}
        self._replays: dict[str, ReplayTable] = {}
        self._log = structlog.get_logger(component="feeds")

    # -- what can run --------------------------------------------------------------------

    def unavailable(self) -> dict[str, str]:
        """Pull jobs that cannot run here, with the reason (no network needed to tell)."""
        feeds = self.config.feeds
        secrets = load_secrets()
        enabled = {
            "macro": feeds.fred.enabled,
            "fundamentals": feeds.fmp.enabled,
            "news": feeds.newsapi.enabled,
            "social": feeds.reddit.enabled,
        }
        reasons: dict[str, str] = {}
        for job, (kind, _, _) in PULL_JOBS.items():
            offline_macro = kind == "macro" and feeds.fred.offline
            if not enabled[kind]:
                reasons[job] = f"feeds.{_CREDENTIALS[kind]}.enabled is false"
            elif self.replay and not offline_macro:
                reasons[job] = "no bundled history to replay in a backtest"
            elif not offline_macro and (missing := secrets.missing(*REQUIRED[_CREDENTIALS[kind]])):
                reasons[job] = f"missing credentials: {', '.join(missing)}"
        return reasons

    def keys(self, kind: str) -> list[str]:
        feeds = self.config.feeds
        if kind == "macro":
            return list(feeds.fred.series)
        if kind == "social":
            return list(feeds.reddit.subreddits)
        return list(self.universe)

    # -- lifecycle -----------------------------------------------------------------------

    async def open(self, jobs: set[str] | frozenset[str] | None = None) -> None:
        """Build the sources the scheduled ``jobs`` need (default: all); inside the running
        event loop, as aiohttp needs."""
        wanted = set(PULL_JOBS) if jobs is None else set(jobs) & set(PULL_JOBS)
        if not wanted:
            return
        if self.replay:
            if "pull_macro" in wanted and "pull_macro" not in self.unavailable():
                fetched = await BundledMacroSource().fetch(self.keys("macro"), None, datetime.now(UTC))
                frame = fetched.frames["macro"]
                start = pd.Timestamp(self.config.feeds.fred.history_start, tz="UTC")
                self._replays["macro"] = ReplayTable("fred_bundled", frame[frame["available_at"] >= start])
            return
        self._session = new_session()
        self._sources = build_sources(self.config.feeds, load_secrets(), self._session)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- pulls ---------------------------------------------------------------------------

    async def pull(self, job: str, now: datetime) -> tuple[DataReceived | None, str]:
        """Run one pull; returns the event to publish (or None) and a one-line outcome.

        Raises ``PullFailed`` when nothing could be stored or every key failed; a failure
        of some keys only is part of the outcome (and logged by the pull).
        """
        kind, event_type, dataset = PULL_JOBS[job]
        if kind in self._replays:
            table = self._replays[kind].pull(now)
            if table is None:
                return None, "nothing new"
            return event_type(ts=now, source=self._replays[kind].name, table=table), f"{table.num_rows} new rows"
        source = self._sources.get(kind)
        if source is None or self.lake is None:
            reason = self.unavailable().get(job, "source not configured")
            raise PullFailed(f"{job}: source is off ({reason})")
        start = datetime.combine(self._history_start(kind), datetime.min.time(), UTC)
        keys = self.keys(kind)
        report = await pull(source, self.lake, keys, until=now, start=start)
        if report.error is not None:
            raise PullFailed(f"{source.name}: {report.error}")
        if keys and len(report.failures) >= len(keys):
            key, why = next(iter(report.failures.items()))
            raise PullFailed(f"{source.name}: every key failed ({len(keys)} of {len(keys)}; {key}: {why})")
        frame = report.frames.get(dataset)
        failed = f", {len(report.failures)} key(s) failed" if report.failures else ""
        if frame is None or frame.empty:
            return None, f"nothing new{failed}"
        table = pa.Table.from_pandas(frame, preserve_index=False)
        added = report.rows_added.get(dataset, 0)
        return event_type(ts=now, source=source.name, table=table), f"{len(frame)} rows, {added} new{failed}"

    def _history_start(self, kind: str) -> Any:
        feeds = self.config.feeds
        return {"macro": feeds.fred, "fundamentals": feeds.fmp, "news": feeds.newsapi, "social": feeds.reddit}[
            kind
        ].history_start
