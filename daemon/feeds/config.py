"""``[feeds.*]`` config: one frozen section per source. Credentials are never here (see
daemon.feeds.secrets); validation errors carry the key path (``feeds.fmp.rate_limit.requests``).

Rate-limit defaults are the documented limits of each source: Yahoo about 2000
requests/hour, FMP 250 calls/day on the free plan (750 on paid ones), NewsAPI 100
requests/day on the free tier, Reddit 60 requests/minute; FRED publishes none, so the
default is a polite 60/minute.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo, field_validator

from core.settings import Section

__all__ = [
    "BUNDLED_FRED_SERIES",
    "BreakerConfig",
    "FeedsConfig",
    "FmpConfig",
    "FredConfig",
    "NewsApiConfig",
    "RateLimitConfig",
    "RedditConfig",
    "RetryConfig",
    "SourceConfig",
    "YahooConfig",
]

# FRED series whose real history ships with arch (the offline path).
BUNDLED_FRED_SERIES = ("DCOILWTICO", "CPILFESL", "AAA", "BAA")
_SECONDS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}


def _tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"expected an http(s) URL, got {value!r}")
    return value.rstrip("/")


Names = Annotated[tuple[str, ...], BeforeValidator(_tuple)]
Url = Annotated[str, AfterValidator(_http_url)]
Statement = Literal["income", "balance", "cashflow", "ratios"]
Period = Literal["quarter", "annual"]


class RateLimitConfig(Section):
    """A token bucket: ``requests`` per ``per``, bursts of up to ``burst``. A call that
    would wait longer than ``max_wait_s`` for a slot fails instead (quota exhausted)."""

    requests: int = Field(gt=0)
    per: Literal["second", "minute", "hour", "day"]
    burst: int = Field(default=10, gt=0)
    max_wait_s: float = Field(default=60.0, ge=0)

    @property
    def rate_per_s(self) -> float:
        return self.requests / _SECONDS[self.per]

    @field_validator("burst")
    @classmethod
    def _burst_within_limit(cls, burst: int, info: ValidationInfo) -> int:
        requests = info.data.get("requests")
        if requests is not None and burst > requests:
            raise ValueError(f"burst ({burst}) exceeds requests per {info.data.get('per')} ({requests})")
        return burst


class RetryConfig(Section):
    """Exponential backoff with full jitter: attempt n waits up to ``base * 2**(n-1)``,
    capped at ``backoff_max_s``; a ``Retry-After`` above ``max_retry_after_s`` gives up."""

    attempts: int = Field(default=4, ge=1, le=10)
    backoff_base_s: float = Field(default=0.5, gt=0)
    backoff_max_s: float = Field(default=30.0, gt=0)
    max_retry_after_s: float = Field(default=120.0, ge=0)


class BreakerConfig(Section):
    """Open after ``failure_threshold`` failed attempts in a row; try again after ``reset_after_s``."""

    failure_threshold: int = Field(default=5, ge=1)
    reset_after_s: float = Field(default=300.0, gt=0)


class SourceConfig(Section):
    """What every source has: an on/off switch, a timeout, retries and a breaker."""

    enabled: bool = True
    timeout_s: float = Field(default=30.0, gt=0)
    retry: RetryConfig = RetryConfig()
    breaker: BreakerConfig = BreakerConfig()
    rate_limit: RateLimitConfig
    # TOML dates arrive as strings: parse them (lax) in this one strict section.
    history_start: date = Field(default=date(2000, 1, 1), strict=False)


class YahooConfig(SourceConfig):
    """``[feeds.yahoo]``: daily bars, splits, dividends via yfinance (live only; off by default)."""

    enabled: bool = False
    rate_limit: RateLimitConfig = RateLimitConfig(requests=2000, per="hour", burst=20)
    overlap_days: int = Field(default=5, ge=0, description="re-fetch this many days before the last bar")
    publication_delay_min: float = Field(default=15.0, ge=0, description="bar known this long after the close")


class FredConfig(SourceConfig):
    """``[feeds.fred]``: macro series; offline reads the FRED series bundled with arch."""

    offline: bool = True
    base_url: Url = "https://api.stlouisfed.org/fred"
    rate_limit: RateLimitConfig = RateLimitConfig(requests=60, per="minute", burst=5)
    series: Names = BUNDLED_FRED_SERIES
    vintages: bool = Field(default=True, description="first-release/real-time vintages from ALFRED")
    release_lag_days: dict[str, float] = Field(default_factory=dict, description="per series, without vintages")
    default_release_lag_days: float = Field(default=35.0, ge=0)

    @field_validator("series")
    @classmethod
    def _offline_series_are_bundled(cls, series: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        if info.data.get("offline") and (missing := [s for s in series if s not in BUNDLED_FRED_SERIES]):
            raise ValueError(
                f"{missing} are not bundled offline (bundled: {', '.join(BUNDLED_FRED_SERIES)}); "
                "set feeds.fred.offline = false to pull them from FRED"
            )
        return series


class FmpConfig(SourceConfig):
    """``[feeds.fmp]``: Financial Modeling Prep statements and ratios (needs TRADINGD_FMP_API_KEY)."""

    base_url: Url = "https://financialmodelingprep.com/stable"
    rate_limit: RateLimitConfig = RateLimitConfig(requests=250, per="day", burst=25)
    statements: Annotated[tuple[Statement, ...], BeforeValidator(_tuple)] = ("income", "balance", "cashflow", "ratios")
    periods: Annotated[tuple[Period, ...], BeforeValidator(_tuple)] = ("quarter", "annual")
    page_size: int = Field(default=20, ge=1, le=1000)
    max_pages: int = Field(default=3, ge=1)


class NewsApiConfig(SourceConfig):
    """``[feeds.newsapi]``: articles per ticker (needs TRADINGD_NEWSAPI_KEY)."""

    base_url: Url = "https://newsapi.org/v2"
    rate_limit: RateLimitConfig = RateLimitConfig(requests=100, per="day", burst=10)
    language: str = "en"
    page_size: int = Field(default=100, ge=1, le=100)
    max_pages: int = Field(default=1, ge=1)
    lookback_days: int = Field(default=28, ge=1, description="a pull never reaches further back (free plan: a month)")
    queries: dict[str, str] = Field(default_factory=dict, description="ticker -> query; default: the ticker")


class RedditConfig(SourceConfig):
    """``[feeds.reddit]``: posts and top comments (needs the TRADINGD_REDDIT_* credentials)."""

    oauth_url: Url = "https://oauth.reddit.com"
    reddit_url: Url = "https://www.reddit.com"
    rate_limit: RateLimitConfig = RateLimitConfig(requests=60, per="minute", burst=10)
    subreddits: Names = ("wallstreetbets", "investing")
    posts_per_subreddit: int = Field(default=25, ge=1, le=1000)
    comments_per_post: int = Field(default=5, ge=0, le=100)
    lookback_days: int = Field(default=2, ge=1, description="a pull never reaches further back")


class FeedsConfig(Section):
    """``[feeds]``: every data source."""

    yahoo: YahooConfig = YahooConfig()
    fred: FredConfig = FredConfig()
    fmp: FmpConfig = FmpConfig()
    newsapi: NewsApiConfig = NewsApiConfig()
    reddit: RedditConfig = RedditConfig()
