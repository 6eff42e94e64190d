"""yfinance: parsing, split un-adjustment and incremental pulls on recorded frames, and
failure handling with the download function injected at the edge."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from feeds_testkit import FIXTURES, FakeTime, make_guard
from numpy.testing import assert_allclose
from structlog.testing import capture_logs
from yfinance.exceptions import YFRateLimitError, YFTzMissingError

from daemon.feeds.config import YahooConfig
from daemon.feeds.errors import BadResponse
from daemon.feeds.pull import PullReport, pull
from daemon.feeds.yahoo import YahooSource, parse_history
from state.lake import Lake

START = pd.Timestamp("2020-08-01T00:00Z")


def recorded(downloaded: str) -> pd.DataFrame:
    """A frame as yfinance's Ticker.history returns it (index in the exchange's zone)."""
    frame = pd.read_csv(FIXTURES / "yahoo" / f"AAPL_downloaded_{downloaded}.csv", index_col="Date")
    frame.index = pd.to_datetime(frame.index, utc=True).tz_convert("America/New_York").rename("Date")
    return frame


def close_at(day: str) -> pd.Timestamp:
    return pd.Timestamp(f"{day} 16:00", tz="America/New_York").tz_convert("UTC")


class FakeYahoo:
    """Serves recorded frames from ``start`` on, or raises the scripted exceptions first."""

    def __init__(self, frames: dict[str, pd.DataFrame], failures: list[Exception] | None = None) -> None:
        self.frames = frames
        self.failures = list(failures or [])
        self.calls: list[tuple[str, date]] = []

    def __call__(self, symbol: str, start: date, timeout_s: float) -> pd.DataFrame:
        self.calls.append((symbol, start))
        if self.failures:
            raise self.failures.pop(0)
        if symbol not in self.frames:
            raise YFTzMissingError(symbol)
        frame = self.frames[symbol]
        return frame[frame.index.date >= start]


def run_pull(lake: Lake, download: Callable, symbols: list[str], until: pd.Timestamp) -> tuple[PullReport, list]:
    config = YahooConfig.model_validate({"enabled": True, "retry": {"attempts": 3, "backoff_base_s": 0.01}})
    source = YahooSource(config, make_guard("yahoo", config, FakeTime()), download=download)
    with capture_logs() as logs:
        report = asyncio.run(pull(source, lake, symbols, until=until, start=START))
    assert lake.verify() == []
    return report, logs


class TestParseHistory:
    def test_split_adjusted_history_is_stored_as_raw_prices_with_the_actions(self) -> None:
        bars, actions = parse_history("AAPL", recorded("2020-09-03"))

        assert_allclose(bars["close"], [440.25, 455.61, 444.45, 450.91, 500.04, 499.23, 129.04, 134.18, 131.40])
        assert_allclose(bars["volume"].iloc[5:7], [46907500, 225702700])
        assert actions[["action", "value"]].values.tolist() == [["split", 4.0], ["dividend", 0.82]]
        assert actions["ts"].tolist() == [pd.Timestamp("2020-08-31T04:00Z"), pd.Timestamp("2020-08-07T04:00Z")]

    def test_bars_are_stamped_at_the_close_and_known_after_the_publication_delay(self) -> None:
        bars, _ = parse_history("AAPL", recorded("2020-09-03"))

        assert bars["ts"].iloc[0] == close_at("2020-08-05")
        assert (bars["available_at"] - bars["ts"] == pd.Timedelta("15min")).all()

    def test_adjusting_on_read_as_of_the_download_reproduces_yahoos_columns(self, tmp_path: Path) -> None:
        yahoo = recorded("2020-09-03")
        bars, actions = parse_history("AAPL", yahoo)
        lake = Lake(tmp_path)
        lake.write("bars", bars)
        lake.write("corporate_actions", actions)

        adjusted = lake.read_bars(["AAPL"], None, None, as_of="2020-09-03T00:00Z")
        window = lake.read_bars(["AAPL"], None, "2020-08-06T00:00Z", as_of="2020-09-03T00:00Z")

        assert_allclose(adjusted["adj_close"], yahoo["Adj Close"], rtol=1e-6)
        assert_allclose(
            window["adj_close"], yahoo["Adj Close"].iloc[:1], rtol=1e-6
        )  # the dividend lies after the window
        assert_allclose(adjusted["adj_volume"], yahoo["Volume"], rtol=1e-9)

    @pytest.mark.parametrize(
        ("frame", "message"),
        [
            (recorded("2020-09-03").drop(columns=["Close"]), r"lacks columns \['Close'\]"),
            (recorded("2020-09-03").assign(Volume="many"), "non-numeric history columns"),
            (recorded("2020-09-03").reset_index(drop=True), "not dates"),
        ],
        ids=["missing-column", "wrong-type", "no-dates"],
    )
    def test_a_frame_not_shaped_like_yfinance_history_is_a_bad_response(
        self, frame: pd.DataFrame, message: str
    ) -> None:
        with pytest.raises(BadResponse, match=message):
            parse_history("AAPL", frame)


class TestYahooSource:
    def test_an_incremental_pull_adds_only_what_is_new_and_keeps_prices_raw_across_the_split(
        self, tmp_path: Path
    ) -> None:
        lake = Lake(tmp_path)
        first, _ = run_pull(
            lake,
            FakeYahoo({"AAPL": recorded("2020-08-28")}),
            ["AAPL"],
            until=close_at("2020-08-28") + pd.Timedelta("1h"),
        )
        later = FakeYahoo({"AAPL": recorded("2020-09-03")})

        second, _ = run_pull(lake, later, ["AAPL"], until=pd.Timestamp("2020-09-03T00:00Z"))

        bars = lake.read("bars", ["AAPL"], as_of="2020-09-03T00:00Z")
        assert first.rows_added == {"bars": 6, "corporate_actions": 1}
        assert second.rows_added == {"bars": 3, "corporate_actions": 1}  # 3 sessions and the split
        assert later.calls == [("AAPL", date(2020, 8, 23))]  # the last stored bar minus overlap_days
        assert_allclose(bars["close"], [440.25, 455.61, 444.45, 450.91, 500.04, 499.23, 129.04, 134.18, 131.40])

    def test_a_session_that_has_not_closed_yet_is_not_stored(self, tmp_path: Path) -> None:
        lake = Lake(tmp_path)

        report, logs = run_pull(
            lake,
            FakeYahoo({"AAPL": recorded("2020-09-03")}),
            ["AAPL"],
            until=close_at("2020-09-02") - pd.Timedelta("2h"),
        )

        assert lake.latest("bars", ["AAPL"]) == {"AAPL": close_at("2020-09-01")}
        assert "1 bars not yet available" in next(e for e in logs if e["event"] == "rows_dropped")["examples"][0]
        assert report.ok

    def test_a_delisted_symbol_fails_alone_without_retries(self, tmp_path: Path) -> None:
        lake = Lake(tmp_path)
        download = FakeYahoo({"AAPL": recorded("2020-09-03")})

        report, logs = run_pull(lake, download, ["TWTR", "AAPL"], until=pd.Timestamp("2020-09-03T00:00Z"))

        assert "unknown or delisted symbol" in report.failures["TWTR"]
        assert [c[0] for c in download.calls] == ["TWTR", "AAPL"]
        assert lake.symbols("bars") == ["AAPL"]
        assert next(e for e in logs if e["event"] == "pull_key_failed")["key"] == "TWTR"

    def test_exceptions_are_retried_and_a_download_that_keeps_failing_is_reported(self, tmp_path: Path) -> None:
        flaky = FakeYahoo(
            {"AAPL": recorded("2020-09-03")}, [ConnectionError("curl: (28) Operation timed out"), YFRateLimitError()]
        )
        broken = FakeYahoo({"AAPL": recorded("2020-09-03")}, [OSError("curl: (6) Could not resolve host")] * 3)

        recovered, _ = run_pull(Lake(tmp_path / "a"), flaky, ["AAPL"], until=pd.Timestamp("2020-09-03T00:00Z"))
        failed, _ = run_pull(Lake(tmp_path / "b"), broken, ["AAPL"], until=pd.Timestamp("2020-09-03T00:00Z"))

        assert recovered.ok and len(flaky.calls) == 3
        assert "Could not resolve host (gave up after 3 attempts)" in failed.failures["AAPL"]
        assert not (tmp_path / "b" / "bars").exists()

    def test_an_empty_frame_is_no_news_over_a_weekend_but_a_failure_over_weeks(self, tmp_path: Path) -> None:
        empty = FakeYahoo({"AAPL": recorded("2020-09-03").iloc[:0]})

        weekend, _ = run_pull(Lake(tmp_path / "a"), empty, ["AAPL"], until=pd.Timestamp("2020-08-09T00:00Z"))
        weeks, _ = run_pull(Lake(tmp_path / "b"), empty, ["AAPL"], until=pd.Timestamp("2020-09-30T00:00Z"))

        assert weekend.ok and weekend.rows_fetched == 0
        assert "no price data since 2020-07-26 (possibly delisted)" in weeks.failures["AAPL"]
