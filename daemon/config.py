"""config.toml: loaded once into frozen, validated objects.

Errors name the TOML key (``broker.commission_bps: Input should be a valid number``);
the CLI prints them and exits 2. Reading, validation and the error type are
`core.settings`'s (one loader for every config); secrets are never read from this file: a
key that looks like one is refused with a pointer to the environment variables.
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from pydantic import Field, field_validator, model_validator

from brokers.config import BrokerConfig
from core import settings
from core.settings import ConfigError, IsoDate, IsoTime, Section
from daemon.feeds.config import FeedsConfig
from models.config import RunConfig as ModelsRunConfig
from models.sentiment.config import SentimentConfig
from strategies.allocation.config import AllocationConfig
from strategies.config import StrategyConfig
from strategies.portfolio_config import check_history_covers_garch
from strategies.risk.config import RiskConfig

__all__ = [
    "JOB_NAMES",
    "BusConfig",
    "Config",
    "ConfigError",
    "DashboardConfig",
    "InputError",
    "JobConfig",
    "LoggingConfig",
    "MarketConfig",
    "RunConfig",
    "StoreConfig",
    "load_config",
    "parse_listen",
]

# Jobs the daemon knows how to run (``[jobs.<name>]``); daemon.jobs implements them.
JOB_NAMES = (
    "pull_prices", "pull_macro", "pull_fundamentals", "pull_news", "pull_social", "rebalance", "refit", "infer",
    "retrain",
)


class InputError(ValueError):
    """Something the user gave cannot be used (the CLI exits 2 with the message); a bad
    config file is a `core.settings.ConfigError`, which the CLI treats the same way."""


class RunConfig(Section):
    """``[run]``: where state lives and how a run starts."""

    data_dir: str = "data"
    db: str | None = Field(default=None, description="defaults to <data_dir>/tradingd.db")
    start_cash: float = Field(default=1_000_000.0, gt=0)
    resume: bool = True

    @property
    def db_path(self) -> Path:
        return Path(self.db) if self.db else Path(self.data_dir) / "tradingd.db"


class MarketConfig(Section):
    """``[market]``: the universe, its exchange calendar and the offline replay."""

    source: Literal["skfolio_sp500", "arch_indices", "yfinance", "lake"] = "skfolio_sp500"
    symbols: tuple[str, ...] = ()
    timezone: str = "America/New_York"
    close_time: IsoTime = time(16, 0)
    replay_start: IsoDate | None = None
    replay_end: IsoDate | None = None
    pace: float | Literal["max"] = Field(
        default=1.0, description='trading days per wall second, at most; "max": as fast as the work allows'
    )
    max_staleness_days: float = Field(default=4.0, gt=0, description="refuse to trade on older prices")
    benchmark: str | None = Field(default=None, description="a lake symbol the backtest summary compares with")

    @field_validator("pace", mode="before")
    @classmethod
    def _pace(cls, value: Any) -> Any:
        if value == "max":
            return value
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ValueError(f'must be > 0 (trading days per second) or "max", got {value!r}')
        return float(value)

    @property
    def pace_per_s(self) -> float:
        """The pace ceiling as a number (``math.inf`` for "max")."""
        return math.inf if self.pace == "max" else float(self.pace)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _window(self) -> MarketConfig:
        if self.replay_start and self.replay_end and self.replay_end < self.replay_start:
            raise ValueError("replay_end is before replay_start")
        if self.source == "yfinance" and not self.symbols:
            raise ValueError("source = 'yfinance' needs market.symbols (the tickers to trade)")
        return self


class JobConfig(Section):
    """``[jobs.<name>]``: a crontab spec (5 fields) in the market's time zone."""

    cron: str
    enabled: bool = True


def _default_jobs() -> dict[str, JobConfig]:
    # Data jobs whose source is off (no credentials) are simply not scheduled.
    return {
        "pull_prices": JobConfig(cron="30 16 * * mon-fri"),
        "pull_macro": JobConfig(cron="15 16 * * mon-fri"),
        "pull_fundamentals": JobConfig(cron="0 6 * * mon-fri"),
        "pull_news": JobConfig(cron="0 7 * * *"),  # NewsAPI free tier: 100 requests a day
        "pull_social": JobConfig(cron="0 * * * *"),
        "rebalance": JobConfig(cron="45 16 * * mon-fri"),
        "infer": JobConfig(cron="40 16 * * mon-fri"),  # after pull_prices, before rebalance
        # After rebalance; scheduled only when risk.garch.refit_at = "after_decision".
        "refit": JobConfig(cron="50 16 * * mon-fri"),
        # Off by default: training takes the machine's cores for minutes to hours.
        "retrain": JobConfig(cron="0 18 * * sat", enabled=False),
    }


