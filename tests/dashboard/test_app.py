"""The Streamlit app under Streamlit's AppTest, against a real backtest's SQLite file."""

from __future__ import annotations

import base64
import json
import shutil
import sqlite3
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dashboard_testkit import APP, query
from numpy.testing import assert_allclose
from streamlit.testing.v1 import AppTest

PAGES = ["Overview", "Positions", "Risk", "Orders and fills", "Jobs and health", "Models", "Sentiment"]


def start(monkeypatch: pytest.MonkeyPatch, *argv: str) -> AppTest:
    """The real script, with the arguments ``streamlit run app.py -- ...`` would give it."""
    monkeypatch.setattr(sys, "argv", [str(APP), *argv])
    app = AppTest.from_file(str(APP), default_timeout=120)
    app.run()
    return app


def tiles(app: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in app.metric}


def show(app: AppTest, page: str) -> AppTest:
    app.sidebar.radio(key="page").set_value(page).run()
    assert not app.exception, [e.value for e in app.exception]
    assert not app.error, [e.value for e in app.error]
    return app


@pytest.fixture(scope="module")
def with_models(backtest_db, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The backtest's database plus the optional tables other parts of tradingd add."""
    source, run_id = backtest_db
    db = tmp_path_factory.mktemp("optional") / "tradingd.db"
    shutil.copy(source, db)
    marks = [ts for (ts,) in query(db, "select ts from equity where run_id = ? order by ts", run_id)]
    with sqlite3.connect(db) as conn:
        # The learning loop's own tables (state/migrations.py), filled as a run that retrained would.
        conn.executemany("insert into models (version, family, path, status, metrics, reason, created_at, "
                         "activated_at, updated_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?)", [
            ("v1", "tft", "registry/v1", "retired", '{"pinball": 0.012}', None, marks[0], marks[0], marks[100]),
            ("v2", "tft", "registry/v2", "active", '{"pinball": 0.010}', None, marks[100], marks[100], marks[100]),
            ("v3", "lstm", "registry/v3", "rejected", '{"pinball": 0.020}', "pinball worse than champion",
             marks[150], None, marks[150]),
        ])
        conn.executemany("insert into forecasts (run_id, ts, symbol, target, levels, quantiles, model) "
                         "values (?, ?, ?, ?, ?, ?, ?)", [
            (run_id, ts, "AAPL", "return_5d", json.dumps([0.1, 0.5, 0.9]), json.dumps([-0.03, 0.004, 0.04]), "v2")
            for ts in marks[100:200]
        ])
        conn.execute("drop view sentiment")  # the migrated view; here a per-text table with texts
        conn.execute("create table sentiment (ts text, symbol text, score real, text text, model text)")
        conn.executemany("insert into sentiment values (?, ?, ?, ?, ?)", [
            (ts, symbol, score, f"{symbol} headline {k}", "vader")
            for k, ts in enumerate(marks[-40:])
            for symbol, score in (("AAPL", 0.5 - k / 40), ("MSFT", -0.2 + k / 100))
        ])
    return db


class TestPages:
    def test_every_page_renders_without_an_exception(self, backtest_db, monkeypatch) -> None:
        db, _ = backtest_db
        app = start(monkeypatch, "--db", str(db))
        assert not app.exception
        for page in PAGES:
            show(app, page)
            assert app.header[0].value == page

    def test_the_equity_tile_is_the_stores_last_mark(self, backtest_db, monkeypatch) -> None:
        db, run_id = backtest_db
        (equity, cash), = query(db, "select equity, cash from equity where run_id = ? order by ts desc limit 1", run_id)
        app = start(monkeypatch, "--db", str(db), "--run", run_id)
        shown = tiles(app)
        assert shown["Equity"] == f"{equity:,.2f}"
        assert shown["Cash"] == f"{cash:,.2f}"
        assert_allclose(float(shown["Total return"].rstrip("%")) / 100, equity / 1_000_000 - 1, atol=5e-5)

    def test_the_overview_draws_equity_with_the_benchmark_and_drawdown(self, backtest_db, monkeypatch) -> None:
        db, _ = backtest_db
        app = start(monkeypatch, "--db", str(db))
        (chart,) = app.get("plotly_chart")
        names = [trace["name"] for trace in json.loads(chart.proto.spec)["data"]]
        assert names == ["equity", "equal-weight buy and hold", "drawdown", "benchmark drawdown"]

    def test_the_risk_page_shows_the_latest_decision(self, backtest_db, monkeypatch) -> None:
        db, run_id = backtest_db
        (vol, bound), = query(db, "select vol, bound from risk where run_id = ? order by ts desc limit 1", run_id)
        app = show(start(monkeypatch, "--db", str(db)), "Risk")
        assert tiles(app)["Forecast vol"] == f"{vol:.2%}"
        assert tiles(app)["Bound by"] == bound
        assert len(app.get("plotly_chart")) == 3

    def test_orders_filter_by_symbol(self, backtest_db, monkeypatch) -> None:
        db, run_id = backtest_db
        app = show(start(monkeypatch, "--db", str(db)), "Orders and fills")
        app.multiselect(key="order_symbols").set_value(["AAPL"]).run()
        (count,), = query(db, "select count(*) from orders where run_id = ? and symbol = 'AAPL'", run_id)
        (total,), = query(db, "select count(*) from orders where run_id = ?", run_id)
        assert any(c.value == f"{count} of {total} orders" for c in app.caption)
        assert set(app.dataframe[0].value["symbol"]) == {"AAPL"}


class TestAbsentData:
    @pytest.mark.parametrize("page", ["Models", "Sentiment"])
    def test_a_page_without_its_table_says_so_in_one_line(self, backtest_db, monkeypatch, page) -> None:
        db, _ = backtest_db
        app = show(start(monkeypatch, "--db", str(db)), page)
        (info,) = app.info
        assert "no model data yet" in info.value.lower() or "no sentiment data yet" in info.value.lower()
        assert "\n" not in info.value

    def test_a_missing_database_is_one_error_line_not_an_exception(self, tmp_path, monkeypatch) -> None:
        app = start(monkeypatch, "--db", str(tmp_path / "none.db"))
        assert not app.exception
        assert app.error[0].value == f"No database at {tmp_path / 'none.db'} (has the daemon run yet?)"

    def test_an_unknown_run_falls_back_to_the_latest_with_a_warning(self, backtest_db, monkeypatch) -> None:
        db, run_id = backtest_db
        app = start(monkeypatch, "--db", str(db), "--run", "nope")
        assert "no run 'nope'" in app.sidebar.warning[0].value
        assert app.sidebar.selectbox(key="run").value == run_id


def numbers(values: object) -> np.ndarray:
    """A plotly trace's numeric array (plain list, or plotly's base64 typed array)."""
    if isinstance(values, dict):
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])
    return np.asarray(values, dtype=float)


