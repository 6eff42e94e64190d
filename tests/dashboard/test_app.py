"""The Streamlit app under Streamlit's AppTest, against a real backtest's SQLite file."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from dashboard_testkit import figures, query, show, start, traces, utc
from numpy.testing import assert_allclose
from streamlit.testing.v1 import AppTest

from state.models_table import ModelsTable
from state.store import Store

PAGES = ["Overview", "Positions", "Risk", "Orders and fills", "Jobs and health", "Models", "Sentiment"]


def tiles(app: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in app.metric}


@pytest.fixture(scope="module")
def with_models(backtest_db, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The backtest's database with a ``models`` table as a live daemon keeps it (the
    daemon records swaps and rejections there; a backtest only reads it)."""
    source, _ = backtest_db
    db = tmp_path_factory.mktemp("optional") / "tradingd.db"
    shutil.copy(source, db)
    store = Store.open(db)
    try:
        table, at = ModelsTable(store), lambda ts: pd.Timestamp(ts).to_pydatetime()
        for version, family in (("v1", "tft"), ("v2", "tft"), ("v3", "lstm")):
            table.add_candidate(version, family, f"registry/{version}", "2019-05-01T00:00:00+00:00", at("2019-06-03"))
        table.activate("v1", "validated (no champion to compare)", {"pinball": 0.012}, at("2019-06-03T21:00Z"))
        table.activate("v2", "validated", {"pinball": 0.010}, at("2019-10-01T21:00Z"))
        table.reject("v3", "pinball worse than champion", {"pinball": 0.020}, at("2020-01-02T21:00Z"))
    finally:
        store.close()
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


class TestOptionalTables:
    def test_a_live_daemons_models_table_gives_the_statuses_and_its_rejections_are_marked(
        self, with_models, monkeypatch
    ) -> None:
        app = show(start(monkeypatch, "--db", str(with_models)), "Models")
        versions = app.dataframe[0].value
        assert list(versions["version"]) == ["v1", "v2", "v3"]
        assert list(versions["status"]) == ["retired", "active", "rejected"]
        assert list(versions["family"]) == ["tft", "tft", "lstm"]
        markers = traces(figures(app)["Equity and drawdown"])["models"]
        assert markers["text"] == ["rejected v3: pinball worse than champion"]
        assert utc(markers["x"][0]) == pd.Timestamp("2020-01-02T21:00Z")
        assert any(c.value == "No forecasts recorded." for c in app.caption)


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
        app = show(app, "Sentiment")  # a `sentiment` table or view in SQLite is not where scores are read
        assert [i.value for i in app.info] == [f"No sentiment data yet: no lake for this run (looked in "
                                               f"{tmp_path / 'lake'}, {Path.cwd() / 'data' / 'lake'})."]
