"""Pure numerics behind the charts: frames in, frames out, no I/O.

Conventions follow ``daemon.report``: daily marks, 252 trading days a year, risk-free
rate 0, returns measured from the run's starting cash (so the first mark's return
counts).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = [
    "TRADING_DAYS",
    "daily_returns",
    "drawdown",
    "equal_weight_benchmark",
    "holdings",
    "monthly_returns",
    "rolling_sharpe_vol",
    "trading_by_month",
    "weights_over_time",
]

TRADING_DAYS = 252


def daily_returns(equity: pd.Series, start_cash: float) -> pd.Series:
    """Mark-to-mark returns (n,), the first one against ``start_cash``."""
    previous = equity.shift(1)
    previous.iloc[:1] = start_cash
    return equity / previous - 1.0


def drawdown(equity: pd.Series, start_cash: float) -> pd.Series:
    """E / running max(E) - 1 (n,), with the starting cash as the first high-water mark."""
    peak = np.maximum.accumulate(np.maximum(equity.to_numpy(float), start_cash))
    return pd.Series(equity.to_numpy(float) / peak - 1.0, index=equity.index)


def equal_weight_benchmark(closes: pd.DataFrame, start_cash: float) -> pd.Series:
    """Buy-and-hold of the universe in equal parts at the first mark, no costs.

    ``closes``: (n marks, k symbols). Symbols without a price at the first mark sit out;
    a missing later price keeps its last value. Returns the portfolio value (n,).
    """
    if closes.empty:
        return pd.Series(dtype=float)
    filled = closes.ffill()
    first = filled.iloc[0]
    held = first[first.notna() & (first > 0)].index
    if len(held) == 0:
        return pd.Series(np.nan, index=closes.index)
    shares = (start_cash / len(held)) / first[held]
    return (filled[held] * shares).sum(axis=1)


def monthly_returns(equity: pd.Series, start_cash: float) -> pd.DataFrame:
    """Compounded return per calendar month: a (years x 12) table, NaN where no marks."""
    returns = daily_returns(equity, start_cash)
    stamps = returns.index.tz_convert(None) if returns.index.tz is not None else returns.index
    grouped = (1.0 + returns.set_axis(stamps)).groupby([stamps.year, stamps.month]).prod() - 1.0
    table = grouped.unstack()
    table.index.name, table.columns.name = "year", "month"
    return table.reindex(columns=range(1, 13))


def rolling_sharpe_vol(returns: pd.Series, window: int = 126) -> pd.DataFrame:
    """Annualised rolling Sharpe and volatility over ``window`` marks (126: six months)."""
    mean = returns.rolling(window).mean()
    std = returns.rolling(window).std(ddof=1)
    scale = math.sqrt(TRADING_DAYS)
    sharpe = (mean / std.where(std > 0)) * scale
    return pd.DataFrame({"sharpe": sharpe, "volatility": std * scale}).dropna(how="all")


def trading_by_month(fills: pd.DataFrame, equity: pd.Series) -> pd.DataFrame:
    """Per month: traded notional / mean equity (turnover), commissions and slippage.

    ``fills``: rows with ts, qty, price, fee, cost. Months without fills show zeros.
    """
    stamps = equity.index.tz_convert(None)
    months = stamps.to_period("M")
    mean_equity = equity.set_axis(months).groupby(level=0).mean()
    if fills.empty:
        traded = pd.DataFrame(0.0, index=mean_equity.index, columns=["notional", "fee", "cost"])
    else:
        frame = pd.DataFrame(
            {
                "notional": (fills["qty"] * fills["price"]).abs().to_numpy(),
                "fee": fills["fee"].to_numpy(float),
                "cost": fills["cost"].fillna(0.0).to_numpy(float),
            },
            index=fills["ts"].dt.tz_convert(None).dt.to_period("M"),
        )
        traded = frame.groupby(level=0).sum().reindex(mean_equity.index, fill_value=0.0)
    out = pd.DataFrame(
        {"turnover": traded["notional"] / mean_equity, "commission": traded["fee"], "slippage": traded["cost"]}
    )
    out.index = out.index.to_timestamp()
    return out


def holdings(fills: pd.DataFrame, adjustments: pd.DataFrame, marks: pd.DatetimeIndex) -> pd.DataFrame:
    """Shares held at each mark (n marks x symbols): fills and split adjustments summed up
    to and including the mark's time (a derived view of the ledger, for charts only)."""
    parts = [fills[["ts", "symbol", "qty"]]] if not fills.empty else []
    if not adjustments.empty:
        delta = adjustments["qty_after"] - adjustments["qty_before"]
        parts.append(pd.DataFrame({"ts": adjustments["ts"], "symbol": adjustments["symbol"], "qty": delta}))
    if not parts:
        return pd.DataFrame(index=marks)
    changes = pd.concat(parts).pivot_table(index="ts", columns="symbol", values="qty", aggfunc="sum")
    held = changes.sort_index().cumsum()
    return held.reindex(held.index.union(marks)).ffill().fillna(0.0).loc[marks]


def weights_over_time(shares: pd.DataFrame, closes: pd.DataFrame, equity: pd.Series) -> pd.DataFrame:
    """Each holding's market value / equity at each mark (n x symbols; cash is the rest)."""
    common = [s for s in shares.columns if s in closes.columns]
    values = shares[common] * closes[common]
    weights = values.div(equity, axis=0).fillna(0.0)
    return weights.loc[:, (weights.abs() > 1e-12).any()]
