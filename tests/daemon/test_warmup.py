"""Warm-up covers the longest lookback any component reads (issue 9, part 1)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest
import structlog
from numpy.testing import assert_allclose
from testkit import make_config

from core.events import PortfolioMarked, RiskAssessed, TargetWeightsSet
from daemon.app import build_app, history_needs
from daemon.backtest import run_backtest as drive
from strategies.factory import build_strategy

# 2018-01-02: pull_prices at 16:30 and the first rebalance at 16:45, New York time.
PULL = datetime(2018, 1, 2, 21, 30, tzinfo=UTC)
DECIDE = datetime(2018, 1, 2, 21, 45, tzinfo=UTC)


class TestHistoryNeeds:
    def test_the_warm_up_is_the_longest_window_any_component_reads(self) -> None:
        config = make_config(risk={"garch": {"window": 900}, "var": {"lookback": 950}}, broker={"impact_window": 30})
        strategy = build_strategy(config.strategy, config.allocation, config.risk)
        needs = history_needs(config, strategy)
        assert needs == {
            "allocation.lookback": 253,
            "risk.garch.window": 901,
            "risk.var.lookback": 951,
            "broker.impact_window": 31,
        }

    def test_a_short_source_is_reported_once_at_start_naming_the_component_and_shortfall(self, tmp_path: Path) -> None:
        config = make_config(market={"source": "arch_indices"})
        with structlog.testing.capture_logs() as logs:
            app = build_app(config, mode="backtest", db_path=tmp_path / "t.db", start=date(2000, 6, 1), end=date(2000, 6, 5))
            app.close("completed")
        short = [e for e in logs if e["event"] == "warmup_history_short"]
        assert len(short) == 1
        available = short[0]["available_bars"]
        assert 0 < available < 1001
        assert short[0]["shortfall_bars"]["risk.garch.window"] == 1001 - available
        assert short[0]["shortfall_bars"]["risk.var.lookback"] == 501 - available
        assert "broker.impact_window" not in short[0]["shortfall_bars"]


def _long_run_first_2018_decision(db: Path) -> tuple[PortfolioMarked, TargetWeightsSet]:
    """A backtest from 2016 through 2018-01-02: the mark it held and the target it set."""
    app = build_app(make_config(), mode="backtest", db_path=db, start=date(2016, 1, 4), end=date(2018, 1, 2))
    marks: list[PortfolioMarked] = []
    targets: list[TargetWeightsSet] = []
    app.bus.subscribe(PortfolioMarked, marks.append, name="test:marks")
    app.bus.subscribe(TargetWeightsSet, targets.append, name="test:targets")
    asyncio.run(drive(app, progress=False))
    app.close("completed")
    mark = [m for m in marks if m.ts <= DECIDE][-1]
    target = [t for t in targets if t.ts == DECIDE]
    assert len(target) == 1
    return mark, target[0]


@pytest.fixture(scope="module")
def long_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[PortfolioMarked, TargetWeightsSet]:
    return _long_run_first_2018_decision(tmp_path_factory.mktemp("long") / "t.db")


class TestFirstDecision:
    def test_a_run_starting_2018_decides_with_garch_for_every_symbol_as_a_longer_run_does(
        self, tmp_path: Path, long_run: tuple[PortfolioMarked, TargetWeightsSet]
    ) -> None:
        long_mark, long_target = long_run
        app = build_app(make_config(), mode="backtest", db_path=tmp_path / "t.db", start=date(2018, 1, 2), end=date(2018, 1, 2))
        try:
            app.clock.advance_to(PULL)
            asyncio.run(app.jobs.fire("pull_prices"))
            app.bus.drain()
            app.trader.on_marked(long_mark)  # the same holdings as the longer run
            app.clock.advance_to(DECIDE)
            events, detail = app.trader.decide()
        finally:
            app.close("completed")
        assessed = [e for e in events if isinstance(e, RiskAssessed)]
        (target,) = [e for e in events if isinstance(e, TargetWeightsSet)]
        diagnostics = assessed[0].assessment.diagnostics
        assert len(diagnostics) == 20
        assert {d["vol_source"] for d in diagnostics.values()} == {"garch_fit"}, detail
        notes = " ".join(assessed[0].assessment.notes)
        assert "too_short" not in notes
        assert target.symbols == long_target.symbols
        # The longer run warm-starts its GARCH fits from last month's parameters; the
        # optimiser lands on the same optimum up to its tolerance.
        assert_allclose(np.asarray(target.weights), np.asarray(long_target.weights), atol=1e-6)
