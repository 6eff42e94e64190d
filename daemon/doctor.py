"""``tradingd doctor``: is this installation ready to run, and if not, what is wrong?

Checks the config (already loaded by the time this runs), which credentials are
present (names only, never values), whether each enabled source answers a small real
request, the lake's files and the database. A problem is an ``error`` (exit 1); an
optional source that is off for lack of credentials is a ``warning``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from daemon.config import Config
from daemon.feeds.bundled import BundledPrices
from daemon.feeds.http import new_session
from daemon.feeds.lake_replay import LakeReplayPrices
from daemon.feeds.resilience import Guard
from daemon.feeds.secrets import SECRET_NAMES, SecretsError, load_secrets
from daemon.feeds.sources import REQUIRED, build_sources
from daemon.feeds.yahoo import YahooSource
from state.lake import Lake
from state.migrations import SCHEMA_VERSION

__all__ = ["Check", "render_checks", "run_checks"]


@dataclass(frozen=True)
class Check:
    name: str
    level: str  # ok | warning | error
    detail: str


async def _probe(name: str, source, key: str, now: datetime) -> Check:
    """One small real request: the last week of one key."""
    try:
        result = await asyncio.wait_for(source.fetch([key], now - timedelta(days=7), now), timeout=60)
    except Exception as exc:  # a probe reports every failure, whatever its type
        return Check(f"source {name}", "error", f"{type(exc).__name__}: {exc}".splitlines()[0])
    if result.failures:
        return Check(f"source {name}", "error", "; ".join(result.failures.values()))
    return Check(f"source {name}", "ok", f"answered ({result.rows} rows for {key} in the last 7 days)")


async def _sources(config: Config, now: datetime) -> list[Check]:
    checks: list[Check] = []
    market, feeds = config.market, config.feeds
    if market.source == "yfinance":
        yahoo = YahooSource(feeds.yahoo, Guard.from_config("yahoo", feeds.yahoo))
        checks.append(await _probe("prices (yahoo)", yahoo, market.symbols[0], now))
    else:
        try:
            if market.source == "lake":
                prices: BundledPrices = LakeReplayPrices(
                    Lake(Path(config.run.data_dir) / "lake"), timezone=market.timezone,
                    close_time=market.close_time, symbols=market.symbols, as_of=now,
                )
            else:
                prices = BundledPrices(market.source, timezone=market.timezone, close_time=market.close_time,
                                       symbols=market.symbols)
            checks.append(Check("source prices", "ok", f"{market.source}: {len(prices.symbols)} symbols, "
                                f"{prices.sessions[0].date()} .. {prices.sessions[-1].date()}"))
        except Exception as exc:  # report, do not crash the health check
            checks.append(Check("source prices", "error", f"{type(exc).__name__}: {exc}"))
    secrets = load_secrets()
    session = new_session()
    try:
        sources = build_sources(feeds, secrets, session)
        keys = {
            "macro": feeds.fred.series[0] if feeds.fred.series else None,
            "fundamentals": (market.symbols or ("AAPL",))[0],
            "news": (market.symbols or ("AAPL",))[0],
            "social": feeds.reddit.subreddits[0] if feeds.reddit.subreddits else None,
        }
        names = {"macro": "fred", "fundamentals": "fmp", "news": "newsapi", "social": "reddit"}
        for kind, key in keys.items():
            source = sources.get(kind)
            enabled = getattr(feeds, names[kind]).enabled
            if source is None:
                if enabled:
                    missing = secrets.missing(*REQUIRED[names[kind]])
                    checks.append(Check(f"source {kind}", "warning",
                                        f"off: missing credentials {', '.join(missing)}"))
                else:
                    checks.append(Check(f"source {kind}", "ok", f"off (feeds.{names[kind]}.enabled = false)"))
                continue
            if key is None:
                checks.append(Check(f"source {kind}", "warning", "enabled but configured with no keys"))
                continue
            checks.append(await _probe(f"{kind} ({source.name})", source, key, now))
    finally:
        await session.close()
    return checks


def _database(path: Path) -> Check:
    if not path.exists():
        return Check("database", "ok", f"{path} does not exist yet (created on the first run)")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            integrity = conn.execute("pragma integrity_check").fetchone()[0]
            version = conn.execute("pragma user_version").fetchone()[0]
            mode = conn.execute("pragma journal_mode").fetchone()[0]
            runs = conn.execute("select count(*) from runs").fetchone()[0] if version else 0
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return Check("database", "error", f"{path}: {exc}")
    if integrity != "ok":
        return Check("database", "error", f"{path}: integrity check: {integrity}")
    if version > SCHEMA_VERSION:
        return Check("database", "error", f"{path}: schema {version} is newer than this tradingd ({SCHEMA_VERSION})")
    note = "" if version == SCHEMA_VERSION else f"; schema {version} will migrate to {SCHEMA_VERSION}"
    return Check("database", "ok", f"{path}: integrity ok, {mode} journal, {runs} runs{note}")


def run_checks(config: Config, config_path: str | None, db_path: Path) -> list[Check]:
    """Every check, in the order they are shown."""
    checks = [Check("config", "ok", f"{config_path or 'built-in defaults'} (hash {config.config_hash()[:12]})")]
    try:
        secrets = load_secrets()
        present = [n for n in SECRET_NAMES if n in secrets.present()]
        checks.append(Check("credentials", "ok", f"present: {', '.join(present) or 'none'}; "
                            f"missing: {', '.join(n for n in SECRET_NAMES if n not in present) or 'none'}"))
    except SecretsError as exc:
        checks.append(Check("credentials", "error", str(exc)))
        return checks
    data_dir = Path(config.run.data_dir)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        writable = os.access(data_dir, os.W_OK)
    except OSError as exc:
        writable, data_dir_error = False, str(exc)
    else:
        data_dir_error = f"{data_dir} is not writable"
    checks.append(Check("data dir", "ok" if writable else "error", str(data_dir) if writable else data_dir_error))
    checks.extend(asyncio.run(_sources(config, datetime.now(UTC))))
    lake = Lake(data_dir / "lake")
    problems = lake.verify()
    checks += [Check("lake", "error", p) for p in problems] or [Check("lake", "ok", f"{lake.root}: files readable")]
    checks.append(_database(db_path))
    return checks


def render_checks(checks: list[Check], as_json: bool = False) -> str:
    if as_json:
        return json.dumps([asdict(c) for c in checks], indent=2)
    marks = {"ok": "ok  ", "warning": "WARN", "error": "FAIL"}
    width = max(len(c.name) for c in checks)
    lines = [f"{marks[c.level]}  {c.name:<{width}}  {c.detail}" for c in checks]
    errors = sum(c.level == "error" for c in checks)
    lines.append(f"{errors} problem(s)" if errors else "all good")
    return "\n".join(lines)
