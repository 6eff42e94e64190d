"""build_sources: which sources run, given the config and the credentials present."""

from __future__ import annotations

import asyncio

import aiohttp
from structlog.testing import capture_logs

from daemon.feeds.config import FeedsConfig
from daemon.feeds.fmp import FmpSource
from daemon.feeds.fred import BundledMacroSource, FredSource
from daemon.feeds.newsapi import NewsApiSource
from daemon.feeds.reddit import RedditSource
from daemon.feeds.secrets import Secrets
from daemon.feeds.sources import build_sources
from daemon.feeds.yahoo import YahooSource

ALL = {
    "TRADINGD_FRED_API_KEY": "fred-0123456789",
    "TRADINGD_FMP_API_KEY": "fmp-0123456789",
    "TRADINGD_NEWSAPI_KEY": "news-0123456789",
    "TRADINGD_REDDIT_CLIENT_ID": "reddit-id-0123",
    "TRADINGD_REDDIT_CLIENT_SECRET": "reddit-secret-0123",
    "TRADINGD_REDDIT_USER_AGENT": "tradingd/0.1 by u/someone",
}


def build(config: FeedsConfig, secrets: Secrets) -> tuple[dict, list]:
    async def scenario() -> dict:
        async with aiohttp.ClientSession() as session:
            return build_sources(config, secrets, session)

    with capture_logs() as logs:
        sources = asyncio.run(scenario())
    return sources, logs


class TestBuildSources:
    def test_the_default_config_runs_offline_macro_and_names_the_missing_credentials_once(self) -> None:
        sources, logs = build(FeedsConfig(), Secrets())

        assert list(sources) == ["macro"] and isinstance(sources["macro"], BundledMacroSource)
        assert [(e["event"], e["source"]) for e in logs] == [
            ("source_disabled", "fmp"),
            ("source_disabled", "newsapi"),
            ("source_disabled", "reddit"),
        ]
        assert logs[2]["missing"] == [
            "TRADINGD_REDDIT_CLIENT_ID",
            "TRADINGD_REDDIT_CLIENT_SECRET",
            "TRADINGD_REDDIT_USER_AGENT",
        ]

    def test_with_credentials_every_live_source_is_built(self) -> None:
        config = FeedsConfig.model_validate({"yahoo": {"enabled": True}, "fred": {"offline": False, "series": ["DFF"]}})

        sources, logs = build(config, Secrets(ALL))

        kinds = {name: type(source) for name, source in sources.items()}
        assert kinds == {
            "prices": YahooSource,
            "macro": FredSource,
            "fundamentals": FmpSource,
            "news": NewsApiSource,
            "social": RedditSource,
        }
        assert logs == []

    def test_a_disabled_source_is_skipped_silently(self) -> None:
        config = FeedsConfig.model_validate(
            {"fmp": {"enabled": False}, "newsapi": {"enabled": False}, "reddit": {"enabled": False}}
        )

        sources, logs = build(config, Secrets())

        assert list(sources) == ["macro"] and logs == []
