"""Reddit through asyncpraw against a loopback server replaying recorded responses."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from feeds_testkit import FakeTime, Loopback, Step, fixture_json, make_guard, run_logged

from daemon.feeds.config import RedditConfig
from daemon.feeds.pull import PullReport, pull
from daemon.feeds.reddit import RedditSource
from daemon.feeds.secrets import Secrets
from state.lake import Lake

CLIENT_ID, SECRET = "reddit-client-id-123", "reddit-client-secret-456"
UNTIL = pd.Timestamp("2024-08-02T00:00Z")
# asyncprawcore's own use of aiohttp's deprecated BasicAuth: not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:asyncprawcore.*")
SINCE = pd.Timestamp("2024-07-31T00:00Z")
NEW = "/r/wallstreetbets/new"
PAGE1, PAGE2 = (
    fixture_json("reddit/new_wallstreetbets_page1.json"),
    fixture_json("reddit/new_wallstreetbets_page2.json"),
)
POSTS = ("1ehv9xk", "1ehv2qa", "1ehr5mb")


def script(listing: list[Step] | Step | None = None) -> dict[str, Any]:
    routes: dict[str, Any] = {
        "/api/v1/access_token": Step(body=fixture_json("reddit/access_token.json")),
        NEW: listing if listing is not None else [Step(body=PAGE1), Step(body=PAGE2)],
    }
    routes.update({f"/comments/{p}/": Step(body=fixture_json(f"reddit/comments_{p}.json")) for p in POSTS})
    return routes


def run_pull(
    tmp_path: Path, routes: dict[str, Any], since: pd.Timestamp = SINCE, **overrides: Any
) -> tuple[PullReport, Lake, Loopback, list, FakeTime]:
    server, clock, lake = Loopback(routes), FakeTime(), Lake(tmp_path / "lake")
    secrets = Secrets({"TRADINGD_REDDIT_CLIENT_ID": CLIENT_ID, "TRADINGD_REDDIT_CLIENT_SECRET": SECRET})

    async def scenario() -> PullReport:
        async with server.running():
            settings = {
                "oauth_url": server.url,
                "reddit_url": server.url,
                "subreddits": ["wallstreetbets"],
                "posts_per_subreddit": 3,
                "comments_per_post": 2,
                "timeout_s": 0.3,
                "retry": {"attempts": 3, "backoff_base_s": 0.01},
                **overrides,
            }
            config = RedditConfig.model_validate(settings)
            source = RedditSource(
                config,
                make_guard("reddit", config, clock),
                client_id=CLIENT_ID,
                client_secret=SECRET,
                user_agent="tradingd tests",
                redact=secrets.redact,
            )
            return await pull(source, lake, ["wallstreetbets"], until=UNTIL, start=SINCE, since=since)

    report, logs = run_logged(scenario(), lake, SECRET)
    return report, lake, server, logs, clock


def stored(lake: Lake) -> pd.DataFrame:
    return lake.read("texts", ["wallstreetbets"], as_of=UNTIL)


class TestRedditSource:
    def test_new_posts_across_pages_and_their_top_comments_are_stored(self, tmp_path: Path) -> None:
        report, lake, server, _, _ = run_pull(tmp_path, script())

        rows = stored(lake).set_index("id")
        listing = server.requests_to(NEW)
        comments = server.requests_to("/comments/1ehv9xk/")[0]
        assert report.ok and len(listing) == 2 and listing[1].query["after"] == "t3_1ehv2qa"
        assert comments.query["sort"] == "top" and comments.headers["Authorization"].startswith("bearer ")
        assert sorted(rows.index) == [
            "t1_lz0b7d1",
            "t1_lz1a1b2",
            "t1_lz1a9c4",
            "t3_1ehr5mb",
            "t3_1ehv2qa",
            "t3_1ehv9xk",
        ]
        assert rows.loc["t1_lz1a1b2", "parent_id"] == "t3_1ehv9xk" and rows.loc["t1_lz1a1b2", "kind"] == "comment"
        assert rows.loc["t3_1ehv9xk", "available_at"] == pd.Timestamp("2024-08-01T20:45Z")
        assert rows.loc["t3_1ehv9xk", "title"] == "AAPL earnings beat, calls printing"

    def test_an_incremental_pull_stops_at_the_newest_stored_post(self, tmp_path: Path) -> None:
        report, lake, server, _, _ = run_pull(tmp_path, script(), since=pd.Timestamp("2024-08-01T05:00Z"))

        assert report.ok and len(server.requests_to(NEW)) == 2
        assert not server.requests_to("/comments/1ehr5mb/")
        assert set(stored(lake).query("kind == 'post'")["id"]) == {"t3_1ehv9xk", "t3_1ehv2qa"}

    def test_a_429_is_retried_after_retry_after(self, tmp_path: Path) -> None:
        listing = [
            Step(429, {"message": "Too Many Requests", "error": 429}, headers={"Retry-After": "5"}),
            Step(body=PAGE1),
            Step(body=PAGE2),
        ]

        report, lake, _, _, clock = run_pull(tmp_path, script(listing))

        assert report.ok and clock.sleeps[0] == pytest.approx(5.0) and len(stored(lake)) == 6

    def test_a_500_then_success_stores_the_posts(self, tmp_path: Path) -> None:
        listing = [
            Step(500, b"<html>upstream error</html>", content_type="text/html"),
            Step(body=PAGE1),
            Step(body=PAGE2),
        ]

        report, lake, _, _, clock = run_pull(tmp_path, script(listing))

        assert report.ok and len(stored(lake)) == 6
        assert len(clock.sleeps) == 1  # retried by our Guard, not asyncprawcore's own sleeping loop

    def test_a_timeout_is_retried(self, tmp_path: Path) -> None:
        report, lake, server, _, _ = run_pull(
            tmp_path, script([Step(body=PAGE1, delay_s=1.0), Step(body=PAGE1), Step(body=PAGE2)])
        )

        assert report.ok and len(server.requests_to(NEW)) == 3 and len(stored(lake)) == 6

    @pytest.mark.parametrize(
        ("body", "expected"),
        [
            (b'{"kind": "Listing", "data": {"children": [', "malformed JSON"),
            ('{"kind": "Listing", "title": "caf\xe9"}'.encode("latin-1"), "malformed JSON"),
        ],
        ids=["malformed", "not-utf8"],
    )
    def test_an_unreadable_listing_is_a_logged_failure_and_nothing_is_stored(
        self, tmp_path: Path, body: bytes, expected: str
    ) -> None:
        report, lake, _, logs, _ = run_pull(tmp_path, script(Step(body=body)))

        assert expected in report.failures["wallstreetbets"]
        assert any(e["event"] == "pull_key_failed" for e in logs)
        assert not (lake.root / "texts").exists()

    def test_an_empty_listing_stores_nothing_and_is_not_an_error(self, tmp_path: Path) -> None:
        empty = {"kind": "Listing", "data": {"after": None, "dist": 0, "children": [], "before": None}}

        report, lake, _, _, _ = run_pull(tmp_path, script(Step(body=empty)))

        assert report.ok and report.rows_fetched == 0 and not (lake.root / "texts").exists()

    def test_posts_with_fields_of_the_wrong_type_are_skipped_and_the_rest_stored(self, tmp_path: Path) -> None:
        page = copy.deepcopy(PAGE1)
        page["data"]["children"][1]["data"]["created_utc"] = "yesterday"

        report, lake, _, logs, _ = run_pull(tmp_path, script([Step(body=page), Step(body=PAGE2)]))

        assert report.ok and "t3_1ehv2qa" not in set(stored(lake)["id"])
        assert "created_utc 'yesterday'" in next(e for e in logs if e["event"] == "rows_dropped")["examples"][0]

    def test_a_private_subreddit_is_rejected_without_retries(self, tmp_path: Path) -> None:
        report, _, server, _, _ = run_pull(
            tmp_path, script(Step(403, {"reason": "private", "message": "Forbidden", "error": 403}))
        )

        assert "Forbidden" in report.failures["wallstreetbets"] and len(server.requests_to(NEW)) == 1
