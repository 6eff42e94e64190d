"""Real browsers for tests/dashboard: Debian's chromium, headless, driven by Playwright.

The flags keep chromium off the network; Playwright never downloads a browser here (its
``executable_path`` is the system chromium). Browser tests skip only when chromium is
absent (`apt-get install -y chromium`; `.ci/run` installs it). The ``browser`` fixture is
in conftest.py: one browser per module. Runs that a module's tests need are made before
its browser starts (Playwright's sync API holds an event loop the backtests cannot share).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from dashboard_testkit import free_port
from testkit import TRADINGD, cli_env

__all__ = ["BROWSER_TESTS", "CHROMIUM", "EXCEPTION", "FLAGS", "PLOT", "go_to", "running_dashboard"]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
EXCEPTION = "[data-testid='stException']"
PLOT = "[data-testid='stPlotlyChart'] .js-plotly-plot .main-svg"

BROWSER_TESTS = [  # a browser test module's ``pytestmark``
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH: `apt-get install -y chromium` to run these"),
]


def _wait_healthy(url: str, process: subprocess.Popen, log: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"tradingd dashboard exited {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.25)
    pytest.fail(f"tradingd dashboard did not answer within {timeout:.0f} s:\n{log.read_text()}")


@contextmanager
def running_dashboard(db: Path, folder: Path) -> Iterator[str]:
    """A real `tradingd dashboard` over ``db`` on a free loopback port, refreshing every
    second; yields its URL and stops it with SIGTERM."""
    log, config = folder / "dashboard.log", folder / "config.toml"
    config.write_text("[dashboard]\nrefresh_s = 1.0\n")
    port = free_port()
    with log.open("w") as sink:
        process = subprocess.Popen(
            [*TRADINGD, "dashboard", "--config", str(config), "--db", str(db), "--port", str(port)],
            env=cli_env(), stdout=sink, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, log)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def go_to(page, name: str) -> None:  # noqa: ANN001
    """Pick the dashboard page ``name`` in the sidebar; wait until it is drawn, not stale."""
    page.locator("[data-testid='stSidebar'] label").filter(has_text=name).first.click()
    page.wait_for_function(
        "name => [...document.querySelectorAll('h2')].some(h => h.innerText.trim() === name)"
        " && !document.querySelector('[data-stale=\"true\"]')", arg=name, timeout=60_000,
    )
