"""Backtests through the real components and a real SQLite file."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from skfolio.datasets import load_sp500_dataset
from testkit import make_config, run_backtest

from brokers.paper import commission
from daemon.app import build_app
from daemon.backtest import run_backtest as drive
from strategies.base import Strategy
from strategies.view import LookAheadError, MarketView


def rows(db: Path, sql: str, *params) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


class TestDeterminism:
    def test_two_backtests_with_one_config_record_identical_fills_and_equity(self, tmp_path: Path) -> None:
        config = make_config(strategy={"name": "inverse_vol"})
        db = tmp_path / "t.db"
        first = run_backtest(config, db, "2008-01-01", "2009-12-31")
        second = run_backtest(config, db, "2008-01-01", "2009-12-31")
        assert first != second
        fills = "select ts, symbol, qty, price, fee, cost from fills where run_id = ? order by ts, symbol"
        equity = "select ts, cash, equity from equity where run_id = ? order by ts"
        assert rows(db, fills, first) == rows(db, fills, second)
        assert rows(db, equity, first) == rows(db, equity, second)
        assert len(rows(db, fills, first)) > 100


@pytest.fixture(scope="module")
def hrp_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Six years of the default strategy (HRP, next-bar fills, whole shares, costs on)."""
    db = tmp_path_factory.mktemp("hrp") / "t.db"
    config = make_config(broker={"commission_bps": 7.0, "min_commission": 5.0, "slippage_bps": 2.0})
    return db, run_backtest(config, db, "2005-01-01", "2010-12-31")


class TestAccounting:
    def test_every_mark_reconciles_with_the_fill_ledger_and_market_prices(self, hrp_run) -> None:
        db, run_id = hrp_run
        prices = load_sp500_dataset()
        fills = pd.DataFrame(
            rows(db, "select ts, symbol, qty, price, fee from fills where run_id = ? order by rowid", run_id),
            columns=["ts", "symbol", "qty", "price", "fee"],
        )
        marks = pd.DataFrame(
            rows(db, "select ts, cash, equity from equity where run_id = ? order by ts", run_id),
            columns=["ts", "cash", "equity"],
        )
        assert len(marks) > 1400
        fill_ts = pd.to_datetime(fills["ts"], utc=True)
        mark_ts = pd.to_datetime(marks["ts"], utc=True)
        dates = mark_ts.dt.tz_convert("America/New_York").dt.normalize().dt.tz_localize(None)
        worst_cash = worst_equity = 0.0
        for k in range(len(marks)):
            done = fills[fill_ts <= mark_ts[k]]
            cash = 1_000_000.0 - float((done["qty"] * done["price"]).sum() + done["fee"].sum())
            held = done.groupby("symbol")["qty"].sum()
            close = prices.loc[dates[k], held.index]
            equity = cash + float((held * close).sum())
            worst_cash = max(worst_cash, abs(cash - marks["cash"][k]))
            worst_equity = max(worst_equity, abs(equity - marks["equity"][k]) / equity)
        assert worst_cash < 1e-6  # to the cent, with room to spare
        assert worst_equity < 1e-9

    def test_fees_are_the_configured_bps_with_the_minimum(self, hrp_run) -> None:
        db, run_id = hrp_run
        fills = rows(db, "select qty, price, fee from fills where run_id = ?", run_id)
        expected = [commission(abs(q) * p, 7.0, 5.0) for q, p, _ in fills]
        assert_allclose([f for *_, f in fills], expected, atol=1e-12)
        notional = np.array([abs(q) * p for q, p, _ in fills])
        assert (notional * 7e-4 < 5.0).any() and (notional * 7e-4 > 5.0).any()  # both regimes exercised

    def test_fills_never_use_the_bar_that_produced_the_decision(self, hrp_run) -> None:
        db, run_id = hrp_run
        late = rows(
            db,
            """select count(*), sum(f.ts > t.bar_ts) from fills f
               join (select distinct ts, bar_ts from targets where run_id = ?) t
                 on t.ts = (select o.ts from orders o where o.order_id = f.order_id)
               where f.run_id = ?""",
            run_id,
            run_id,
        )[0]
        assert late[0] > 0 and late[0] == late[1]

    def test_the_views_answer_what_a_person_asks(self, hrp_run) -> None:
        db, run_id = hrp_run
        positions = rows(db, "select symbol, qty, weight from current_positions")
        assert positions and all(q > 0 for _, q, _ in positions)
        assert 0.9 < sum(w for *_, w in positions) <= 1.0 + 1e-9
        (latest,) = [r for r in rows(db, "select run_id, equity from latest_equity") if r[0] == run_id]
        assert latest[1] == rows(db, "select equity from equity where run_id = ? order by ts desc limit 1", run_id)[0][0]


