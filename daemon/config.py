"""config.toml: loaded once into frozen, validated objects.

Errors name the TOML key (``broker.commission_bps: Input should be a valid number``);
the CLI prints them and exits 2. Secrets are never read from this file: a key that looks
like one is refused with a pointer to the environment variables.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import tomllib
from datetime import date, time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from pydantic import Field, ValidationError, field_validator, model_validator

from brokers.config import BrokerConfig
from core.settings import Section, format_validation_error
from daemon.feeds.config import FeedsConfig
from models.config import RunConfig as ModelsRunConfig
from models.sentiment.config import SentimentConfig
from strategies.allocation.config import AllocationConfig
from strategies.config import StrategyConfig
from strategies.risk.config import RiskConfig

__all__ = [
    "JOB_NAMES",
    "BusConfig",
    "Config",
    "ConfigError",
    "InputError",
    "JobConfig",
    "LoggingConfig",
    "MarketConfig",
    "RunConfig",
    "StoreConfig",
    "load_config",
]

# Jobs the daemon knows how to run (``[jobs.<name>]``); daemon.jobs implements them.
JOB_NAMES = ("pull_prices", "pull_macro", "pull_fundamentals", "pull_news", "pull_social", "rebalance")

_SECRET_KEY = re.compile(r"(api_?key|secret|token|password|passwd|client_secret)", re.IGNORECASE)


class InputError(ValueError):
    """Something the user gave cannot be used (the CLI exits 2 with the message)."""


class ConfigError(InputError):
    """A config file that cannot be used; the message names the file and the key."""


def _parse_date(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"expected a date like 2018-01-02, got {value!r}") from exc
    return value


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

    source: Literal["skfolio_sp500", "arch_indices", "yfinance"] = "skfolio_sp500"
    symbols: tuple[str, ...] = ()
    timezone: str = "America/New_York"
    close_time: time = time(16, 0)
    replay_start: date | None = None
    replay_end: date | None = None
    pace: float = Field(default=1.0, gt=0, description="trading days per wall second")
    max_staleness_days: float = Field(default=4.0, gt=0, description="refuse to trade on older prices")

    @field_validator("symbols", mode="before")
    @classmethod
    def _list_to_tuple(cls, value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value

    @field_validator("replay_start", "replay_end", mode="before")
    @classmethod
    def _dates(cls, value: Any) -> Any:
        return _parse_date(value)

    @field_validator("close_time", mode="before")
    @classmethod
    def _close_time(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return time.fromisoformat(value)
            except ValueError as exc:
                raise ValueError(f"expected a time like 16:00, got {value!r}") from exc
        return value

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
    """``[service]``: shutdown grace period for the event in hand."""

    stop_timeout_s: float = Field(default=5.0, gt=0)


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
        if self.risk.garch.window < self.allocation.lookback:
            raise ValueError("risk.garch.window: must be >= allocation.lookback")
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


def _secret_keys(table: Any, prefix: str = "") -> list[str]:
    found: list[str] = []
    if isinstance(table, dict):
        for key, value in table.items():
            path = f"{prefix}{key}"
            if _SECRET_KEY.search(str(key)):
                found.append(path)
            found.extend(_secret_keys(value, path + "."))
    return found


def _format_error(path: Path, error: dict[str, Any], raw: dict[str, Any]) -> str:
    loc = [str(part) for part in error["loc"]]
    key = ".".join(loc) if loc else "(top level)"
    if error["type"] == "extra_forbidden":
        parent: Any = raw
        for part in loc[:-1]:
            parent = parent.get(part, {}) if isinstance(parent, dict) else {}
        model: Any = Config
        for part in loc[:-1]:
            field = model.model_fields.get(part) if hasattr(model, "model_fields") else None
            model = field.annotation if field is not None else None
        allowed = sorted(model.model_fields) if hasattr(model, "model_fields") else []
        hint = difflib.get_close_matches(loc[-1], allowed, n=1)
        extra = f"; did you mean {hint[0]!r}?" if hint else ""
        return f"{path}: {key}: unknown key{extra}"
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if message.startswith(("jobs.", "risk.")):  # the validator already names the key
        return f"{path}: {message}"
    return f"{path}: {key}: {message}"


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Read and validate a config file (``None``: built-in defaults).

    Raises ``ConfigError`` with one line naming the file and the key.
    """
    raw: dict[str, Any] = {}
    source = Path(path) if path is not None else Path("<defaults>")
    if path is not None:
        try:
            text = source.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise ConfigError(f"{source}: config file not found") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{source}: cannot read config file: {exc}") from exc
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{source}: not valid TOML: {exc}") from exc
    for table, values in (overrides or {}).items():
        raw.setdefault(table, {}).update(values)
    secrets = _secret_keys(raw)
    if secrets:
        raise ConfigError(
            f"{source}: {secrets[0]}: secrets are not read from config files; "
            "set them in the environment or a secrets file (see README, 'Secrets')"
        )
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] == "extra_forbidden" or str(first["msg"]).startswith("Value error, jobs."):
            raise ConfigError(_format_error(source, first, raw)) from None
        # "risk.target_vol: must be > 0": comparisons read as the rule, keys as in TOML.
        raise ConfigError(f"{source}: {format_validation_error(exc)[0]}") from None
