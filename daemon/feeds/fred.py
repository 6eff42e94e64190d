"""Macro series: FRED/ALFRED through fredapi (live) or the FRED series arch bundles (offline).

Point in time: live pulls ask ALFRED for real-time vintages, so each value carries the
date it was published (``realtime_start``); a series ALFRED lacks falls back to latest
values with ``available_at = ts + release lag`` (``release_lag_days``). Vintage dates have
no time of day, so a vintage counts as known from the next midnight in New York.

Frame ``macro``: ``series``, ``ts`` (observation date 00:00 UTC, the period start for
monthly data as FRED dates it), ``available_at``, ``value``, ``source``. ``since`` bounds
``available_at`` (the newest vintage already stored).
"""

from __future__ import annotations

import asyncio
import functools
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.request import urlopen

import fredapi
import pandas as pd
import structlog

from daemon.feeds.base import (
    FetchResult,
    Since,
    as_utc,
    concat,
    empty_frame,
    known_by,
    local_time,
    next_day_start,
    since_for,
)
from daemon.feeds.config import BUNDLED_FRED_SERIES, FredConfig
from daemon.feeds.errors import BadResponse, FeedError, RequestRejected, TransientError
from daemon.feeds.http import retry_after_seconds
from daemon.feeds.resilience import Guard

__all__ = ["BundledMacroSource", "FredSource", "bundled_release_time"]

log = structlog.get_logger(component="feeds.fred")


class _Fredapi(fredapi.Fred):
    """fredapi pointed at ``base_url``, with a timeout and typed errors."""

    def __init__(self, api_key: str, base_url: str, timeout_s: float) -> None:
        super().__init__(api_key=api_key)
        self.root_url = base_url
        self._timeout_s = timeout_s

    # fredapi sends every request through this private (name-mangled) method. Overriding it
    # is the one way to add a timeout (its bare urlopen can hang a thread for ever) and to
    # keep the HTTP status and Retry-After that fredapi folds into a plain ValueError.
    def _Fred__fetch_data(self, url: str) -> ET.Element:
        try:
            with urlopen(f"{url}&api_key={self.api_key}", timeout=self._timeout_s) as response:
                body = response.read()
        except HTTPError as exc:
            reason = _xml_message(exc.read()) or exc.reason
            if exc.code == 429 or exc.code >= 500:
                raise TransientError(f"HTTP {exc.code}: {reason}", retry_after_seconds(exc.headers)) from None
            raise RequestRejected(f"HTTP {exc.code}: {reason}", exc.code) from None
        except TimeoutError:
            raise TransientError(f"timed out after {self._timeout_s:g}s") from None
        except (URLError, ConnectionError) as exc:
            raise TransientError(f"connection failed: {getattr(exc, 'reason', exc)}") from None
        try:
            return ET.fromstring(body)
        except ET.ParseError as exc:
            raise BadResponse(f"malformed XML: {exc}") from None


def _xml_message(body: bytes) -> str | None:
    try:
        return ET.fromstring(body).get("message")
    except ET.ParseError:
        return None


class FredSource:
    """Live FRED/ALFRED. ``fetch(series, since, until)``."""

    name = "fred"
    datasets = ("macro",)
    since_column = "available_at"

    def __init__(self, config: FredConfig, guard: Guard, *, api_key: str, redact: Callable[[str], str] = str) -> None:
        self.config = config
        self.guard = guard
        self._fred = _Fredapi(api_key, config.base_url, config.timeout_s)
        self._redact = redact

    async def fetch(self, series: Sequence[str], since: Since, until: datetime) -> FetchResult:
        until = as_utc(until, "until")
        frames, failures, dropped = [], {}, []
        for series_id in series:
            start = since_for(since, series_id)
            try:
                frame = await self._vintages(series_id, start, until) if self.config.vintages else None
                if frame is None:
                    frame = await self._latest(series_id, start)
            except FeedError as exc:
                failures[series_id] = self._redact(str(exc))
                continue
            frames.append(frame.dropna(subset=["value"]))
        macro = known_by(concat(frames, "macro"), until, dropped, "vintages")
        return FetchResult(self.name, {"macro": macro}, failures, dropped)

    async def _vintages(self, series_id: str, start: pd.Timestamp | None, until: pd.Timestamp) -> pd.DataFrame | None:
        """Every vintage published in [start - 1 day, until]; None if ALFRED lacks the series."""
        realtime_start = _ny_date(start) - timedelta(days=1) if start is not None else None
        call = functools.partial(
            self._fred.get_series_all_releases,
            series_id,
            realtime_start=realtime_start.isoformat() if realtime_start else None,
            realtime_end=_ny_date(until).isoformat(),
        )
        try:
            releases = await self._call(call, f"vintages {series_id}")
        except RequestRejected as exc:
            if exc.status != 400:
                raise
            log.info("vintages_unavailable", source=self.name, series=series_id, reason=self._redact(str(exc)))
            return None
        if releases.empty:
            return empty_frame("macro")
        published = pd.to_datetime(releases["realtime_start"]).dt.date
        return _macro_frame(
            series_id, releases["date"], [next_day_start(d) for d in published], releases["value"], "fred:alfred"
        )

    async def _latest(self, series_id: str, start: pd.Timestamp | None) -> pd.DataFrame:
        lag = timedelta(days=self.config.release_lag_days.get(series_id, self.config.default_release_lag_days))
        observation_start = (start - lag - timedelta(days=7)).date() if start is not None else None
        call = functools.partial(self._fred.get_series, series_id, observation_start=observation_start)
        values = await self._call(call, f"observations {series_id}")
        if values.empty:
            return empty_frame("macro")
        dates = pd.DatetimeIndex(values.index)
        known = [next_day_start((d + lag).date()) for d in dates]
        return _macro_frame(series_id, dates, known, values.to_numpy(), "fred:latest")

    async def _call(self, call: Callable[[], Any], what: str) -> Any:
        async def attempt() -> Any:
            try:
                return await asyncio.to_thread(call)
            except (ValueError, TypeError, KeyError) as exc:  # fredapi parsing a value it did not expect
                raise BadResponse(f"{what}: unexpected content: {exc}") from None

        return await self.guard.call(attempt, what=what)