class Peeker(Strategy):
    """Tries to read tomorrow's bar."""

    name = "peeker"
    warmup_bars = 5

    def target_weights(self, view: MarketView):
        view.bar(view.now + timedelta(days=1))
        return {"AAPL": 1.0}


class TestNoLookAhead:
    def test_a_strategy_reading_past_the_clock_raises_and_trades_nothing(self, tmp_path: Path) -> None:
        config = make_config(strategy={"rebalance": "daily"})
        app = build_app(config, mode="backtest", db_path=tmp_path / "t.db", start=date(2015, 1, 5),
                        end=date(2015, 1, 9), strategy=Peeker())
        view = app.trader.view
        with pytest.raises(LookAheadError):
            view.closes(5, end=view.now + timedelta(seconds=1))
        asyncio.run(drive(app, progress=False))
        app.close("completed")
        failed = rows(tmp_path / "t.db", "select error from jobs where job = 'rebalance' and status = 'failed'")
        assert len(failed) == 5
        assert all("LookAheadError" in e for (e,) in failed)
        assert rows(tmp_path / "t.db", "select count(*) from orders") == [(0,)]

    def test_the_view_holds_no_bar_later_than_the_clock(self, tmp_path: Path) -> None:
        config = make_config(strategy={"name": "inverse_vol"})
        app = build_app(config, mode="backtest", db_path=tmp_path / "t.db", start=date(2016, 3, 1),
                        end=date(2016, 3, 31))
        seen: list[tuple[float, float]] = []
        original = app.trader.strategy.target_weights

        def spy(view: MarketView):
            seen.append((float(view.bar_times(1)[-1]), view.now.timestamp()))
            return original(view)

        app.trader.strategy.target_weights = spy  # type: ignore[method-assign]
        app.trader.strategy.warmup_bars = 1
        asyncio.run(drive(app, progress=False))
        app.close("completed")
        assert seen and all(last_bar <= now for last_bar, now in seen)


class TestStaleness:
    def test_trading_stops_on_stale_prices_says_why_and_resumes(self, tmp_path: Path) -> None:
        # The NYSE closed from 2001-09-11 to 09-14: by Friday the newest bar is 4 days old.
        config = make_config(strategy={"name": "inverse_vol", "rebalance": "daily"})
        db = tmp_path / "t.db"
        run_backtest(config, db, "2001-09-04", "2001-09-21")
        skipped = rows(db, "select fired_at, detail from jobs where status = 'skipped'")
        assert len(skipped) == 1 and skipped[0][0].startswith("2001-09-14")
        assert "newest price 2001-09-10" in skipped[0][1] and "max_staleness_days = 4" in skipped[0][1]
        decided = [ts[:10] for (ts,) in rows(db, "select distinct ts from targets order by ts")]
        assert "2001-09-14" not in decided and "2001-09-17" in decided  # fresh data, trading again


class TestArchIndices:
    def test_the_bundled_ohlcv_source_fills_next_bar_orders_at_the_real_open(self, tmp_path: Path) -> None:
        from arch.data import sp500

        config = make_config(market={"source": "arch_indices"}, strategy={"name": "inverse_vol"})
        db = tmp_path / "t.db"
        run_backtest(config, db, "2008-01-01", "2008-12-31")
        fills = rows(db, "select ts, symbol, bar_price from fills where symbol = 'SP500' order by ts")
        assert len(fills) >= 10
        opens = sp500.load()["Open"]
        for ts, _, bar_price in fills:
            day = pd.Timestamp(ts).tz_convert("America/New_York").tz_localize(None).normalize()
            assert bar_price == pytest.approx(float(opens.loc[day]))
        decided = {t[:10] for (t,) in rows(db, "select ts from orders")}
        assert all(ts[:10] not in decided for ts, _, _ in fills)  # the bar after the decision
