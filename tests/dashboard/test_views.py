"""Derived views of a real backtest reconcile with what the store recorded."""

from __future__ import annotations

import pytest
from numpy.testing import assert_allclose

from dashboard.data import load_run, open_store
from dashboard.views import performance


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
        assert run.models is None and run.forecasts is None and run.sentiment is None