class BusConfig(Section):
    """``[bus]``: live-mode queue bound per subscriber and the slow-handler threshold."""

    queue_size: int = Field(default=10_000, ge=1)
    slow_handler_ms: float = Field(default=250.0, gt=0)


class LoggingConfig(Section):
    """``[logging]``: ``format = "auto"`` is JSON lines unless stdout is a terminal."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class StoreConfig(Section):
    """``[store]``: backtests commit every ``commit_every`` job fires (never mid-event);
    ``writer = "process"`` writes a backtest's batches from a background process
    (``state.writer``), ``"inline"`` in the replay's own thread. The live daemon always
    commits each event inline before the next."""

    commit_every: int = Field(default=2000, ge=1)
    writer: Literal["process", "inline"] = "process"


class ServiceConfig(Section):
    """``[service]``: shutdown grace period for the event in hand; where ``/healthz`` and
    ``/metrics`` are served (``"host:port"``; empty: off; port 0: any free port)."""

    stop_timeout_s: float = Field(default=5.0, gt=0)
    http_listen: str = "127.0.0.1:8787"

    @field_validator("http_listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        if value:
            parse_listen(value)
        return value


def parse_listen(value: str) -> tuple[str, int]:
    """``"host:port"`` -> (host, port); port 0 asks for any free port."""
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f'expected "host:port" like "127.0.0.1:8787" (empty: off), got {value!r}')
    return host.strip("[]"), int(port)


class DashboardConfig(Section):
    """``[dashboard]``: defaults of ``tradingd dashboard`` (the Streamlit app over the store)."""

    host: str = "127.0.0.1"
    port: int = Field(default=8501, ge=1, le=65535)
    refresh_s: float = Field(default=10.0, gt=0, description="seconds between automatic refreshes")


class Config(Section):
    """The whole of config.toml."""

    run: RunConfig = RunConfig()
    market: MarketConfig = MarketConfig()
    broker: BrokerConfig = BrokerConfig()
    strategy: StrategyConfig = StrategyConfig()
    jobs: dict[str, JobConfig] = Field(default_factory=_default_jobs)
    feeds: FeedsConfig = FeedsConfig()
    allocation: AllocationConfig = AllocationConfig()
    risk: RiskConfig = RiskConfig()
    models: ModelsRunConfig = ModelsRunConfig()
    sentiment: SentimentConfig = SentimentConfig()
    bus: BusConfig = BusConfig()
    logging: LoggingConfig = LoggingConfig()
    store: StoreConfig = StoreConfig()
    service: ServiceConfig = ServiceConfig()
    dashboard: DashboardConfig = DashboardConfig()

    @field_validator("jobs", mode="before")
    @classmethod
    def _merge_default_jobs(cls, value: Any) -> Any:
        # A config that tweaks one job keeps the others' defaults.
        if isinstance(value, dict):
            merged: dict[str, Any] = {k: v.model_dump() for k, v in _default_jobs().items()}
            for name, spec in value.items():
                if name not in JOB_NAMES:
                    raise ValueError(f"unknown job {name!r} (known: {', '.join(JOB_NAMES)})")
                if isinstance(spec, dict) and name in merged:
                    spec = {**merged[name], **spec}
                merged[name] = spec
            return merged
        return value

    @model_validator(mode="after")
    def _risk_window(self) -> Config:
        check_history_covers_garch(self.allocation, self.risk)
        return self

    @model_validator(mode="after")
    def _crons(self) -> Config:
        for name, job in self.jobs.items():
            try:
                CronTrigger.from_crontab(job.cron, timezone=self.market.timezone)
            except ValueError as exc:
                raise ValueError(f"jobs.{name}.cron: bad cron spec {job.cron!r}: {exc}") from exc
        return self

    def config_hash(self) -> str:
        """sha256 of the canonical JSON of the validated config (defaults included)."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Read and validate a config file (``None``: built-in defaults), `overrides` merged
    table by table. Raises `core.settings.ConfigError` naming the file and each bad key."""
    return settings.load_config(Config, path, overrides)
