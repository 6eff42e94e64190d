"""A backtest on ``market.source = "lake"``: the dashboard values it, and draws its
benchmark, from the lake's prices the run replayed, through a split."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dashboard_testkit import figures, numbers, show, start, traces
from numpy.testing import assert_allclose
from testkit import make_config, run_backtest

from daemon.data.importer import ImportOptions, import_files
from dashboard.data import load_run, open_store
from dashboard.report import statistics_rows
from dashboard.views import performance
from state.lake import Lake

pytestmark = pytest.mark.slow
SYMBOLS = ("AAA", "BBB", "CCC")
SPLIT = ("AAA", 80)  # (symbol, session): a 2:1 split, the raw price halves that day


@pytest.fixture(scope="module")
def lake_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, pd.DataFrame]:
    """(database, run id, raw closes as imported: session x symbol): random walks with a
    2:1 split of AAA, imported with the real importer, backtested weekly (inverse vol)."""
    tmp = tmp_path_factory.mktemp("lake_run")
    sessions = pd.bdate_range("2021-01-04", periods=120)
    rng = np.random.default_rng(11)
    closes = pd.DataFrame({s: 50 * np.exp(np.cumsum(rng.normal(0, 0.012, len(sessions)))) for s in SYMBOLS},
                          index=sessions).round(4)
    closes.loc[sessions[SPLIT[1]]:, SPLIT[0]] = (closes.loc[sessions[SPLIT[1]]:, SPLIT[0]] / 2).round(4)
    paths = []
    for symbol in SYMBOLS:
        path = tmp / f"{symbol}.csv"
        closes[[symbol]].rename(columns={symbol: "Close"}).to_csv(path, index_label="Date")
        paths.append(path)
    actions = tmp / "actions.csv"
    actions.write_text(f"date,symbol,action,value\n{sessions[SPLIT[1]].date()},{SPLIT[0]},split,2\n")
    report = import_files(Lake(tmp / "data" / "lake"), paths, ImportOptions(), actions=actions,
                          known_at=datetime.now(UTC) - timedelta(days=1))
    assert not report.errors and report.written
    config = make_config(market={"source": "lake", "symbols": list(SYMBOLS)}, run={"data_dir": str(tmp / "data")},
                         strategy={"name": "inverse_vol", "rebalance": "weekly"})
    db = tmp / "tradingd.db"
    return db, run_backtest(config, db, "2021-03-01", "2021-06-18"), closes


def read(db: Path, run_id: str):
    store = open_store(db)
    try:
        return load_run(store, run_id)
    finally:
        store.close()


def buy_and_hold(closes: pd.DataFrame, marks: pd.DatetimeIndex, cash: float) -> np.ndarray:
    """Equal parts of each symbol at the first mark's close, held: the split doubles the shares."""
    days = marks.tz_convert("America/New_York").tz_localize(None).normalize()
    raw = closes.reindex(days)
    shares = pd.DataFrame(np.tile(cash / len(SYMBOLS) / raw.iloc[0].to_numpy(), (len(days), 1)), index=days,
                          columns=list(SYMBOLS))
    shares.loc[days >= closes.index[SPLIT[1]], SPLIT[0]] *= 2
    return (shares * raw).sum(axis=1).to_numpy()


class TestLakeSourceRun:
    def test_the_benchmark_holds_the_lake_closes_the_run_replayed_through_the_split(self, lake_run) -> None:
        db, run_id, closes = lake_run
        run = read(db, run_id)
        perf = performance(run)
        assert perf.benchmark is not None
        expected = buy_and_hold(closes, run.equity.index, run.start_cash)
        assert_allclose(perf.benchmark.to_numpy(), expected, rtol=1e-10)
        split_day = closes.index[SPLIT[1]]
        days = run.equity.index.tz_convert("America/New_York").tz_localize(None).normalize()
        assert days[0] < split_day <= days[-1]  # the split falls inside the run

    def test_the_book_is_valued_on_the_raw_closes_as_the_run_marked_it(self, lake_run) -> None:
        db, run_id, closes = lake_run
        run = read(db, run_id)
        perf = performance(run)
        days = run.equity.index.tz_convert("America/New_York").tz_localize(None).normalize()
        assert_allclose(perf.closes.to_numpy(), closes.reindex(days).to_numpy(), rtol=1e-12)
        gross = run.equity["gross"] / run.equity["equity"]
        assert_allclose(perf.weights.sum(axis=1), gross, atol=1e-9)  # held shares x raw closes = the marks

    def test_the_overview_draws_that_benchmark(self, lake_run, monkeypatch) -> None:
        db, run_id, closes = lake_run
        app = show(start(monkeypatch, "--db", str(db)), "Overview")
        assert not [c.value for c in app.caption if "No benchmark" in c.value]
        line = traces(figures(app)["Equity and drawdown"])["equal-weight buy and hold"]
        run = read(db, run_id)
        assert_allclose(numbers(line["y"]), buy_and_hold(closes, run.equity.index, run.start_cash), rtol=1e-10)

    def test_the_report_does_not_ask_vectorbt_to_replay_a_book_a_split_changed(self, lake_run) -> None:
        db, run_id, _ = lake_run
        run = read(db, run_id)
        rows, note = statistics_rows(run, performance(run))
        assert note == "not run: 1 corporate action(s) changed the book, and vectorbt replays fills only"
        assert all(r["vectorbt"] is None for r in rows)
        assert next(r for r in rows if r["key"] == "benchmark_return")["ours"] is not None
