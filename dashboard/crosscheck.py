"""vectorbt's statistics for a run's own fills: an independent second opinion on our figures.

The run's fills are replayed as orders (amount, price and fee exactly as filled) on the
universe's closes at the run's marks, with one shared cash account, so vectorbt values
the very same book; its ``stats()`` then computes returns, drawdown and Sharpe its own
way (annualised over 252 days, as ours).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["vectorbt_stats"]


def _orders(fills: pd.DataFrame, marks: pd.DatetimeIndex) -> pd.DataFrame:
    """Fills aggregated per (mark row, symbol): the first mark at or after each fill."""
    rows = np.searchsorted(marks.to_numpy(), fills["ts"].to_numpy(), side="left")
    rows = np.minimum(rows, len(marks) - 1)
    frame = pd.DataFrame(
        {
            "row": rows,
            "symbol": fills["symbol"].to_numpy(),
            "qty": fills["qty"].to_numpy(float),
            "notional": (fills["qty"] * fills["price"]).to_numpy(float),
            "fee": fills["fee"].to_numpy(float),
        }
    )
    out = frame.groupby(["row", "symbol"], sort=True).sum()
    out["price"] = out["notional"] / out["qty"].where(out["qty"] != 0)
    return out.reset_index()


def vectorbt_stats(fills: pd.DataFrame, closes: pd.DataFrame, start_cash: float) -> dict[str, float] | str:
    """vectorbt's figures for the book these fills built, or a one-line reason why not.

    ``fills``: ts, symbol, qty (signed), price, fee. ``closes``: (marks x symbols).
    Keys: start_value, end_value, total_return, max_drawdown, sharpe, ann_volatility,
    fees, orders, benchmark_return (all fractions, not percent).
    """
    try:
        import vectorbt as vbt
    except ImportError:
        return "vectorbt is not installed"
    if closes is None or closes.empty:
        return "no prices for the run's universe"
    marks = pd.DatetimeIndex(closes.index)
    close = closes.ffill().bfill().set_axis(pd.RangeIndex(len(closes)))
    size = pd.DataFrame(np.nan, index=close.index, columns=close.columns)
    price = close.copy()
    fixed_fees = pd.DataFrame(0.0, index=close.index, columns=close.columns)
    if not fills.empty:
        for row, symbol, qty, _, fee, px in _orders(fills, marks).itertuples(index=False):
            if symbol in size.columns and qty != 0:
                size.loc[row, symbol], price.loc[row, symbol], fixed_fees.loc[row, symbol] = qty, px, fee
    portfolio = vbt.Portfolio.from_orders(
        close, size, size_type="amount", price=price, fees=0.0, fixed_fees=fixed_fees,
        init_cash=start_cash, cash_sharing=True, group_by=True, call_seq="auto", freq="D",
    )
    settings = {"year_freq": "252 days"}
    stats = portfolio.stats(settings=settings, silence_warnings=True)
    volatility = portfolio.returns_stats(settings=settings, silence_warnings=True)["Annualized Volatility [%]"]
    return {
        "start_value": float(stats["Start Value"]),
        "end_value": float(stats["End Value"]),
        "total_return": float(stats["Total Return [%]"]) / 100.0,
        "max_drawdown": -float(stats["Max Drawdown [%]"]) / 100.0 if pd.notna(stats["Max Drawdown [%]"]) else 0.0,
        "sharpe": float(stats["Sharpe Ratio"]),
        "ann_volatility": float(volatility) / 100.0,
        "fees": float(stats["Total Fees Paid"]),
        "orders": int(portfolio.orders.count()),
        "benchmark_return": float(stats["Benchmark Return [%]"]) / 100.0,
    }
