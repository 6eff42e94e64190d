"""The Models and Sentiment pages of real runs in a real browser: the retraining backtest
and the backfilled lake of conftest.py, each behind its own `tradingd dashboard`."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser_testkit import BROWSER_TESTS, EXCEPTION, PLOT, go_to, running_dashboard

pytestmark = BROWSER_TESTS


class TestRealRuns:
    @pytest.mark.parametrize(("name", "charts", "tables"), [("Models", 2, 1), ("Sentiment", 1, 2)])
    def test_the_models_and_sentiment_pages_of_real_runs_draw_in_the_browser(
        self, browser, retrain_db, sentiment_run, tmp_path: Path, name: str, charts: int, tables: int
    ) -> None:
        db = retrain_db[0] if name == "Models" else sentiment_run[0]
        with running_dashboard(db, tmp_path) as url:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            page.wait_for_selector(PLOT, timeout=120_000)
            go_to(page, name)
            page.wait_for_function(  # Streamlit streams a page's elements: wait for all of them
                "([charts, tables]) => document.querySelectorAll(\"[data-testid='stPlotlyChart'] .main-svg\").length"
                " >= charts && document.querySelectorAll(\"[data-testid='stDataFrame']\").length >= tables",
                arg=[charts, tables], timeout=60_000,
            )
            assert page.locator("[data-testid='stPlotlyChart']").count() == charts
            assert page.locator("[data-testid='stDataFrame']").count() == tables
            assert page.locator(EXCEPTION).count() == 0
            page.screenshot(path=str(tmp_path / f"{name.lower()}.png"), full_page=True)
            page.close()
