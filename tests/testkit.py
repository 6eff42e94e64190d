"""Helpers shared by the daemon, broker, state and strategy tests (import: ``from testkit import ...``)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aiohttp import web

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


def query(db: Path, sql: str, *params: object) -> list[tuple]:
    """Rows of ``sql`` from the database at ``db``, opened read-only (it never writes or
    creates it) and closed again."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO)
    env.pop("NOTIFY_SOCKET", None)
    return env


@contextmanager
def serve_in_thread(app: web.Application) -> Iterator[str]:
    """Run ``app`` on 127.0.0.1 (a free port) in a thread of its own; yields its base URL.
    For subprocesses and sync code under test that need a real loopback server."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.run_until_complete(runner.cleanup())
        loop.close()
