"""NewsAPI against a loopback server replaying recorded responses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pandas as pd
import pytest
from feeds_testkit import FakeTime, Loopback, Step, fixture, fixture_json, http_client, run_logged

from daemon.feeds.config import NewsApiConfig
from daemon.feeds.newsapi import NewsApiSource
from daemon.feeds.pull import PullReport, pull
from daemon.feeds.secrets import Secrets
from state.lake import Lake

KEY = "newsapi-test-key-abcdef"
UNTIL = pd.Timestamp("2024-08-02T00:00Z")
WEEK_AGO = UNTIL - pd.Timedelta("7D")
PATH = "/v2/everything"
PAGE1, PAGE2 = fixture_json("newsapi/everything_AAPL_page1.json"), fixture_json("newsapi/everything_AAPL_page2.json")


def run_pull(
    tmp_path: Path, steps: list[Step] | Step, start: pd.Timestamp = WEEK_AGO, **overrides: Any
) -> tuple[PullReport, Lake, Loopback, list, FakeTime]:
    server, clock, lake = Loopback({PATH: steps}), FakeTime(), Lake(tmp_path / "lake")

    async def scenario() -> PullReport:
        async with server.running(), aiohttp.ClientSession() as session:
            settings = {
                "base_url": f"{server.url}/v2",
                "page_size": 2,
                "max_pages": 3,
                "timeout_s": 0.3,
                "retry": {"attempts": 3, "backoff_base_s": 0.01},
                "queries": {"AAPL": "Apple OR AAPL"},
                **overrides,
            }
            config = NewsApiConfig.model_validate(settings)
            http = http_client(
                "newsapi", config, session, clock, Secrets({"TRADINGD_NEWSAPI_KEY": KEY}), headers={"X-Api-Key": KEY}
            )
            return await pull(NewsApiSource(config, http), lake, ["AAPL"], until=UNTIL, start=start)

    report, logs = run_logged(scenario(), lake, KEY)
    assert all(KEY not in "".join(s.query.values()) for s in server.seen)  # the key travels in a header only
    return report, lake, server, logs, clock


def stored(lake: Lake) -> pd.DataFrame:
    return lake.read("texts", ["AAPL"], as_of=UNTIL)


class TestNewsApiSource:
    def test_pages_of_articles_are_stored_per_ticker_known_when_published(self, tmp_path: Path) -> None:
        report, lake, server, _, _ = run_pull(tmp_path, [Step(body=PAGE1), Step(body=PAGE2)])

        rows = stored(lake)
        first = server.seen[0]
        assert report.ok and [s.query["page"] for s in server.seen] == ["1", "2"]
        assert first.headers["X-Api-Key"] == KEY and first.query["q"] == "Apple OR AAPL"
        assert first.query["from"] == "2024-07-26T00:00:00" and first.query["sortBy"] == "publishedAt"
        assert rows["title"].tolist()[0] == "Apple shares rise after earnings"
        assert (rows["ts"] == rows["available_at"]).all() and len(rows) == 3
        assert rows.loc[0, "author"] == "CNBC"  # no byline: the publisher
        assert set(rows["source"]) == {"newsapi"} and set(rows["kind"]) == {"article"}

    def test_a_first_pull_never_asks_further_back_than_lookback_days(self, tmp_path: Path) -> None:
        _, _, server, _, _ = run_pull(
            tmp_path, Step(body=PAGE2), start=pd.Timestamp("2000-01-01T00:00Z"), lookback_days=20
        )

        assert server.seen[0].query["from"] == "2024-07-13T00:00:00"

    def test_articles_are_invisible_before_they_were_published(self, tmp_path: Path) -> None:
        _, lake, _, _, _ = run_pull(tmp_path, [Step(body=PAGE1), Step(body=PAGE2)])

        assert len(lake.read("texts", ["AAPL"], as_of="2024-08-01T20:40Z")) == 1

    def test_a_429_is_retried_after_retry_after(self, tmp_path: Path) -> None:
        limited = Step(429, fixture("newsapi/error_rate_limited.json"), headers={"Retry-After": "3"})

        report, lake, _, logs, clock = run_pull(tmp_path, [limited, Step(body=PAGE1), Step(body=PAGE2)])

        assert report.ok and len(stored(lake)) == 3
        assert clock.sleeps[0] == pytest.approx(3.0)
        assert "rateLimited" not in str(report.failures)
        assert any("You have been rate limited" in e.get("reason", "") for e in logs)

    def test_a_500_then_success_stores_the_articles(self, tmp_path: Path) -> None:
        report, lake, _, _, _ = run_pull(
            tmp_path,
            [
                Step(500, {"status": "error", "code": "unexpectedError", "message": "boom"}),
                Step(body=PAGE1),
                Step(body=PAGE2),
            ],
        )

        assert report.ok and len(stored(lake)) == 3

    def test_a_timeout_is_retried(self, tmp_path: Path) -> None:
        report, lake, server, _, _ = run_pull(
            tmp_path, [Step(body=PAGE1, delay_s=1.0), Step(body=PAGE1), Step(body=PAGE2)]
        )

        assert report.ok and len(server.seen) == 3 and len(stored(lake)) == 3

    def test_malformed_json_is_a_logged_failure_and_nothing_is_stored(self, tmp_path: Path) -> None:
        report, lake, _, logs, _ = run_pull(tmp_path, Step(body=b'{"status": "ok", "articles": [{'))

        assert "malformed JSON" in report.failures["AAPL"]
        assert next(e for e in logs if e["event"] == "pull_key_failed")["key"] == "AAPL"
        assert not (lake.root / "texts").exists()

    def test_an_empty_result_stores_nothing_and_is_not_an_error(self, tmp_path: Path) -> None:
        report, lake, server, _, _ = run_pull(tmp_path, Step(body={"status": "ok", "totalResults": 0, "articles": []}))

        assert report.ok and len(server.seen) == 1 and not (lake.root / "texts").exists()

    def test_articles_with_fields_of_the_wrong_type_are_skipped_and_the_rest_stored(self, tmp_path: Path) -> None:
        report, lake, _, logs, _ = run_pull(
            tmp_path, Step(body=fixture("newsapi/everything_wrong_types.json")), page_size=10
        )

        dropped = next(e for e in logs if e["event"] == "rows_dropped")
        assert stored(lake)["title"].tolist() == ["Apple hits record"]
        assert dropped["count"] == 3 and report.ok

    def test_a_response_of_the_wrong_shape_is_a_logged_failure(self, tmp_path: Path) -> None:
        report, _, _, _, _ = run_pull(tmp_path, Step(body={"status": "ok", "totalResults": "3", "articles": {}}))

        assert "lacks status ok" in report.failures["AAPL"]

    def test_a_body_that_is_not_utf8_is_a_logged_failure(self, tmp_path: Path) -> None:
        report, lake, _, _, _ = run_pull(tmp_path, Step(body='{"status": "ok", "title": "Café"}'.encode("latin-1")))

        assert "not UTF-8" in report.failures["AAPL"] and not (lake.root / "texts").exists()

    def test_the_free_plans_result_cap_keeps_the_pages_already_read(self, tmp_path: Path) -> None:
        capped = Step(426, fixture("newsapi/error_maximum_results.json"))

        report, lake, _, logs, _ = run_pull(tmp_path, [Step(body=PAGE1), capped])

        assert len(stored(lake)) == 2 and report.ok
        examples = next(e for e in logs if e["event"] == "rows_dropped")["examples"]
        assert "stopped at page 2: HTTP 426: You have requested too many results" in examples[0]
