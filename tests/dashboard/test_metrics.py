"""The dashboard's numerics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from numpy.testing import assert_allclose

from dashboard import metrics


def marks(n: int, start: str = "2021-01-04") -> pd.DatetimeIndex:
    return pd.date_range(start, periods=n, freq="B", tz="UTC") + pd.Timedelta(hours=21)


class TestReturnsAndDrawdown:
    def test_the_first_return_is_measured_from_the_starting_cash(self) -> None:
        equity = pd.Series([101.0, 99.99, 105.0], index=marks(3))
        assert_allclose(metrics.daily_returns(equity, 100.0), [0.01, -0.01, 105.0 / 99.99 - 1])

    def test_drawdown_counts_the_starting_cash_as_the_first_high(self) -> None:
        equity = pd.Series([90.0, 120.0, 60.0, 130.0], index=marks(4))
        assert_allclose(metrics.drawdown(equity, 100.0), [-0.1, 0.0, -0.5, 0.0])


class TestBenchmark:
    def test_equal_weight_buy_and_hold_splits_the_cash_at_the_first_mark_and_never_rebalances(self) -> None:
        closes = pd.DataFrame({"A": [10.0, 20.0, 20.0], "B": [50.0, 25.0, np.nan]}, index=marks(3))
        value = metrics.equal_weight_benchmark(closes, 1000.0)
        # 50 shares of A, 10 of B; B's missing last price keeps its last value.
        assert_allclose(value, [1000.0, 50 * 20 + 10 * 25, 50 * 20 + 10 * 25])

    def test_a_symbol_without_a_first_price_sits_out(self) -> None:
        closes = pd.DataFrame({"A": [10.0, 11.0], "B": [np.nan, 5.0]}, index=marks(2))
        assert_allclose(metrics.equal_weight_benchmark(closes, 100.0), [100.0, 110.0])


class TestMonthlyAndRolling:
    def test_monthly_returns_compound_the_daily_ones_per_calendar_month(self) -> None:
        index = pd.DatetimeIndex(["2021-01-28", "2021-01-29", "2021-02-01", "2021-03-01"], tz="UTC")
        equity = pd.Series([110.0, 121.0, 108.9, 119.79], index=index)
        table = metrics.monthly_returns(equity, 100.0)
        assert table.shape == (1, 12)
        assert_allclose(table.loc[2021, [1, 2, 3]], [0.21, -0.1, 0.1])
        assert table.loc[2021, 4:].isna().all()

    def test_rolling_sharpe_and_vol_are_annualised_over_the_window(self) -> None:
        rng = np.random.default_rng(3)
        returns = pd.Series(rng.normal(0.001, 0.01, 300), index=marks(300))
        rolled = metrics.rolling_sharpe_vol(returns, window=126)
        tail = returns.iloc[-126:]
        assert len(rolled) == 300 - 125
        assert_allclose(rolled["volatility"].iloc[-1], tail.std(ddof=1) * math.sqrt(252))
        assert_allclose(rolled["sharpe"].iloc[-1], tail.mean() / tail.std(ddof=1) * math.sqrt(252))


class TestHoldingsAndTrading:
    def test_holdings_sum_fills_and_split_adjustments_up_to_each_mark(self) -> None:
        m = marks(3)
        fills = pd.DataFrame({"ts": [m[0], m[1]], "symbol": ["A", "A"], "qty": [10.0, -4.0]})
        splits = pd.DataFrame({"ts": [m[2]], "symbol": ["A"], "qty_before": [6.0], "qty_after": [12.0]})
        assert_allclose(metrics.holdings(fills, splits, m)["A"], [10.0, 6.0, 12.0])

    def test_weights_are_market_value_over_equity(self) -> None:
        m = marks(2)
        shares = pd.DataFrame({"A": [10.0, 10.0], "B": [0.0, 0.0]}, index=m)
        closes = pd.DataFrame({"A": [5.0, 6.0], "B": [1.0, 1.0]}, index=m)
        weights = metrics.weights_over_time(shares, closes, pd.Series([100.0, 120.0], index=m))
        assert list(weights.columns) == ["A"]  # never held: left out of the stack
        assert_allclose(weights["A"], [0.5, 0.5])

    def test_turnover_is_traded_notional_over_the_months_mean_equity(self) -> None:
        m = pd.DatetimeIndex(["2021-01-05", "2021-01-06", "2021-02-01"], tz="UTC")
        equity = pd.Series([100.0, 300.0, 400.0], index=m)
        fills = pd.DataFrame(
            {"ts": [m[0], m[1]], "qty": [2.0, -1.0], "price": [10.0, 20.0], "fee": [1.0, 0.5], "cost": [0.1, None]}
        )
        trading = metrics.trading_by_month(fills, equity)
        assert_allclose(trading["turnover"], [40.0 / 200.0, 0.0])
        assert_allclose(trading["commission"], [1.5, 0.0])
        assert_allclose(trading["slippage"], [0.1, 0.0])
