"""Helpers shared by the daemon, broker, state and strategy tests (import: ``from testkit import ...``)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from daemon.config import Config, load_config

REPO = Path(__file__).resolve().parent.parent
TRADINGD = [sys.executable, "-m", "daemon.cli"]


def make_config(**tables: dict[str, Any]) -> Config:
    """Built-in defaults with some tables overridden (as if written in config.toml)."""
    return load_config(None, overrides=tables)


def run_backtest(config: Config, db: Path, start: str | None = None, end: str | None = None) -> str:
    """A backtest through the real components; returns the run id (store closed)."""
    from datetime import date

    from daemon.app import build_app
    from daemon.backtest import run_backtest as drive

    app = build_app(
        config,
        mode="backtest",
        db_path=db,
        start=date.fromisoformat(start) if start else None,
        end=date.fromisoformat(end) if end else None,
    )
    asyncio.run(drive(app, progress=False))
    app.close("completed")
    return app.run_id


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO)
    env.pop("NOTIFY_SOCKET", None)
    return env
