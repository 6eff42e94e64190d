"""Real browser tests: Debian's chromium, headless, driven by Playwright.

One `tradingd dashboard` process and one browser serve every test in this module. The
flags keep chromium off the network; Playwright never downloads a browser here (its
``executable_path`` is the system chromium). Skips only when chromium is absent
(`apt-get install -y chromium`; `.ci/run` installs it).
"""

from __future__ import annotations

import shutil
import signal
import sqlite3
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from dashboard_testkit import free_port, query
from testkit import TRADINGD, cli_env

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
PAGES = ["Overview", "Positions", "Risk", "Orders and fills", "Jobs and health", "Models", "Sentiment"]
EXCEPTION = "[data-testid='stException']"
PLOT = "[data-testid='stPlotlyChart'] .js-plotly-plot .main-svg"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH: `apt-get install -y chromium` to run these"),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield chromium
        chromium.close()


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


@pytest.fixture(scope="module")
def dashboard(backtest_db, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, str]]:
    """A real `tradingd dashboard` on a free loopback port, refreshing every second, over
    a copy of the backtest's database (one test appends to it)."""
    source, run_id = backtest_db
    folder = tmp_path_factory.mktemp("dashboard")
    db, log, config = folder / "tradingd.db", folder / "dashboard.log", folder / "config.toml"
    shutil.copy(source, db)
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
        yield url, db, run_id
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class TestDashboard:
    def test_the_overview_draws_the_equity_chart_with_no_exception_box(self, browser, dashboard, tmp_path) -> None:
        url, db, run_id = dashboard
        (equity,), = query(db, "select equity from equity where run_id = ? order by ts desc limit 1", run_id)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.wait_for_selector(PLOT, timeout=120_000)
        assert page.locator(EXCEPTION).count() == 0
        assert page.locator("[data-testid='stMetricValue']").first.inner_text() == f"{equity:,.2f}"
        traces = page.locator("[data-testid='stPlotlyChart'] .js-plotly-plot .scatterlayer .trace").count()
        assert traces == 4  # equity, benchmark, drawdown, benchmark drawdown
        shot = tmp_path / "overview.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 20_000  # a drawn page, not a blank one
        page.close()

    def test_every_page_renders_in_the_browser(self, browser, dashboard, tmp_path: Path) -> None:
        url, _, _ = dashboard
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.wait_for_selector(PLOT, timeout=120_000)
        for name in PAGES:
            page.locator("[data-testid='stSidebar'] label").filter(has_text=name).first.click()
            page.wait_for_function(
                "name => [...document.querySelectorAll('h2')].some(h => h.innerText.trim() === name)"
                " && !document.querySelector('[data-stale=\"true\"]')", arg=name, timeout=60_000,
            )
            if name in ("Positions", "Risk", "Orders and fills"):
                page.wait_for_selector(PLOT, timeout=60_000)
            assert page.locator(EXCEPTION).count() == 0, name
            page.screenshot(path=str(tmp_path / f"{name.replace(' ', '_').lower()}.png"), full_page=True)
        page.close()


    def test_the_open_page_refreshes_on_its_own_when_the_run_records_a_mark(self, browser, dashboard) -> None:
        url, db, run_id = dashboard
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.wait_for_selector(PLOT, timeout=120_000)
        tile = page.locator("[data-testid='stMetricValue']").first
        (last, equity, cash), = query(db, "select ts, equity, cash from equity where run_id = ? "
                                          "order by ts desc limit 1", run_id)
        assert tile.inner_text() == f"{equity:,.2f}"
        with sqlite3.connect(db) as conn:  # the daemon's next mark, as the recorder writes it
            conn.execute("insert into equity (run_id, ts, cash, equity, gross) values (?, ?, ?, ?, ?)",
                         (run_id, "2020-07-01T20:00:00+00:00", cash, 1_234_567.89, 1_234_567.89 - cash))
        page.wait_for_function(  # no click, no reload: the page's own refresh picks it up
            "() => document.querySelector(\"[data-testid='stMetricValue']\").innerText === '1,234,567.89'",
            timeout=60_000,
        )
        assert page.locator(EXCEPTION).count() == 0
        page.close()


class TestReport:
    def test_the_report_opened_from_disk_renders_every_chart_offline(self, browser, report_file: Path) -> None:
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        fetched: list[str] = []
        page.on("request", lambda request: fetched.append(request.url))
        page.goto(report_file.as_uri())
        page.wait_for_load_state("load")
        rendered = page.evaluate(
            """() => [...document.querySelectorAll('.js-plotly-plot')].map(
                   el => !!el.querySelector('.main-svg') && Array.isArray(el.data) && el.data.length > 0)"""
        )
        assert rendered == [True] * 6
        assert [url for url in fetched if not url.startswith("file:")] == []
        page.close()
