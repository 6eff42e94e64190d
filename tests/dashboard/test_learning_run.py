"""The Models and Sentiment pages on one real run (conftest's ``learning_run``): a backtest
that retrained a tiny TFT twice in-process, the second version replacing the first,
forecasting every day; its lake then got news scored by `tradingd sentiment backfill`
(VADER). One file, so that a test worker builds the run once."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from browser_testkit import BROWSER_TESTS, EXCEPTION, PLOT, go_to, running_dashboard
from dashboard_testkit import figures, numbers, query, show, start, traces, utc
from numpy.testing import assert_allclose
from skfolio.datasets import load_sp500_dataset

from state.lake import Lake

pytestmark = pytest.mark.slow


def versions_of(db, run_id: str) -> list[tuple[str, str, int]]:
    """(version, first forecast, decisions) per served version, oldest first, from SQLite."""
    return query(db, "select model, min(ts), count(distinct ts) from forecasts where run_id = ? "
                     "group by model order by min(ts)", run_id)


class TestModelsOfARunWhoseGateRefusedAVersion:
    def test_the_refused_version_is_listed_as_rejected_with_the_gates_reason(self, rejecting_run, monkeypatch) -> None:
        db, run_id, refused = rejecting_run
        (served,) = [v for v, _, _ in versions_of(db, run_id)]  # the broken one never served
        (detail,) = query(db, "select detail from jobs where run_id = ? and job = 'infer' and detail like ?",
                          run_id, f"%rejected {refused}: %")[0]
        reason = detail.split(f"rejected {refused}: ")[1].split("; ")[0]
        assert "weights truncated" in reason
        table = show(start(monkeypatch, "--db", str(db)), "Models").dataframe[0].value
        rows = table.set_index("version")
        assert list(table["version"]) == [served, refused]
        assert rows.loc[served, "status"] == "serving" and rows.loc[refused, "status"] == "rejected"
        assert rows.loc[refused, "reason"] == reason and rows.loc[refused, "decisions"] == 0

    def test_the_refusal_is_marked_on_the_equity_timeline_when_it_happened(self, rejecting_run, monkeypatch) -> None:
        db, run_id, refused = rejecting_run
        (fired_at,) = query(db, "select fired_at from jobs where run_id = ? and job = 'infer' and detail like ?",
                            run_id, f"%rejected {refused}: %")[0]
        markers = traces(figures(show(start(monkeypatch, "--db", str(db)), "Models"))["Equity and drawdown"])["models"]
        (at,) = [utc(x) for x, text in zip(markers["x"], markers["text"], strict=True)
                 if text.startswith(f"rejected {refused}: weights truncated")]
        assert at == pd.Timestamp(fired_at)
        assert f"serving {refused}" not in " ".join(markers["text"])


class TestModelsOfARetrainingRun:
    def test_the_versions_it_published_and_served_are_listed_with_their_status(self, learning_run, monkeypatch) -> None:
        db, run_id, _ = learning_run
        served = versions_of(db, run_id)
        published = query(db, "select finished_at, detail from jobs where run_id = ? and job = 'retrain' and "
                              "status = 'ok' order by fired_at", run_id)
        assert len(served) == 2 and len(published) == 2
        app = show(start(monkeypatch, "--db", str(db)), "Models")
        table = app.dataframe[0].value
        assert list(table["version"]) == [v for v, _, _ in served]
        assert list(table["status"]) == ["replaced", "serving"]
        assert list(table["family"]) == ["tft", "tft"]
        assert list(table["decisions"]) == [n for _, _, n in served]
        assert [str(t) for t in table["first_forecast"]] == [str(pd.Timestamp(ts)) for _, ts, _ in served]
        assert [str(t) for t in table["published"]] == [str(pd.Timestamp(ts)) for ts, _ in published]
        assert all(v in detail for (v, _, _), (_, detail) in zip(served, published, strict=True))

    def test_the_swap_is_marked_on_the_equity_timeline(self, learning_run, monkeypatch) -> None:
        db, run_id, _ = learning_run
        (first, first_at, _), (second, second_at, _) = versions_of(db, run_id)
        (published_1,), (published_2,) = query(db, "select finished_at from jobs where run_id = ? and job = 'retrain' "
                                                   "order by fired_at", run_id)
        app = show(start(monkeypatch, "--db", str(db)), "Models")
        timeline = traces(figures(app)["Equity and drawdown"])
        markers = timeline["models"]
        assert markers["text"] == [f"published {first}", f"serving {first}", f"published {second}",
                                   f"serving {second} (was {first})"]
        assert [utc(x) for x in markers["x"]] == [pd.Timestamp(t) for t in (published_1, first_at, published_2, second_at)]
        equity = query(db, "select ts, equity from equity where run_id = ? order by ts", run_id)
        at = pd.Series([e for _, e in equity], index=pd.DatetimeIndex([pd.Timestamp(t) for t, _ in equity]))
        on_line = [at[at.index <= utc(x)].iloc[-1] for x in markers["x"]]
        assert_allclose(numbers(markers["y"]), on_line)  # drawn on the equity line, at the last mark before

    @pytest.mark.parametrize("symbol", ["AAPL", "XOM"])
    def test_each_symbols_fan_shows_its_quantiles_against_the_log_return_that_followed(
        self, learning_run, monkeypatch, symbol: str
    ) -> None:
        db, run_id, _ = learning_run
        rows = query(db, "select ts, levels, quantiles from forecasts where run_id = ? and symbol = ? "
                         "and target = 'ret_5' order by ts", run_id, symbol)
        app = show(start(monkeypatch, "--db", str(db)), "Models")
        app.selectbox(key="fan_symbol").set_value(symbol).run()
        app.selectbox(key="fan_target").set_value("ret_5").run()
        fan = traces(figures(app)[f"Forecast fan: {symbol}"])
        levels = json.loads(rows[0][1])
        values = np.array([json.loads(q) for _, _, q in rows])
        for name, level in (("P10-P90", 0.1), ("P50", 0.5), ("P90", 0.9)):
            assert_allclose(numbers(fan[name]["y"]), values[:, levels.index(level)])
        close = load_sp500_dataset()[symbol].astype(float)
        days = pd.DatetimeIndex([str(ts)[:10] for ts, _, _ in rows])
        at = close.index.searchsorted(days, side="right") - 1  # the forecast's as-of session (July 4th: the 3rd)
        assert len(set(at)) < len(at)  # a forecast on a holiday stands on the session before
        marks = {str(ts)[:10] for (ts,) in query(db, "select ts from equity where run_id = ?", run_id)}
        seen = np.array([close.index[k + 5].strftime("%Y-%m-%d") in marks for k in at])  # the run saw t+5
        expected = np.where(seen, np.log(close.to_numpy()[np.minimum(at + 5, len(close) - 1)] / close.to_numpy()[at]),
                            np.nan)
        assert seen.sum() > 10 and not seen[-1]  # the last forecasts' futures lie beyond the run
        assert_allclose(numbers(fan["realised"]["y"]), expected, rtol=1e-6)  # float32, as the training labels


def daily_from_lake(root, column: str) -> pd.DataFrame:
    """The service's ``sentiment_daily`` rows as (UTC day x symbol), read straight from the lake."""
    rows = Lake(root).read("sentiment_daily", as_of=pd.Timestamp.now(tz="UTC"))
    assert set(rows["model"]) == {"vader"}
    return rows.pivot_table(index="ts", columns="symbol", values=column).sort_index()


