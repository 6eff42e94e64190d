"""Offline loader for the real data bundled with skfolio and arch.

Returns plain DataFrames in the shape the feature builder takes, so the daemon's Parquet lake
can replace this loader later without touching the models:

* prices:  (T, N) adjusted closes, DatetimeIndex, one column per symbol
* volume:  (T, N) share volume or None
* macro:   {name: DataFrame indexed by observation date `ts`, value columns + `available_at`}
* sentiment: scored texts (symbol, score, available_at, label, model), or None; training
  keeps `models.data.sentiment`'s rows only

Monthly FRED series are dated at the period start but released later; `available_at` uses
conservative publication lags so a backtest never sees a number before it was published.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from models.config import DataConfig
from models.sentiment.training import read_rows

__all__ = ["MarketData", "load_bundled", "load_macro", "read_packaged_csv", "with_sentiment_rows"]

# Why these lags: FRED stamps CPILFESL at the first of the month it describes and BLS
# publishes it mid-next-month; Moody's AAA/BAA monthly averages are final at month end; the
# WTI spot close for day d is posted the next business day.
CPI_LAG = pd.DateOffset(days=15)
YIELD_LAG = pd.DateOffset(days=1)
WTI_LAG = pd.offsets.BDay(1)


def read_packaged_csv(package: str, relative: str) -> pd.DataFrame:
    """A csv.gz shipped inside an installed package, Date column as the index.

    Reads the file directly instead of calling the package's own loader: importing skfolio
    pulls in scikit-learn and cvxpy (~7 s) and arch ~3 s, paid again by every torchrun rank
    and tuning worker. tests/models/test_data.py checks the result equals the loaders'.
    """
    spec = importlib.util.find_spec(package)  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"package {package!r} with bundled data is not installed")
    frame = pd.read_csv(Path(spec.submodule_search_locations[0]) / relative, index_col=0)
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame.index), name="Date")
    return frame.apply(pd.to_numeric, errors="coerce")


@dataclass(frozen=True, slots=True)
class MarketData:
    prices: pd.DataFrame
    volume: pd.DataFrame | None = None
    macro: dict[str, pd.DataFrame] = field(default_factory=dict)
    # scored texts: (symbol, score, available_at, label, model); models.dataset keeps the
    # configured model's rows, which enter features at their available_at
    # (daemon.sentiment_training reads them from the lake)
    sentiment: pd.DataFrame | None = None


def _monthly_available(index: pd.DatetimeIndex, lag: pd.DateOffset) -> pd.DatetimeIndex:
    return index + pd.offsets.MonthEnd(0) + lag


def load_macro() -> dict[str, pd.DataFrame]:
    """Real FRED series from arch: WTI spot (daily), core CPI YoY, AAA/BAA yields + spread."""
    oil = (
        read_packaged_csv("arch", "data/wti/wti.csv.gz")
        .dropna()
        .rename(columns={"DCOILWTICO": "wti"})
    )
    oil = oil[oil["wti"] > 0]  # the April 2020 negative print is absent here but guard log()
    oil["available_at"] = oil.index + WTI_LAG

    cpi = read_packaged_csv("arch", "data/core_cpi/core-cpi.csv.gz").dropna()
    # YoY computed from rows that are all published by this row's own release date.
    cpi_yoy = np.log(cpi["CPILFESL"]).diff(12).to_frame("core_yoy").dropna()
    cpi_yoy["available_at"] = _monthly_available(cpi_yoy.index, CPI_LAG)

    yields = (
        read_packaged_csv("arch", "data/default/default.csv.gz")
        .dropna()
        .rename(columns={"AAA": "aaa", "BAA": "baa"})
    )
    yields["baa_aaa_spread"] = yields["baa"] - yields["aaa"]
    yields["available_at"] = _monthly_available(yields.index, YIELD_LAG)

    frames = {"oil": oil, "cpi": cpi_yoy, "rates": yields}
    for frame in frames.values():
        frame.index.name = "ts"
    return frames


def load_bundled(
    universe: str = "sp500_20", symbols: tuple[str, ...] | None = None, macro: bool = True
) -> MarketData:
    """`sp500_20`: skfolio's 20 S&P 500 stocks, adjusted closes 1990–2022, no volume.
    `indices`: arch's S&P 500 and NASDAQ composite OHLCV 1999–2018 (adjusted close + volume).
    """
    if universe == "sp500_20":
        prices = read_packaged_csv("skfolio", "datasets/data/sp500_dataset.csv.gz")
        volume = None
    elif universe == "indices":
        raw = {
            name: read_packaged_csv("arch", f"data/{name.lower()}/{name.lower()}.csv.gz")
            for name in ("SP500", "NASDAQ")
        }
        prices = pd.DataFrame({k: v["Adj Close"] for k, v in raw.items()})
        volume = pd.DataFrame({k: v["Volume"] for k, v in raw.items()}).astype(float)
    else:
        raise ValueError(f"unknown universe {universe!r}")
    if symbols is not None:
        missing = sorted(set(symbols) - set(prices.columns))
        if missing:
            raise ValueError(f"symbols not in universe {universe!r}: {missing}")
        prices = prices[list(symbols)]
        volume = volume[list(symbols)] if volume is not None else None
    prices.index = pd.DatetimeIndex(prices.index).astype("datetime64[ns]")
    if volume is not None:
        volume.index = prices.index
    return MarketData(prices.astype(float), volume, load_macro() if macro else {})


def with_sentiment_rows(cfg: DataConfig, market: MarketData) -> MarketData:
    """`market` plus the scored texts of `sentiment_rows` when sentiment is on and the
    caller handed none over (the torchrun path: each rank reads the file)."""
    if cfg.sentiment == "off" or market.sentiment is not None or cfg.sentiment_rows is None:
        return market
    return replace(market, sentiment=read_rows(cfg.sentiment_rows))