def _ny_date(stamp: pd.Timestamp) -> date:
    return stamp.tz_convert("America/New_York").date()


def _macro_frame(series_id: str, dates: Any, available_at: Any, values: Any, source: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "series": series_id,
            "ts": pd.to_datetime(pd.Series(dates).to_numpy()).tz_localize("UTC"),
            "available_at": pd.to_datetime(pd.Series(available_at).to_numpy(), utc=True),
            "value": pd.to_numeric(pd.Series(values).to_numpy(), errors="coerce").astype("float64"),
            "source": source,
        }
    )


# -- offline: arch's bundled FRED series -----------------------------------------------


def _weekly_wednesday(day: date) -> pd.Timestamp:
    """EIA publishes a week's spot prices the following Wednesday."""
    return local_time(day + timedelta(days=(7 - day.weekday()) + 2), time(17, 0))


def _monthly(day_of_next_month: int, at: time) -> Callable[[date], pd.Timestamp]:
    def release(period_start: date) -> pd.Timestamp:
        following = (pd.Timestamp(period_start) + pd.offsets.MonthBegin(1)).date()
        return local_time(following.replace(day=day_of_next_month), at)

    return release


# Release schedules, each at or after the real one: BLS CPI mid-month at 08:30 ET (by the
# 20th), Moody's monthly yields in the Fed's H.15 in the first week, EIA weekly.
_RELEASES: dict[str, Callable[[date], pd.Timestamp]] = {
    "DCOILWTICO": _weekly_wednesday,
    "CPILFESL": _monthly(20, time(8, 30)),
    "AAA": _monthly(7, time(17, 0)),
    "BAA": _monthly(7, time(17, 0)),
}


def bundled_release_time(series_id: str, observation: date) -> pd.Timestamp:
    """When the bundled ``series_id`` value for ``observation`` was published (UTC)."""
    return _RELEASES[series_id](observation)


@functools.cache
def _bundled(series_id: str) -> pd.DataFrame:
    from arch.data import core_cpi, default, wti

    loader = {"DCOILWTICO": wti, "CPILFESL": core_cpi, "AAA": default, "BAA": default}[series_id]
    values = loader.load()[series_id].dropna()
    days = [d.date() for d in values.index]
    return _macro_frame(series_id, values.index, [bundled_release_time(series_id, d) for d in days], values, "arch")


class BundledMacroSource:
    """Offline macro: the real FRED history arch ships, released on a realistic schedule.
    ``fetch(series, since, until)`` returns values published in [since, until]."""

    name = "fred_bundled"
    datasets = ("macro",)
    since_column = "available_at"

    async def fetch(self, series: Sequence[str], since: Since, until: datetime) -> FetchResult:
        until = as_utc(until, "until")
        frames, failures = [], {}
        for series_id in series:
            if series_id not in BUNDLED_FRED_SERIES:
                failures[series_id] = f"{series_id} is not bundled (bundled: {', '.join(BUNDLED_FRED_SERIES)})"
                continue
            frame = await asyncio.to_thread(_bundled, series_id)
            start = since_for(since, series_id)
            keep = frame["available_at"] <= until
            if start is not None:
                keep &= frame["available_at"] >= start
            frames.append(frame[keep])
        return FetchResult(self.name, {"macro": concat(frames, "macro")}, failures)
