"""What the pages and the report derive from a run: one computation, two renderers."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from dashboard import metrics
from dashboard.data import RunData
from dashboard.prices import run_prices

__all__ = ["Performance", "performance"]

ROLLING_WINDOW = 126  # six months of trading days


@dataclass(frozen=True)
class Performance:
    """Series over the run's marks (n,) and the tables built from them.

    ``closes`` (the prices the run valued its book with), ``benchmark`` (equal-weight buy
    and hold of the universe on total-return closes), ``benchmark_drawdown`` and
    ``weights`` are ``None`` when the run's price source cannot be read here (see
    ``dashboard.prices``).
    """

    equity: pd.Series
    returns: pd.Series
    drawdown: pd.Series
    closes: pd.DataFrame | None
    benchmark: pd.Series | None
    benchmark_drawdown: pd.Series | None
    weights: pd.DataFrame | None
    monthly: pd.DataFrame
    rolling: pd.DataFrame
    trading: pd.DataFrame


def performance(run: RunData) -> Performance:
    equity = run.equity["equity"].astype(float)
    cash = run.start_cash
    returns = metrics.daily_returns(equity, cash)
    prices = run_prices(run)
    closes = prices.closes if prices is not None else None
    benchmark = benchmark_drawdown = weights = None
    if prices is not None:
        benchmark = metrics.equal_weight_benchmark(prices.total_return, cash)
        benchmark_drawdown = metrics.drawdown(benchmark, cash)
        shares = metrics.holdings(run.fills, run.adjustments, equity.index)
        weights = metrics.weights_over_time(shares, closes, equity)
    return Performance(
        equity=equity,
        returns=returns,
        drawdown=metrics.drawdown(equity, cash),
        closes=closes,
        benchmark=benchmark,
        benchmark_drawdown=benchmark_drawdown,
        weights=weights,
        monthly=metrics.monthly_returns(equity, cash) if len(equity) else pd.DataFrame(),
        rolling=metrics.rolling_sharpe_vol(returns, ROLLING_WINDOW),
        trading=metrics.trading_by_month(run.fills, equity) if len(equity) else pd.DataFrame(),
    )
