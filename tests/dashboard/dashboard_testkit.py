"""Helpers for tests/dashboard (import: ``from dashboard_testkit import ...``)."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

from testkit import REPO

APP = REPO / "dashboard" / "ui" / "app.py"


def query(db: Path, sql: str, *params: object) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
