"""Financial Modeling Prep against a loopback server replaying recorded responses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pandas as pd
import pytest
from feeds_testkit import FakeTime, Loopback, Step, fixture, fixture_json, http_client, run_logged
from numpy.testing import assert_allclose

from daemon.feeds.config import FmpConfig
from daemon.feeds.fmp import FmpSource
from daemon.feeds.pull import PullReport, pull
from daemon.feeds.secrets import Secrets
from state.lake import Lake

KEY = "fmp-test-key-0123456789"
UNTIL = pd.Timestamp("2024-09-01T00:00Z")
INCOME, RATIOS = "/stable/income-statement", "/stable/ratios"
PAGE0 = fixture_json("fmp/income-statement_AAPL_quarter_page0.json")
PAGE1 = fixture_json("fmp/income-statement_AAPL_quarter_page1.json")
RATIOS0 = fixture_json("fmp/ratios_AAPL_quarter_page0.json")


def run_pull(
    tmp_path: Path, script: dict[str, Any], since: Any = None, **overrides: Any
) -> tuple[PullReport, Lake, Loopback, list, FakeTime]:
    server, clock, lake = Loopback(script), FakeTime(), Lake(tmp_path / "lake")

    async def scenario() -> PullReport:
        async with server.running(), aiohttp.ClientSession() as session:
            settings = {
                "base_url": f"{server.url}/stable",
                "periods": ["quarter"],
                "statements": ["income", "ratios"],
                "page_size": 2,
                "timeout_s": 0.3,
                "retry": {"attempts": 3, "backoff_base_s": 0.01},
                **overrides,
            }
            config = FmpConfig.model_validate(settings)
            http = http_client(
                "fmp", config, session, clock, Secrets({"TRADINGD_FMP_API_KEY": KEY}), params={"apikey": KEY}
            )
            return await pull(
                FmpSource(config, http),
                lake,
                ["AAPL"],
                until=UNTIL,
                start=pd.Timestamp("2015-01-01T00:00Z"),
                since=since,
            )

    report, logs = run_logged(scenario(), lake, KEY)
    return report, lake, server, logs, clock


def stored(lake: Lake) -> pd.DataFrame:
    return lake.read("fundamentals", ["AAPL"], as_of=UNTIL)


HAPPY = {INCOME: [Step(body=PAGE0), Step(body=PAGE1)], RATIOS: [Step(body=RATIOS0), Step(body=[])]}


class TestFmpSource:
    def test_pages_of_statements_and_ratios_are_stored_known_from_their_sec_acceptance(self, tmp_path: Path) -> None:
        report, lake, server, _, _ = run_pull(tmp_path, HAPPY)

        rows = stored(lake)
        revenue = rows[rows["field"] == "revenue"].set_index("period")
        margin = rows[rows["field"] == "grossProfitMargin"].set_index("period")
        assert report.ok and [s.query["page"] for s in server.requests_to(INCOME)] == ["0", "1"]
        assert all(s.query["apikey"] == KEY and s.query["period"] == "quarter" for s in server.seen)
        assert_allclose(revenue.loc[["Q1", "Q2", "Q3"], "value"], [119575e6, 90753e6, 85777e6])
        # acceptedDate is New York time: 18:03:54 EDT = 22:03:54 UTC, not the period end
        assert revenue.loc["Q3", "available_at"] == pd.Timestamp("2024-08-01T22:03:54Z")
        assert margin.loc["Q3", "available_at"] == revenue.loc["Q3", "available_at"]
        assert set(rows["statement"]) == {"income", "ratios"} and (rows["fiscal_year"] == 2024).all()

    def test_rows_are_invisible_before_the_filing_was_accepted(self, tmp_path: Path) -> None:
        _, lake, _, _, _ = run_pull(tmp_path, HAPPY)

        before = lake.read("fundamentals", ["AAPL"], as_of="2024-08-01T22:00Z", columns=["period", "field", "value"])

        assert "Q3" not in set(before["period"]) and {"Q1", "Q2"} <= set(before["period"])

    def test_an_incremental_pull_stops_paging_at_the_newest_stored_period(self, tmp_path: Path) -> None:
        report, _, server, _, _ = run_pull(tmp_path, HAPPY, since=pd.Timestamp("2024-03-30T00:00Z"))

        assert report.ok and [s.query["page"] for s in server.requests_to(INCOME)] == ["0"]

    def test_a_429_is_retried_after_the_seconds_in_retry_after(self, tmp_path: Path) -> None:
        limited = Step(429, {"Error Message": "Limit Reach"}, headers={"Retry-After": "2"})
        script = {**HAPPY, INCOME: [limited, Step(body=PAGE0), Step(body=PAGE1)]}

        report, lake, _, logs, clock = run_pull(tmp_path, script)

        assert report.ok and len(stored(lake)) > 0
        assert clock.sleeps[0] == pytest.approx(2.0)
        assert any(e["event"] == "request_retry" and "HTTP 429" in e["reason"] for e in logs)

    def test_a_500_then_success_stores_everything(self, tmp_path: Path) -> None:
        script = {
            **HAPPY,
            INCOME: [
                Step(500, b"<html>Internal Server Error</html>", content_type="text/html"),
                Step(body=PAGE0),
                Step(body=PAGE1),
            ],
        }

        report, lake, _, _, _ = run_pull(tmp_path, script)

        assert (
            report.ok and len(stored(lake)[lambda f: f["statement"] == "income"]) == 3 * 9
        )  # nine numeric fields per record

    def test_a_timeout_is_retried_and_a_source_that_keeps_timing_out_is_a_logged_failure(self, tmp_path: Path) -> None:
        recovered, _, _, _, _ = run_pull(
            tmp_path / "a", {**HAPPY, INCOME: [Step(body=PAGE0, delay_s=1.0), Step(body=PAGE0), Step(body=PAGE1)]}
        )
        down, lake, _, logs, _ = run_pull(
            tmp_path / "b",
            {INCOME: Step(body=PAGE0, delay_s=1.0), RATIOS: Step(body=RATIOS0, delay_s=1.0)},
            retry={"attempts": 2, "backoff_base_s": 0.01},
        )

        assert recovered.ok
        assert "timed out after 0.3s (gave up after 2 attempts)" in down.failures["AAPL"]
        assert [e["event"] for e in logs if e["log_level"] in ("warning", "error")][-1] == "pull_key_failed"
        assert not (lake.root / "fundamentals").exists()

    def test_malformed_json_is_a_logged_failure_and_nothing_is_stored(self, tmp_path: Path) -> None:
        report, lake, _, logs, _ = run_pull(
            tmp_path,
            {INCOME: Step(body=b'[{"date": "2024-06-29", "revenue": '), RATIOS: Step(body=[])},
            statements=["income"],
        )

        assert "malformed JSON" in report.failures["AAPL"]
        assert any(e["event"] == "pull_key_failed" for e in logs)
        assert not (lake.root / "fundamentals").exists()

    def test_an_empty_result_stores_nothing_and_is_not_an_error(self, tmp_path: Path) -> None:
        report, lake, _, _, _ = run_pull(tmp_path, {INCOME: Step(body=[]), RATIOS: Step(body=[])})

        assert report.ok and report.rows_fetched == 0 and not (lake.root / "fundamentals").exists()

    def test_values_and_records_of_the_wrong_type_are_skipped_and_the_rest_stored(self, tmp_path: Path) -> None:
        script = {INCOME: Step(body=fixture("fmp/income-statement_AAPL_wrong_types.json")), RATIOS: Step(body=[])}

        report, lake, _, logs, _ = run_pull(tmp_path, script, statements=["income"], page_size=10)

        rows = stored(lake)
        dropped = next(e for e in logs if e["event"] == "rows_dropped")
        assert rows[["period", "field"]].values.tolist() == [["Q3", "netIncome"]]
        assert dropped["count"] == 5
        assert any("revenue is str, not a number" in x for x in dropped["examples"])
        assert report.ok

    def test_a_body_that_is_not_utf8_is_a_logged_failure(self, tmp_path: Path) -> None:
        report, lake, _, _, _ = run_pull(
            tmp_path, {INCOME: Step(body=b'[{"symbol": "AAPL\xff\xfe"}]'), RATIOS: Step(body=[])}, statements=["income"]
        )

        assert "not UTF-8" in report.failures["AAPL"] and not (lake.root / "fundamentals").exists()

    def test_an_invalid_key_is_rejected_once_without_retries(self, tmp_path: Path) -> None:
        script = {
            INCOME: Step(401, fixture("fmp/error_invalid_key.json")),
            RATIOS: Step(401, fixture("fmp/error_invalid_key.json")),
        }

        report, _, server, _, _ = run_pull(tmp_path, script)

        assert len(server.requests_to(INCOME)) == 1
        assert "HTTP 401: Invalid API KEY" in report.failures["AAPL"]

    def test_an_error_object_with_status_200_is_reported_not_stored(self, tmp_path: Path) -> None:
        report, lake, _, _, _ = run_pull(
            tmp_path, {INCOME: Step(body=fixture("fmp/error_invalid_key.json"))}, statements=["income"]
        )

        assert "expected a list of records, got an object: Invalid API KEY" in report.failures["AAPL"]
        assert not (lake.root / "fundamentals").exists()