class TestOptionalTables:
    def test_models_page_lists_versions_marks_swaps_and_draws_the_fan(self, with_models, monkeypatch) -> None:
        app = show(start(monkeypatch, "--db", str(with_models)), "Models")
        assert list(app.dataframe[0].value["version"]) == ["v1", "v2", "v3"]
        charts = {c.proto.spec and json.loads(c.proto.spec)["layout"]["title"]["text"] for c in app.get("plotly_chart")}
        assert charts == {"Equity and drawdown", "Forecast fan: AAPL"}
        timeline = json.loads(app.get("plotly_chart")[0].proto.spec)["data"]
        markers = next(t for t in timeline if t["name"] == "models")
        assert markers["text"] == ["swap to v1", "swap to v2", "rejected v3: pinball worse than champion"]

    def test_the_fan_shows_the_quantiles_against_the_return_that_followed(self, with_models, monkeypatch) -> None:
        from skfolio.datasets import load_sp500_dataset

        app = show(start(monkeypatch, "--db", str(with_models)), "Models")
        fan = {t["name"]: t for t in json.loads(app.get("plotly_chart")[1].proto.spec)["data"]}
        assert_allclose(numbers(fan["P10-P90"]["y"]), -0.03)
        assert_allclose(numbers(fan["P50"]["y"]), 0.004)
        assert_allclose(numbers(fan["P90"]["y"]), 0.04)
        close = load_sp500_dataset()["AAPL"].astype(float)
        days = [str(ts)[:10] for (ts,) in query(with_models, "select ts from forecasts order by ts")]
        at = close.index.get_indexer(pd.DatetimeIndex(days))
        expected = close.to_numpy()[at + 5] / close.to_numpy()[at] - 1  # return_5d: five sessions on
        assert_allclose(numbers(fan["realised"]["y"]), expected, rtol=1e-12)

    def test_sentiment_page_draws_daily_scores_and_the_extreme_texts(self, with_models, monkeypatch) -> None:
        app = show(start(monkeypatch, "--db", str(with_models)), "Sentiment")
        assert len(app.get("plotly_chart")) == 1
        positive, negative = app.dataframe[0].value, app.dataframe[1].value
        rows = query(with_models, "select ts, score from sentiment")
        last = max(pd.Timestamp(ts) for ts, _ in rows)
        recent = sorted(score for ts, score in rows if pd.Timestamp(ts) >= last - pd.Timedelta(days=30))
        assert len(recent) < len(rows)  # older texts are left out
        assert_allclose(positive["score"], recent[::-1][:5])
        assert_allclose(negative["score"], recent[:5])


class TestUnexpectedShapes:
    def test_optional_tables_in_shapes_the_pages_do_not_know_are_shown_not_raised(
        self, backtest_db, tmp_path: Path, monkeypatch
    ) -> None:
        source, _ = backtest_db
        db = tmp_path / "odd.db"
        shutil.copy(source, db)
        with sqlite3.connect(db) as conn:
            # A schema the pages do not know: tradingd's own tables replaced by other shapes.
            conn.executescript("drop view latest_forecasts; drop table forecasts; drop table models; drop view sentiment;")
            conn.execute("create table models (version text, status text, created_at text, activated_at text)")
            conn.execute("insert into models values ('m1', 'active', 'last tuesday', '2020-01-02')")
            conn.execute("create table forecasts (ts text, symbol text, point real)")  # no quantiles
            conn.execute("insert into forecasts values ('2020-01-02T21:00:00+00:00', 'AAPL', 0.01)")
            conn.execute("create view sentiment as select 'AAPL' as symbol, 'n/a' as label")  # no time, no score
        app = show(start(monkeypatch, "--db", str(db)), "Models")
        assert list(app.dataframe[0].value["version"]) == ["m1"]
        assert any("no quantile columns" in c.value for c in app.caption)
        app = show(app, "Sentiment")
        assert list(app.dataframe[0].value.columns) == ["symbol", "label"]
