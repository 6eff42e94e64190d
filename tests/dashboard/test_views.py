"""Derived views of a real backtest reconcile with what the store recorded."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest
from numpy.testing import assert_allclose

from dashboard.data import load_run, open_store
from dashboard.lake import lake_candidates, run_lake
from dashboard.prices import run_prices
from dashboard.views import performance
from state.lake import Lake


def read(db, run_id):
    store = open_store(db)
    try:
        return load_run(store, run_id)
    finally:
        store.close()


class TestWeights:
    def test_held_weights_sum_to_the_recorded_gross_exposure_at_every_mark(self, backtest_db) -> None:
        run = read(*backtest_db)
        perf = performance(run)
        gross = run.equity["gross"] / run.equity["equity"]
        assert_allclose(perf.weights.sum(axis=1), gross, atol=1e-9)

    def test_the_last_marks_weights_are_the_current_positions(self, backtest_db) -> None:
        run = read(*backtest_db)
        perf = performance(run)
        current = run.positions.set_index("symbol")["market_value"] / run.equity["equity"].iloc[-1]
        last = perf.weights.iloc[-1]
        assert_allclose(last[current.index], current, atol=1e-9)
        assert (last.drop(current.index).abs() < 1e-12).all()


class TestSnapshot:
    def test_an_unknown_run_is_a_lookup_error_naming_it(self, backtest_db) -> None:
        db, _ = backtest_db
        with pytest.raises(LookupError, match="no run 'nope'"):
            read(db, "nope")

    def test_absent_optional_tables_read_as_none(self, backtest_db) -> None:
        run = read(*backtest_db)
        assert run.models is None and run.forecasts is None


class TestPricesFromTheLake:
    def test_a_live_yfinance_run_is_valued_with_the_raw_closes_its_daemon_stored(self, backtest_db, tmp_path) -> None:
        sessions = pd.DatetimeIndex(["2024-03-04 21:00", "2024-03-05 21:00", "2024-03-06 21:00"], tz="UTC")
        rows = [("AAA", sessions[0], 10.0), ("AAA", sessions[1], 11.0), ("AAA", sessions[2], 12.0),
                ("BBB", sessions[0], 50.0), ("BBB", sessions[2], 55.0)]  # BBB has no bar on the 5th
        frame = pd.DataFrame(rows, columns=["symbol", "ts", "close"])
        frame["available_at"] = frame["ts"]
        for column in ("open", "high", "low", "volume"):
            frame[column] = float("nan")
        frame["source"] = "yahoo"
        Lake(tmp_path / "lake").write("bars", frame)
        real = read(*backtest_db)
        config = {"market": {"source": "yfinance", "symbols": ["AAA", "BBB"]}, "run": {"data_dir": str(tmp_path)}}
        live = dataclasses.replace(
            real,
            run={**real.run, "config_json": json.dumps(config)},
            equity=pd.DataFrame({"cash": 1.0, "equity": 1.0, "gross": 0.0}, index=sessions),
        )
        closes = run_prices(live).closes
        assert_allclose(closes["AAA"], [10.0, 11.0, 12.0])
        assert_allclose(closes["BBB"], [50.0, 50.0, 55.0])  # the last known close carried forward
        missing = dataclasses.replace(live, run={**real.run, "config_json": json.dumps(
            {**config, "run": {"data_dir": str(tmp_path / "elsewhere")}})})
        assert run_prices(missing) is None


class TestTheRunsLake:
    def test_a_relative_data_dir_is_looked_for_beside_the_database_then_under_the_working_folder(
        self, backtest_db, tmp_path
    ) -> None:
        real = read(*backtest_db)
        db = tmp_path / "data" / "tradingd.db"
        relative = dataclasses.replace(real, db=db, run={**real.run, "config_json": json.dumps({"run": {"data_dir": "data"}})})
        assert lake_candidates(relative) == [db.parent / "lake", Path.cwd() / "data" / "lake"]
        assert run_lake(relative) is None
        (db.parent / "lake").mkdir(parents=True)
        assert run_lake(relative).root == db.parent / "lake"
        elsewhere = dataclasses.replace(relative, run={**real.run, "config_json": json.dumps(
            {"run": {"data_dir": "data", "db": "/srv/tradingd.db"}})})  # the database was not in data_dir
        assert lake_candidates(elsewhere) == [Path.cwd() / "data" / "lake"]
        absolute = dataclasses.replace(real, run={**real.run, "config_json": json.dumps({"run": {"data_dir": str(tmp_path)}})})
        assert lake_candidates(absolute) == [tmp_path / "lake"]
