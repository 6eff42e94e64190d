"""Helpers for tests/dashboard (import: ``from dashboard_testkit import ...``)."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest
from testkit import REPO, TRADINGD, cli_env, query

__all__ = ["APP", "figures", "free_port", "numbers", "query", "show", "start", "traces", "tradingd", "utc"]

APP = REPO / "dashboard" / "ui" / "app.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tradingd(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """A `tradingd` command that must succeed, offline (no model downloads)."""
    result = subprocess.run([*TRADINGD, *args], cwd=cwd, env=cli_env() | {"HF_HUB_OFFLINE": "1"},
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result


def start(monkeypatch: pytest.MonkeyPatch, *argv: str) -> AppTest:
    """The real script, with the arguments ``streamlit run app.py -- ...`` would give it."""
    monkeypatch.setattr(sys, "argv", [str(APP), *argv])
    app = AppTest.from_file(str(APP), default_timeout=120)
    app.run()
    return app


def show(app: AppTest, page: str) -> AppTest:
    """Switch to ``page``; it must render with no exception and no error box."""
    app.sidebar.radio(key="page").set_value(page).run()
    assert not app.exception, [e.value for e in app.exception]
    assert not app.error, [e.value for e in app.error]
    return app


def figures(app: AppTest) -> dict[str, dict]:
    """The page's plotly figures (as JSON) by title."""
    specs = [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")]
    return {spec["layout"]["title"]["text"]: spec for spec in specs}


def traces(figure: dict) -> dict[str, dict]:
    return {trace["name"]: trace for trace in figure["data"]}


def utc(value: object) -> pd.Timestamp:
    """A time from a plotly trace (written with or without its zone) in UTC."""
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tz is None else stamp.tz_convert("UTC")


def numbers(values: object) -> np.ndarray:
    """A plotly trace's numeric array (plain list, or plotly's base64 typed array)."""
    if isinstance(values, dict):
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])
    return np.asarray(values, dtype=float)
