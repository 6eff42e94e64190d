"""Public names of the feeds package, and ``build_sources``: config + credentials -> sources.

The lead's ``daemon/feeds/__init__.py`` re-exports from here.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable

import aiohttp
import structlog

from daemon.feeds.base import FetchResult, Source
from daemon.feeds.config import (
    BreakerConfig,
    FeedsConfig,
    FmpConfig,
    FredConfig,
    NewsApiConfig,
    RateLimitConfig,
    RedditConfig,
    RetryConfig,
    YahooConfig,
)
from daemon.feeds.errors import (
    BadResponse,
    CircuitOpen,
    FeedError,
    QuotaExhausted,
    RequestRejected,
    SourceUnavailable,
)
from daemon.feeds.fmp import FmpSource
from daemon.feeds.fred import BundledMacroSource, FredSource
from daemon.feeds.http import HttpClient, new_session
from daemon.feeds.newsapi import NewsApiSource
from daemon.feeds.pull import PullReport, pull
from daemon.feeds.reddit import RedditSource
from daemon.feeds.resilience import Guard, Sleep
from daemon.feeds.secrets import SECRET_NAMES, Secrets, load_secrets, redact_processor
from daemon.feeds.staleness import Freshness, check_freshness
from daemon.feeds.yahoo import YahooSource

__all__ = [
    "BadResponse",
    "BreakerConfig",
    "BundledMacroSource",
    "CircuitOpen",
    "FeedError",
    "FeedsConfig",
    "FetchResult",
    "FmpConfig",
    "FmpSource",
    "FredConfig",
    "FredSource",
    "Freshness",
    "Guard",
    "HttpClient",
    "NewsApiConfig",
    "NewsApiSource",
    "PullReport",
    "QuotaExhausted",
    "RateLimitConfig",
    "RedditConfig",
    "RedditSource",
    "RequestRejected",
    "RetryConfig",
    "SECRET_NAMES",
    "Secrets",
    "Source",
    "SourceUnavailable",
    "YahooConfig",
    "YahooSource",
    "build_sources",
    "check_freshness",
    "load_secrets",
    "new_session",
    "pull",
    "redact_processor",
]

log = structlog.get_logger(component="feeds")

# Credentials each source needs (names only).
REQUIRED = {
    "fred": ("TRADINGD_FRED_API_KEY",),
    "fmp": ("TRADINGD_FMP_API_KEY",),
    "newsapi": ("TRADINGD_NEWSAPI_KEY",),
    "reddit": ("TRADINGD_REDDIT_CLIENT_ID", "TRADINGD_REDDIT_CLIENT_SECRET", "TRADINGD_REDDIT_USER_AGENT"),
}


def _usable(secrets: Secrets, name: str, enabled: bool) -> bool:
    """Whether source ``name`` is on and has its credentials (else one ``source_disabled`` line)."""
    if not enabled:
        return False
    if missing := secrets.missing(*REQUIRED.get(name, ())):
        log.warning("source_disabled", source=name, reason="missing credentials", missing=missing)
        return False
    return True


def build_sources(
    config: FeedsConfig,
    secrets: Secrets,
    session: aiohttp.ClientSession,
    *,
    sleep: Sleep = asyncio.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    rng: Callable[[], float] = random.random,
) -> dict[str, Source]:
    """The enabled sources, keyed ``prices``, ``macro``, ``fundamentals``, ``news``, ``social``.

    A source whose credentials are missing is left out, with one ``source_disabled`` log
    line naming the missing variables. Offline FRED (the default) needs no key.
    """

    def guard(name: str, source_config) -> Guard:
        return Guard.from_config(name, source_config, sleep=sleep, monotonic=monotonic, rng=rng)

    def http(name: str, source_config, **auth: dict[str, str]) -> HttpClient:
        return HttpClient(
            name,
            source_config.base_url,
            session,
            guard(name, source_config),
            timeout_s=source_config.timeout_s,
            redact=secrets.redact,
            **auth,
        )

    sources: dict[str, Source] = {}
    if config.yahoo.enabled:
        sources["prices"] = YahooSource(config.yahoo, guard("yahoo", config.yahoo))
    if config.fred.enabled and config.fred.offline:
        sources["macro"] = BundledMacroSource()
    elif _usable(secrets, "fred", config.fred.enabled):
        key = secrets.get("TRADINGD_FRED_API_KEY")
        sources["macro"] = FredSource(config.fred, guard("fred", config.fred), api_key=key, redact=secrets.redact)
    if _usable(secrets, "fmp", config.fmp.enabled):
        key = secrets.get("TRADINGD_FMP_API_KEY")  # FMP documents the key as a query parameter only
        sources["fundamentals"] = FmpSource(config.fmp, http("fmp", config.fmp, params={"apikey": key}))
    if _usable(secrets, "newsapi", config.newsapi.enabled):
        key = secrets.get("TRADINGD_NEWSAPI_KEY")
        sources["news"] = NewsApiSource(config.newsapi, http("newsapi", config.newsapi, headers={"X-Api-Key": key}))
    if _usable(secrets, "reddit", config.reddit.enabled):
        sources["social"] = RedditSource(
            config.reddit,
            guard("reddit", config.reddit),
            client_id=secrets.get("TRADINGD_REDDIT_CLIENT_ID"),
            client_secret=secrets.get("TRADINGD_REDDIT_CLIENT_SECRET"),
            user_agent=secrets.get("TRADINGD_REDDIT_USER_AGENT"),
            redact=secrets.redact,
        )
    return sources