class TestSentimentPage:
    @pytest.mark.parametrize("column", ["mean_score", "decayed_score"])
    def test_the_daily_score_per_symbol_is_what_the_service_stored(self, learning_run, monkeypatch, column) -> None:
        db, _, lake = learning_run
        app = show(start(monkeypatch, "--db", str(db)), "Sentiment")
        app.radio(key="sentiment_score").set_value(column).run()
        expected = daily_from_lake(lake, column)
        assert list(expected.columns) == ["AAPL", "MSFT", "XOM"] and len(expected) == 6
        lines = traces(figures(app)["Daily sentiment score per symbol"])
        assert list(lines) == list(expected.columns)
        for symbol, line in lines.items():
            assert [utc(x) for x in line["x"]] == list(expected.index)
            assert_allclose(numbers(line["y"]), expected[symbol].to_numpy())
        assert any(str(lake) in c.value and c.value.startswith("vader scores") for c in app.caption)

    def test_the_extremes_are_the_highest_and_lowest_scores_of_the_last_30_days(self, learning_run, monkeypatch) -> None:
        db, run_id, lake = learning_run
        ((last_mark,),) = query(db, "select max(ts) from equity where run_id = ?", run_id)
        end = pd.Timestamp(last_mark)
        scored = Lake(lake).read("sentiment", start=end - pd.Timedelta(days=30), end=end, as_of=pd.Timestamp.now(tz="UTC"))
        assert len(scored) == 36 and set(scored["model"]) == {"vader"}
        app = show(start(monkeypatch, "--db", str(db)), "Sentiment")
        positive, negative = app.dataframe[0].value, app.dataframe[1].value
        ranked = scored.sort_values("score")
        assert_allclose(positive["score"], ranked["score"].iloc[::-1].head(5))
        assert_allclose(negative["score"], ranked["score"].head(5))
        headline = lambda snippet: snippet.rsplit(" (day", 1)[0]  # noqa: E731
        assert {headline(s) for s in positive["snippet"]} == {headline(s) for s in ranked["snippet"].iloc[::-1].head(5)}
        assert {headline(s) for s in negative["snippet"]} == {headline(s) for s in ranked["snippet"].head(5)}
        assert positive["score"].iloc[0] > 0.5 > -0.5 > negative["score"].iloc[0]

    def test_the_texts_narrow_to_one_symbol(self, learning_run, monkeypatch) -> None:
        db, _, _ = learning_run
        app = show(start(monkeypatch, "--db", str(db)), "Sentiment")
        app.selectbox(key="sentiment_symbol").set_value("AAPL").run()
        positive, negative = app.dataframe[0].value, app.dataframe[1].value
        assert all("AAPL" in s.split() for s in [*positive["symbols"], *negative["symbols"]])
        assert all("soar" in s for s in positive["snippet"])
        assert all("lawsuit" in s for s in negative["snippet"])


