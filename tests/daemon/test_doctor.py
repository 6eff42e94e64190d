"""tradingd doctor: health checks against real files and a real loopback server."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web
from testkit import REPO, TRADINGD, cli_env, make_config, serve_in_thread

from daemon.doctor import run_checks

NEWS = (REPO / "tests/fixtures/feeds/newsapi/everything_AAPL_page1.json").read_text()
KEY = "sk-doctor-test-0123456789"


@pytest.fixture
def news_server() -> Iterator[str]:
    """A NewsAPI stand-in on 127.0.0.1 that answers /v2/everything from a recorded response."""
    seen: list[str] = []

    async def everything(request: web.Request) -> web.Response:
        seen.append(request.headers.get("X-Api-Key", ""))
        return web.Response(text=NEWS, content_type="application/json")

    app = web.Application()
    app.router.add_get("/v2/everything", everything)
    with serve_in_thread(app) as url:
        yield f"{url}/v2"
    assert seen and all(k == KEY for k in seen)  # the key went in the header, as documented


def levels(checks) -> dict[str, str]:
    return {c.name: c.level for c in checks}


class TestDoctor:
    def test_the_offline_default_is_healthy_and_names_missing_credentials(self, tmp_path: Path, monkeypatch) -> None:
        monkeypatch.chdir(tmp_path)
        for name in ("TRADINGD_NEWSAPI_KEY", "TRADINGD_FMP_API_KEY", "TRADINGD_SECRETS_FILE"):
            monkeypatch.delenv(name, raising=False)
        result = subprocess.run([*TRADINGD, "doctor", "--config", str(REPO / "config.toml"), "--json"],
                                cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        checks = {c["name"]: c for c in json.loads(result.stdout)}
        assert checks["source prices"]["level"] == "ok"
        assert checks["source news"]["level"] == "warning"
        assert "TRADINGD_NEWSAPI_KEY" in checks["source news"]["detail"]

    def test_an_unreadable_lake_file_is_a_problem(self, tmp_path: Path) -> None:
        broken = tmp_path / "lake" / "macro" / "series=AAA" / "year=2001"
        broken.mkdir(parents=True)
        (broken / "part-0.parquet").write_bytes(b"not parquet at all")
        config = make_config(run={"data_dir": str(tmp_path)})
        checks = run_checks(config, None, tmp_path / "t.db")
        assert levels(checks)["lake"] == "error"
        assert any("part-0.parquet" in c.detail for c in checks if c.name == "lake")

    def test_a_lake_source_without_bars_is_a_problem_that_says_how_to_load_some(self, tmp_path: Path) -> None:
        config = make_config(run={"data_dir": str(tmp_path)}, market={"source": "lake"})
        checks = run_checks(config, None, tmp_path / "t.db")
        (prices,) = [c for c in checks if c.name == "source prices"]
        assert prices.level == "error" and "tradingd data import" in prices.detail

    def test_a_source_that_answers_passes_and_the_key_never_shows(self, tmp_path: Path, monkeypatch,
                                                                  news_server: str) -> None:
        monkeypatch.setenv("TRADINGD_NEWSAPI_KEY", KEY)
        config = make_config(run={"data_dir": str(tmp_path)}, feeds={"newsapi": {"base_url": news_server}})
        checks = run_checks(config, None, tmp_path / "t.db")
        news = [c for c in checks if c.name.startswith("source news")]
        assert [c.level for c in news] == ["ok"], news
        assert all(KEY not in c.detail for c in checks)

    def test_a_source_that_is_down_is_a_problem(self, tmp_path: Path, monkeypatch) -> None:
        monkeypatch.setenv("TRADINGD_NEWSAPI_KEY", KEY)
        config = make_config(
            run={"data_dir": str(tmp_path)},
            feeds={"newsapi": {"base_url": "http://127.0.0.1:9/v2", "timeout_s": 2.0,
                               "retry": {"attempts": 1}}},
        )
        checks = run_checks(config, None, tmp_path / "t.db")
        (news,) = [c for c in checks if c.name.startswith("source news")]
        assert news.level == "error" and KEY not in news.detail

    def test_a_corrupt_database_is_a_problem(self, tmp_path: Path) -> None:
        db = tmp_path / "t.db"
        db.write_bytes(b"SQLite format 3\x00" + b"\x00" * 200)
        checks = run_checks(make_config(run={"data_dir": str(tmp_path)}), None, db)
        assert levels(checks)["database"] == "error"
