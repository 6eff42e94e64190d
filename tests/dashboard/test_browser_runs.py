"""The Models and Sentiment pages of a real run in a real browser: conftest's
``learning_run`` (a backtest that retrained, its lake scored by the sentiment backfill)
behind a `tradingd dashboard` process."""

from __future__ import annotations

from pathlib import Path

from browser_testkit import BROWSER_TESTS, EXCEPTION, PLOT, go_to, running_dashboard

pytestmark = BROWSER_TESTS


class TestARunThatRetrainedAndScoredNews:
    def test_the_models_and_sentiment_pages_draw_in_the_browser(self, browser, learning_run, tmp_path: Path) -> None:
        db, _, _ = learning_run
        with running_dashboard(db, tmp_path) as url:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            page.wait_for_selector(PLOT, timeout=120_000)
            for name, charts, tables in (("Models", 2, 1), ("Sentiment", 1, 2)):
                go_to(page, name)
                page.wait_for_function(  # Streamlit streams a page's elements: wait for all of them
                    "([charts, tables]) => document.querySelectorAll(\"[data-testid='stPlotlyChart'] .main-svg\")"
                    ".length >= charts && document.querySelectorAll(\"[data-testid='stDataFrame']\").length >= tables",
                    arg=[charts, tables], timeout=60_000,
                )
                assert page.locator("[data-testid='stPlotlyChart']").count() == charts, name
                assert page.locator("[data-testid='stDataFrame']").count() == tables, name
                assert page.locator(EXCEPTION).count() == 0, name
                page.screenshot(path=str(tmp_path / f"{name.lower()}.png"), full_page=True)
            page.close()
