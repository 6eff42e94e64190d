"""Shared fixtures: every test gets fresh logging and its own files under tmp_path."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from daemon import logs
from daemon.config import Config, load_config

REPO = Path(__file__).resolve().parent.parent
TRADINGD = [sys.executable, "-m", "daemon.cli"]


@pytest.fixture(autouse=True)
def _fresh_logging() -> Iterator[None]:
    yield
    logs.reset()


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
