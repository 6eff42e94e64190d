"""A daemon run against a loopback NewsAPI: pull -> scores -> features, with VADER when no
weights can be loaded (named in the log and in every row)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from aiohttp import web
from testkit import REPO, TRADINGD, cli_env, serve_in_thread

from daemon.sentiment import SentimentStore
from models.data import load_bundled
from models.features import build_features
from state.lake import Lake

ARTICLES = (REPO / "tests/fixtures/feeds/newsapi/everything_dec2022.json").read_text()
KEY = "newsapi-sentiment-test-key"


@pytest.fixture
def news_server() -> Iterator[tuple[str, list[str]]]:
    """NewsAPI on 127.0.0.1 answering /v2/everything with recorded-shape articles."""
    queries: list[str] = []

    async def everything(request: web.Request) -> web.Response:
        assert request.headers.get("X-Api-Key") == KEY
        queries.append(request.query.get("q", ""))
        return web.Response(text=ARTICLES, content_type="application/json")

    app = web.Application()
    app.router.add_get("/v2/everything", everything)
    with serve_in_thread(app) as url:
        yield f"{url}/v2", queries


@pytest.mark.slow
def test_a_daemon_run_goes_from_pull_to_scores_to_features_with_vader(tmp_path: Path, news_server) -> None:
    base_url, queries = news_server
    data = tmp_path / "data"
    config = tmp_path / "news.toml"
    config.write_text(
        (REPO / "config.toml").read_text().replace("replay_start = 2018-01-02", "replay_start = 2022-12-01")
        .replace("stop_timeout_s = 5.0", "stop_timeout_s = 120.0")  # a slow machine: let scoring finish
        .replace('symbols = []  ', 'symbols = ["AAPL", "MSFT", "XOM"]  ')
        .replace('data_dir = "data"  ', f'data_dir = "{data}"  ')
        .replace('# cache_dir = "data/hf"  ', f'cache_dir = "{tmp_path / "hf-cache"}"  ')
        + f'\n[feeds.newsapi]\nbase_url = "{base_url}"\nlookback_days = 30\n'
        # replayed days pass in a fraction of a second: NewsAPI's daily quota would bite
        + '\n[feeds.newsapi.rate_limit]\nrequests = 100\nper = "second"\nburst = 100\n'
        + '\n[jobs.pull_news]\ncron = "0 7 * * mon-fri"\n'
    )
    assert f'cache_dir = "{tmp_path / "hf-cache"}"' in config.read_text()  # an empty cache, for real
    env = cli_env() | {"TRADINGD_NEWSAPI_KEY": KEY, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [*TRADINGD, "run", "--config", str(config), "--pace", "2", "--exit-when-done", "--log-format", "json"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    logs = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert queries and KEY not in result.stdout + result.stderr

    # VADER, said once, with the reason.
    unavailable = [e for e in logs if e["event"] == "sentiment_model_unavailable"]
    assert len(unavailable) == 1 and unavailable[0]["using"] == "vader"
    assert "ProsusAI/finbert" in unavailable[0]["reason"]
    scored = [e for e in logs if e["event"] == "texts_scored"]
    assert scored and all(e["model"] == "vader" for e in scored)

    lake = Lake(data / "lake")
    now = pd.Timestamp("2023-06-01T00:00Z")
    rows = lake.read("sentiment", as_of=now)
    # Five articles published inside the run (the 2030 one is in the future): one is a
    # syndicated copy of another, and every ticker's pull returned all of them.
    assert sorted(rows["snippet"].str[:20]) == sorted(
        ["Apple shares rise as", "Exxon falls as oil s", "Microsoft faces regu", "Stocks to watch: ALL"]
    )
    assert set(rows["model"]) == {"vader"} and rows["hash"].is_unique
    by_title = rows.set_index(rows["snippet"].str[:5])
    assert by_title.loc["Apple", "symbols"] == "AAPL" and by_title.loc["Apple", "score"] > 0
    assert by_title.loc["Micro", "symbols"] == "MSFT" and by_title.loc["Micro", "score"] < 0
    assert by_title.loc["Stock", "symbols"] == ""  # ALL, ON, IT, KEY are words here
    daily = lake.read("sentiment_daily", as_of=now)
    assert set(daily["symbol"]) == {"AAPL", "MSFT", "XOM"} and set(daily["model"]) == {"vader"}
    with sqlite3.connect(data / "tradingd.db") as conn:
        latest = dict(conn.execute("select symbol, model from sentiment_latest").fetchall())
    assert latest == {"AAPL": "vader", "MSFT": "vader", "XOM": "vader"}

    # ...and into the features, point in time.
    prices = load_bundled(symbols=("AAPL", "MSFT", "XOM"), macro=False).prices
    prices.index = prices.index + pd.Timedelta(hours=21)  # the 16:00 New York close, UTC
    store = SentimentStore(lake, None, half_life_days=3.0)
    decision = pd.Timestamp("2022-12-09T21:00Z")
    sentiment = store.scores("vader", None, None, as_of=decision)
    panel = build_features(prices, decision.tz_localize(None), sentiment=sentiment)
    count = panel.values[-1, :, panel.names.index("sent_count_5")]
    decayed = panel.values[-1, :, panel.names.index("sent_decayed")]
    assert (count > 0).all()
    assert decayed[0] > 0 > decayed[1]  # Apple up, Microsoft down
