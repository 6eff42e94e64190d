"""The default `portfolio` strategy end to end: risk rows, limits, and parity with vectorbt."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from skfolio.datasets import load_sp500_dataset
from testkit import TRADINGD, cli_env, make_config, run_backtest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Four years of the shipped default strategy (HRP + GARCH(1,1) + VaR limit, monthly)."""
    db = tmp_path_factory.mktemp("default") / "t.db"
    config = make_config(risk={"target_vol": 0.10})  # tight enough that the vol target binds
    return db, run_backtest(config, db, "2007-01-01", "2010-12-31")


def query(db: Path, sql: str, *params) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


class TestRiskRecord:
    def test_every_decision_has_a_risk_row_that_matches_its_target(self, default_run) -> None:
        db, run_id = default_run
        risk = query(db, "select ts, vol, var, scale, bound, gross, weights from risk where run_id = ?", run_id)
        decisions = query(db, "select distinct ts from targets where run_id = ?", run_id)
        assert len(risk) == len(decisions) == 48
        for ts, vol, var, scale, bound, gross, weights in risk:
            target = dict(query(db, "select symbol, weight from targets where run_id = ? and ts = ?", run_id, ts))
            recorded = json.loads(weights)
            assert set(recorded) == set(target)
            assert_allclose([recorded[s] for s in target], list(target.values()), atol=1e-9)
            assert vol <= 0.10 + 1e-9 and var <= 0.025 + 1e-9
            assert 0 < scale <= 1 and gross <= 1 + 1e-9
            assert bound in {"none", "target_vol", "max_var", "max_cvar", "max_gross"}
            assert max(recorded.values()) <= 0.25 + 1e-9
        assert {b for *_, b, _, _ in risk} >= {"target_vol"}  # 2008: the limit did bind

    def test_the_risk_command_reports_the_latest_row_and_limits(self, default_run, tmp_path: Path) -> None:
        db, run_id = default_run
        result = subprocess.run([*TRADINGD, "risk", "--db", str(db), "--json"], cwd=tmp_path, env=cli_env(),
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["run_id"] == run_id and report["decisions"] == 48
        latest = report["latest"]
        assert latest["limits"]["target_vol"] == 0.10 and latest["limits"]["max_var"] == 0.025
        assert latest["ts"] == query(db, "select max(ts) from risk where run_id = ?", run_id)[0][0]


    def test_the_risk_command_shows_the_vol_the_risk_model_used(self, default_run, tmp_path: Path) -> None:
        db, run_id = default_run
        result = subprocess.run([*TRADINGD, "risk", "--db", str(db)], cwd=tmp_path, env=cli_env(),
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert "garch/normal volatility, vol source garch" in result.stdout
        (blob,) = query(db, "select diagnostics from risk where run_id = ? order by ts desc limit 1", run_id)[0]
        diagnostics = {s: d for s, d in json.loads(blob).items() if d["weight"]}
        symbol = max(diagnostics, key=lambda s: diagnostics[s]["weight"])
        line = next(ln for ln in result.stdout.splitlines() if ln.split()[:1] == [symbol])
        assert f"{diagnostics[symbol]['risk_vol']:.2%}" in line


    def test_with_the_model_as_vol_source_the_risk_report_shows_the_models_vol(self) -> None:
        from daemon.status import render_risk

        row = {
            "ts": "2020-01-02", "bar_ts": "2020-01-02", "strategy": "portfolio", "vol": 0.1, "var": 0.01,
            "cvar": 0.02, "var_method": "historical", "confidence": 0.95, "scale": 1.0, "bound": "none",
            "gross": 1.0, "limits": {"garch": "garch/normal", "vol_source": "model"}, "notes": None,
            "weights": {"AAA": 0.6, "BBB": 0.4},
            "diagnostics": {
                "AAA": {"base_weight": 0.5, "garch_vol": 0.2, "risk_vol": 0.3333},
                "BBB": {"base_weight": 0.5, "garch_vol": 0.25},  # a row from before risk_vol
            },
        }
        lines = render_risk({"run_id": "r", "decisions": 1, "latest": row}).splitlines()
        assert any(ln.endswith("vol source model") for ln in lines)
        assert "33.33%" in next(ln for ln in lines if ln.split()[:1] == ["AAA"])
        assert "25.00%" in next(ln for ln in lines if ln.split()[:1] == ["BBB"])


class TestVectorbtParity:
    def test_replaying_our_fills_in_vectorbt_gives_our_equity(self, default_run) -> None:
        import vectorbt as vbt

        db, run_id = default_run
        marks = pd.DataFrame(query(db, "select ts, equity from equity where run_id = ? order by ts", run_id),
                             columns=["ts", "equity"])
        fills = pd.DataFrame(query(db, "select ts, symbol, qty, price, fee from fills where run_id = ?", run_id),
                             columns=["ts", "symbol", "qty", "price", "fee"])
        days = pd.to_datetime(marks["ts"], utc=True).dt.tz_convert("America/New_York").dt.normalize()
        close = load_sp500_dataset().astype(float).loc[days.dt.tz_localize(None)]
        close.index = pd.RangeIndex(len(close))
        row_of = {ts: i for i, ts in enumerate(marks["ts"])}
        size = pd.DataFrame(np.nan, index=close.index, columns=close.columns)
        price = close.copy()
        fixed_fees = pd.DataFrame(0.0, index=close.index, columns=close.columns)
        for ts, symbol, qty, px, fee in fills.itertuples(index=False):
            i = row_of[ts]
            size.loc[i, symbol], price.loc[i, symbol], fixed_fees.loc[i, symbol] = qty, px, fee
        portfolio = vbt.Portfolio.from_orders(
            close, size, size_type="amount", price=price, fees=0.0, fixed_fees=fixed_fees,
            init_cash=1_000_000.0, cash_sharing=True, group_by=True, call_seq="auto", freq="D",
        )
        assert int(portfolio.orders.count()) == len(fills)  # vectorbt took every fill, none cut
        assert_allclose(portfolio.value().to_numpy(), marks["equity"].to_numpy(), rtol=1e-9)


class TestForecastTilt:
    def test_a_forecast_on_the_bus_tilts_the_next_decision_and_none_leaves_it_neutral(self) -> None:
        from datetime import datetime, time, timedelta

        from core.bus import EventBus
        from core.clock import ReplayClock
        from core.events import ForecastReady, RiskAssessed, TargetWeightsSet, freeze
        from daemon.feeds.bundled import BundledPrices
        from strategies.allocation.config import AllocationConfig
        from strategies.managed import ManagedPortfolio
        from strategies.risk.config import RiskConfig
        from strategies.runner import StrategyRunner

        prices = BundledPrices("skfolio_sp500", timezone="America/New_York", close_time=time(16))
        first = prices.index_of(datetime(2012, 1, 3).date())
        bars = prices.history(first - 300, first + 1)  # ends on 2012-01-03, the first bar of January

        def decide(forecast: ForecastReady | None) -> tuple[RiskAssessed, TargetWeightsSet]:
            clock = ReplayClock(bars[0].ts)
            bus = EventBus()
            runner = StrategyRunner(
                ManagedPortfolio(AllocationConfig(), RiskConfig(max_var=None, target_vol=1.0)),
                clock=clock, frequency="monthly", timezone="America/New_York",
            )
            runner.attach(bus)
            for bar in bars:
                clock.advance_to(bar.ts)
                bus.publish(bar)
                bus.drain()
            clock.advance_to(bars[-1].ts + timedelta(minutes=45))
            if forecast is not None:
                bus.publish(forecast)
                bus.drain()
            events, _ = runner.decide()
            return events[0], events[1]

        symbols = prices.symbols
        median = np.where(np.array(symbols) == "AAPL", 0.05, 0.0)  # a bullish view on one name
        forecast = ForecastReady(
            ts=bars[-1].ts + timedelta(minutes=40), symbols=symbols, levels=(0.1, 0.5, 0.9),
            quantiles=freeze(np.column_stack([median - 0.05, median, median + 0.05])), horizon=5, model="test",
        )
        neutral_risk, neutral = decide(None)
        tilted_risk, tilted = decide(forecast)
        i = symbols.index("AAPL")
        assert tilted.weights[i] > neutral.weights[i]
        diag = tilted_risk.assessment.diagnostics
        assert diag["AAPL"]["tilt"] > 1 and all(
            d["tilt"] == pytest.approx(1.0) for s, d in neutral_risk.assessment.diagnostics.items() if d["tilt"]
        )
