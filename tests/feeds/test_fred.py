"""FRED/ALFRED through fredapi against a loopback server, and the offline arch series."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from feeds_testkit import FakeTime, Loopback, Step, fixture, make_guard, run_logged
from numpy.testing import assert_allclose

from daemon.feeds.config import FredConfig
from daemon.feeds.fred import BundledMacroSource, FredSource, bundled_release_time
from daemon.feeds.pull import PullReport, pull
from daemon.feeds.secrets import Secrets
from state.lake import Lake

KEY = "fredkey0123456789abcdef0123456789"
PATH = "/fred/series/observations"
UNTIL = pd.Timestamp("2024-01-01T00:00Z")
XML = "application/xml"


def xml(name: str, status: int = 200, **kw: Any) -> Step:
    return Step(status, fixture(f"fred/{name}"), content_type=XML, **kw)


def run_pull(
    tmp_path: Path,
    steps: list[Step] | Step,
    series: str = "GDPC1",
    since: Any = None,
    until: pd.Timestamp = UNTIL,
    **overrides: Any,
) -> tuple[PullReport, Lake, Loopback, list, FakeTime]:
    server, clock, lake = Loopback({PATH: steps}), FakeTime(), Lake(tmp_path / "lake")
    secrets = Secrets({"TRADINGD_FRED_API_KEY": KEY})

    async def scenario() -> PullReport:
        async with server.running():
            settings = {
                "offline": False,
                "series": [series],
                "base_url": f"{server.url}/fred",
                "timeout_s": 0.3,
                "retry": {"attempts": 3, "backoff_base_s": 0.01},
                **overrides,
            }
            config = FredConfig.model_validate(settings)
            source = FredSource(config, make_guard("fred", config, clock), api_key=KEY, redact=secrets.redact)
            return await pull(source, lake, [series], until=until, start=pd.Timestamp("1990-01-01T00:00Z"), since=since)

    report, logs = run_logged(scenario(), lake, KEY)
    return report, lake, server, logs, clock


def values(lake: Lake, as_of: str, series: str = "GDPC1") -> list[float]:
    return lake.read("macro", [series], as_of=as_of)["value"].tolist()


class TestFredSource:
    def test_alfred_vintages_make_each_value_known_from_its_release(self, tmp_path: Path) -> None:
        report, lake, server, _, _ = run_pull(tmp_path, xml("alfred_GDPC1.xml"))

        query = server.seen[0].query
        assert report.ok and query["series_id"] == "GDPC1" and query["api_key"] == KEY
        assert query["realtime_end"] == "2023-12-31"
        assert values(lake, "2023-07-28T03:59Z") == []
        assert_allclose(values(lake, "2023-07-28T04:00Z"), [22225.35])  # first release, next NY midnight
        assert_allclose(values(lake, "2023-09-15T00:00Z"), [22212.3])
        assert_allclose(values(lake, "2023-12-31T00:00Z"), [22225.35, 22506.363])
        assert len(lake.read("macro", ["GDPC1"], as_of=UNTIL, vintages="all")) == 5

    def test_an_incremental_pull_asks_alfred_for_vintages_since_the_last_stored_one(self, tmp_path: Path) -> None:
        report, _, server, _, _ = run_pull(tmp_path, xml("alfred_GDPC1.xml"), since=pd.Timestamp("2023-10-27T04:00Z"))

        assert report.ok and server.seen[0].query["realtime_start"] == "2023-10-26"

    def test_a_series_alfred_lacks_falls_back_to_latest_values_with_the_release_lag(self, tmp_path: Path) -> None:
        steps = {"vintages": xml("error_not_in_alfred.xml", 400), "latest": xml("observations_DCOILWTICO.xml")}
        script = [steps["vintages"], steps["latest"]]

        report, lake, _, logs, _ = run_pull(
            tmp_path,
            script,
            series="DCOILWTICO",
            until=pd.Timestamp("2024-01-13T00:00Z"),
            release_lag_days={"DCOILWTICO": 7},
        )

        rows = lake.read("macro", ["DCOILWTICO"], as_of="2024-01-13T00:00Z")
        assert report.ok and any(e["event"] == "vintages_unavailable" for e in logs)
        assert_allclose(rows["value"], [70.62, 72.73, 72.13])  # "." (no value) is not stored
        assert rows["available_at"].iloc[0] == pd.Timestamp("2024-01-10T05:00Z")  # Jan 2 + 7 days, next NY midnight
        assert set(rows["source"]) == {"fred:latest"}

    def test_a_429_is_retried_after_retry_after(self, tmp_path: Path) -> None:
        report, lake, _, _, clock = run_pull(
            tmp_path, [xml("error_rate_limit.xml", 429, headers={"Retry-After": "4"}), xml("alfred_GDPC1.xml")]
        )

        assert report.ok and clock.sleeps[0] == pytest.approx(4.0)
        assert len(lake.read("macro", ["GDPC1"], as_of=UNTIL)) == 2

    def test_a_500_then_success_stores_the_vintages(self, tmp_path: Path) -> None:
        report, lake, _, _, _ = run_pull(
            tmp_path, [Step(500, b"Internal Server Error", content_type="text/plain"), xml("alfred_GDPC1.xml")]
        )

        assert report.ok and len(lake.read("macro", ["GDPC1"], as_of=UNTIL)) == 2

    def test_a_timeout_is_retried(self, tmp_path: Path) -> None:
        report, _, server, logs, _ = run_pull(tmp_path, [xml("alfred_GDPC1.xml", delay_s=1.0), xml("alfred_GDPC1.xml")])

        assert report.ok and len(server.seen) == 2
        assert "timed out after 0.3s" in next(e for e in logs if e["event"] == "request_retry")["reason"]

    @pytest.mark.parametrize(
        ("body", "expected"),
        [
            (b"<observations><observation date='2023-04-01'", "malformed XML"),
            (fixture("fred/alfred_wrong_types.xml"), "unexpected content"),
            ('<?xml version="1.0" encoding="utf-8"?><observations note="caf\xe9"/>'.encode("latin-1"), "malformed XML"),
        ],
        ids=["malformed", "wrong-field-type", "not-utf8"],
    )
    def test_a_response_that_cannot_be_parsed_is_a_logged_failure_and_nothing_is_stored(
        self, tmp_path: Path, body: bytes, expected: str
    ) -> None:
        report, lake, _, logs, _ = run_pull(tmp_path, Step(body=body, content_type=XML))

        assert expected in report.failures["GDPC1"]
        assert any(e["event"] == "pull_key_failed" for e in logs)
        assert not (lake.root / "macro").exists()

    def test_an_empty_result_stores_nothing_and_is_not_an_error(self, tmp_path: Path) -> None:
        report, lake, _, _, _ = run_pull(tmp_path, xml("alfred_empty.xml"))

        assert report.ok and report.rows_fetched == 0 and not (lake.root / "macro").exists()

    def test_a_rejected_key_is_reported_without_the_key(self, tmp_path: Path) -> None:
        report, _, server, _, _ = run_pull(tmp_path, xml("error_bad_key.xml", 400))

        assert "api_key is not registered" in report.failures["GDPC1"]
        assert len(server.seen) == 2  # the vintage call, then the latest-values fallback; no retries


class TestBundledMacroSource:
    def test_values_are_released_on_the_published_schedule_never_at_period_start(self) -> None:
        assert bundled_release_time("CPILFESL", pd.Timestamp("2018-10-01").date()) == pd.Timestamp("2018-11-20T13:30Z")
        assert bundled_release_time("AAA", pd.Timestamp("2018-11-01").date()) == pd.Timestamp("2018-12-07T22:00Z")
        # EIA's weekly release: a Monday's spot price is out on the next week's Wednesday
        assert bundled_release_time("DCOILWTICO", pd.Timestamp("2018-12-31").date()) == pd.Timestamp(
            "2019-01-09T22:00Z"
        )

    def test_incremental_pulls_store_the_real_arch_series_as_they_are_released(self, tmp_path: Path) -> None:
        from arch.data import core_cpi

        lake = Lake(tmp_path / "lake")
        source = BundledMacroSource()
        start = pd.Timestamp("2018-01-01T00:00Z")

        first = asyncio.run(pull(source, lake, ["CPILFESL"], until=pd.Timestamp("2018-06-30T00:00Z"), start=start))
        second = asyncio.run(pull(source, lake, ["CPILFESL"], until=pd.Timestamp("2018-12-31T00:00Z"), start=start))

        stored = lake.read("macro", ["CPILFESL"], start="2018-01-01T00:00Z", as_of="2018-12-31T00:00Z")
        expected = core_cpi.load()["CPILFESL"].loc["2018-01-01":"2018-11-01"]
        assert first.ok and second.ok and second.rows_added["macro"] == 6  # Jun..Nov released in Jul..Dec
        assert_allclose(stored["value"], expected.to_numpy())
        assert stored["ts"].iloc[-1] == pd.Timestamp("2018-11-01T00:00Z")

    def test_a_series_that_is_not_bundled_is_a_failure_not_a_crash(self, tmp_path: Path) -> None:
        report = asyncio.run(pull(BundledMacroSource(), Lake(tmp_path), ["DFF"], until=UNTIL, start=UNTIL))

        assert "DFF is not bundled" in report.failures["DFF"]