class TestInTheBrowser:
    pytestmark = BROWSER_TESTS

    def test_the_models_and_sentiment_pages_draw_in_the_browser(self, browser, learning_run, tmp_path: Path) -> None:
        db, _, _ = learning_run
        with running_dashboard(db, tmp_path) as url:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            page.wait_for_selector(PLOT, timeout=120_000)
            for name, charts, tables in (("Models", 2, 1), ("Sentiment", 1, 2)):
                go_to(page, name)
                page.wait_for_function(  # Streamlit streams a page's elements: wait for all of them
                    # (charts drawn, counted per chart: one plotly chart has several .main-svg layers)
                    "([charts, tables]) => [...document.querySelectorAll(\"[data-testid='stPlotlyChart']\")]"
                    ".filter(c => c.querySelector('.main-svg')).length >= charts"
                    " && document.querySelectorAll(\"[data-testid='stDataFrame']\").length >= tables",
                    arg=[charts, tables], timeout=60_000,
                )
                assert page.locator("[data-testid='stPlotlyChart']").count() == charts, name
                assert page.locator("[data-testid='stDataFrame']").count() == tables, name
                assert page.locator(EXCEPTION).count() == 0, name
                page.screenshot(path=str(tmp_path / f"{name.lower()}.png"), full_page=True)
            page.close()
