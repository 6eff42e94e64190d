"""pull(): incremental since, storing, and surviving a failing source or unusable rows."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import pandas as pd
from structlog.testing import capture_logs

from daemon.feeds.base import FetchResult, Since
from daemon.feeds.errors import FeedError, SourceUnavailable
from daemon.feeds.pull import pull
from state.lake import Lake

START = pd.Timestamp("2020-01-01T00:00Z")
UNTIL = pd.Timestamp("2020-01-10T00:00Z")


def bars(symbol: str, day: str, close: float) -> pd.DataFrame:
    ts = pd.Timestamp(f"{day}T21:00Z")
    return pd.DataFrame(
        {
            "symbol": [symbol],
            "ts": [ts],
            "available_at": [ts],
            "open": close,
            "high": close,
            "low": close,
            "close": close,
            "volume": 1.0,
            "source": "canned",
        }
    )


class CannedSource:
    """A source at the edge: returns canned frames (or raises) and records its calls."""

    name = "canned"
    datasets = ("bars",)
    since_column = "ts"

    def __init__(self, frames: dict[str, pd.DataFrame] | None = None, error: FeedError | None = None) -> None:
        self.frames = frames or {}
        self.error = error
        self.calls: list[tuple[Sequence[str], Since, datetime]] = []

    async def fetch(self, keys: Sequence[str], since: Since, until: datetime) -> FetchResult:
        self.calls.append((keys, since, until))
        if self.error:
            raise self.error
        return FetchResult(self.name, self.frames, {"MSFT": "HTTP 404: unknown symbol"})


class TestPull:
    def test_since_is_the_newest_stored_row_per_key_or_start_for_new_keys(self, tmp_path: Path) -> None:
        lake = Lake(tmp_path)
        lake.write("bars", bars("AAPL", "2020-01-03", 75.0))
        source = CannedSource({"bars": bars("AAPL", "2020-01-06", 74.9)})

        report = asyncio.run(pull(source, lake, ["AAPL", "MSFT"], until=UNTIL, start=START))

        assert source.calls[0][1] == {"AAPL": pd.Timestamp("2020-01-03T21:00Z"), "MSFT": START}
        assert report.rows_added == {"bars": 1} and report.failures == {"MSFT": "HTTP 404: unknown symbol"}
        assert report.frames["bars"]["close"].tolist() == [74.9]  # for the job's BarsClosed
        assert not report.ok and report.error is None

    def test_a_source_that_is_down_ends_in_a_logged_error_not_an_exception(self, tmp_path: Path) -> None:
        source = CannedSource(error=SourceUnavailable("canned: GET /x: HTTP 503 (gave up after 4 attempts)"))

        with capture_logs() as logs:
            report = asyncio.run(pull(source, Lake(tmp_path), ["AAPL"], until=UNTIL, start=START))

        assert "gave up after 4 attempts" in report.error
        assert [(e["event"], e["log_level"]) for e in logs] == [("pull_failed", "error")]

    def test_frames_that_do_not_fit_the_lake_are_refused_before_any_dataset_is_written(self, tmp_path: Path) -> None:
        broken_actions = bars("AAPL", "2020-01-06", 1.0)  # bars columns under the corporate_actions name
        source = CannedSource({"bars": bars("AAPL", "2020-01-06", 74.9), "corporate_actions": broken_actions})
        lake = Lake(tmp_path)

        with capture_logs() as logs:
            report = asyncio.run(pull(source, lake, ["AAPL"], until=UNTIL, start=START))

        assert "corporate_actions: missing columns" in report.error
        assert any(e["event"] == "pull_store_failed" for e in logs)
        assert not (tmp_path / "bars").exists()
