"""Split and dividend adjustment of raw bars: pure functions, no I/O.

The lake stores raw prices and the corporate actions themselves. Adjusting on read, with
only the actions known as of the read date, keeps a backtest from seeing a split or a
dividend before it happened (back-adjusted vendor series bake every later action into
the past). The method is the usual multiplicative one (CRSP, Yahoo's "Adj Close").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["adjust_bars", "adjustment_factors"]

_PRICES = ("open", "high", "low", "close")


def adjustment_factors(
    ts: np.ndarray,
    close: np.ndarray,
    split_ts: np.ndarray,
    split_ratio: np.ndarray,
    dividend_ts: np.ndarray,
    dividend_amount: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Price and volume factors for one symbol's bars.

    ``ts``, ``close``: (T,) bar times (sorted ascending) and raw closes. ``split_ts``,
    ``split_ratio``: (S,) ex-dates and new-per-old share ratios. ``dividend_ts``,
    ``dividend_amount``: (D,) ex-dates and raw cash amounts. Returns ``(price, volume)``,
    each (T,): an adjusted price is ``raw * price``, an adjusted volume ``raw * volume``.

    An action adjusts every bar with ``ts`` strictly before its ``ts`` (bars are stamped
    at their close, actions at the start of the ex-date). A dividend's factor is
    ``1 - amount / close`` with the close of the last bar before the ex-date; a dividend
    with no earlier bar, a non-positive amount or one at or above that close is ignored.
    Splits with a non-positive ratio are ignored.
    """
    ts = np.asarray(ts)
    close = np.asarray(close, dtype=np.float64)
    ratio = np.asarray(split_ratio, dtype=np.float64)
    ok_split = np.isfinite(ratio) & (ratio > 0)
    split_ts, ratio = np.asarray(split_ts)[ok_split], ratio[ok_split]

    dividend_ts = np.asarray(dividend_ts)
    amount = np.asarray(dividend_amount, dtype=np.float64)
    prev = np.searchsorted(ts, dividend_ts, side="left") - 1
    prev_close = np.full(len(dividend_ts), np.nan)
    has_prev = prev >= 0
    prev_close[has_prev] = close[prev[has_prev]]
    with np.errstate(divide="ignore", invalid="ignore"):
        div_factor = 1.0 - amount / prev_close
    ok_div = np.isfinite(div_factor) & (amount > 0) & (div_factor > 0)

    event_ts = np.concatenate([split_ts, dividend_ts[ok_div]])
    event_price = np.concatenate([1.0 / ratio, div_factor[ok_div]])
    event_volume = np.concatenate([ratio, np.ones(int(ok_div.sum()))])
    order = np.argsort(event_ts, kind="stable")
    event_ts = event_ts[order]
    # suffix[k] = product of the factors of events k.. (the events after a bar)
    suffix_price = np.append(np.cumprod(event_price[order][::-1])[::-1], 1.0)
    suffix_volume = np.append(np.cumprod(event_volume[order][::-1])[::-1], 1.0)
    first_after = np.searchsorted(event_ts, ts, side="right")
    return suffix_price[first_after], suffix_volume[first_after]


def _naive_utc(ts: pd.Series) -> np.ndarray:
    return ts.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[us]")


def adjust_bars(bars: pd.DataFrame, actions: pd.DataFrame) -> pd.DataFrame:
    """Add ``adj_open``, ``adj_high``, ``adj_low``, ``adj_close``, ``adj_volume`` to ``bars``.

    ``bars``: the lake's bars schema (symbol, ts, open, high, low, close, volume, ...),
    any number of symbols. ``actions``: the corporate_actions schema; pass only the
    actions known at the adjustment date. Returns a copy in the same row order.
    """
    out = bars.copy()
    for column in (*_PRICES, "volume"):
        out[f"adj_{column}"] = np.nan
    for symbol, rows in out.groupby("symbol", sort=False):
        rows = rows.sort_values("ts")
        mine = actions[actions["symbol"] == symbol]
        splits = mine[mine["action"] == "split"]
        dividends = mine[mine["action"] == "dividend"]
        price, volume = adjustment_factors(
            _naive_utc(rows["ts"]),
            rows["close"].to_numpy(),
            _naive_utc(splits["ts"]),
            splits["value"].to_numpy(),
            _naive_utc(dividends["ts"]),
            dividends["value"].to_numpy(),
        )
        for column in _PRICES:
            out.loc[rows.index, f"adj_{column}"] = rows[column].to_numpy() * price
        out.loc[rows.index, "adj_volume"] = rows["volume"].to_numpy() * volume
    return out
