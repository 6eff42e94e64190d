"""Real browser tests: Debian's chromium, headless, driven by Playwright.

One `tradingd dashboard` process and one browser serve every test in this module (the
browser, its flags and the dashboard process: ``browser_testkit``).
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_testkit import BROWSER_TESTS, EXCEPTION, PLOT, go_to, running_dashboard
from dashboard_testkit import query

PAGES = ["Overview", "Positions", "Risk", "Orders and fills", "Jobs and health", "Models", "Sentiment"]

pytestmark = BROWSER_TESTS


@pytest.fixture(scope="module")
def dashboard(backtest_db, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, str]]:
    """The dashboard over a copy of the backtest's database (one test appends to it)."""
    source, run_id = backtest_db
    folder = tmp_path_factory.mktemp("dashboard")
    db = folder / "tradingd.db"
    shutil.copy(source, db)
    with running_dashboard(db, folder) as url:
        yield url, db, run_id


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
            go_to(page, name)
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
