"""The universe's closes at a run's marks: for the benchmark, weights over time and vectorbt.

The store keeps what the run did, not the market; prices come from where the run got
them (``market.source`` in the run's recorded config):

- a bundled history (``skfolio_sp500``, ``arch_indices``) is reloaded;
- ``lake`` (your own history) is replayed as the run replayed it: the same
  ``LakeReplayPrices`` over the run's lake, as known when the run started;
- a live run on ``yfinance`` reads the raw closes its daemon stored in the lake.

The lake keeps raw prices: the book is valued on them (the account took the splits and
dividends as they came), while the equal-weight benchmark holds through them, on closes
adjusted for the corporate actions the run knew (a total return, dividends reinvested).
Where the prices cannot be read here the answer is ``None`` and the pages say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from daemon.feeds.bundled import SOURCES, BundledPrices
from daemon.feeds.lake_replay import LakeReplayPrices
from dashboard.data import RunData
from dashboard.lake import run_lake
from state.lake import Lake, adjustment_factors

__all__ = ["MarkPrices", "run_prices", "total_return_closes"]


@dataclass(frozen=True)
class MarkPrices:
    """Closes (marks x symbols) at every mark of a run, the last known close carried forward.

    ``closes``: the prices the run valued its book with; ``total_return``: the same closes
    adjusted for splits and dividends (equal to ``closes`` for the bundled sources, which
    are adjusted already or have no actions).
    """

    closes: pd.DataFrame
    total_return: pd.DataFrame


@lru_cache(maxsize=4)
def _bundled(source: str, timezone: str, close_time: str, symbols: tuple[str, ...]) -> pd.DataFrame:
    prices = BundledPrices(source, timezone=timezone, close_time=time.fromisoformat(close_time), symbols=symbols)
    return prices.closes()


@lru_cache(maxsize=4)
def _replayed(
    root: Path, as_of: datetime, timezone: str, close_time: str, symbols: tuple[str, ...], benchmark: str | None
) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """(raw, total-return) closes of a ``market.source = "lake"`` run, as its replay saw them."""
    lake = Lake(root)
    try:
        prices = LakeReplayPrices(lake, timezone=timezone, close_time=time.fromisoformat(close_time),
                                  symbols=symbols, as_of=as_of, benchmark=benchmark)
    except ValueError:  # the lake no longer holds the run's symbols
        return None
    closes = prices.closes()
    return closes, total_return_closes(closes, lake.read("corporate_actions", prices.symbols, as_of=as_of))


def total_return_closes(closes: pd.DataFrame, actions: pd.DataFrame) -> pd.DataFrame:
    """``closes`` (bar time in UTC x symbols, raw) back-adjusted for ``actions`` (the lake's
    ``corporate_actions`` rows: symbol, ts, action, value): a holding's value through a
    split or a dividend (reinvested) is continuous. Gaps (NaN) stay gaps."""
    out = closes.copy()
    if actions.empty:
        return out
    ts = closes.index.tz_convert(UTC).tz_localize(None).to_numpy(dtype="datetime64[us]")
    for symbol in closes.columns:
        mine = actions[actions["symbol"] == symbol]
        if mine.empty:
            continue
        priced = np.isfinite(closes[symbol].to_numpy(float))
        at = {kind: mine[mine["action"] == kind] for kind in ("split", "dividend")}
        stamps = {k: f["ts"].dt.tz_convert(UTC).dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
                  for k, f in at.items()}
        price, _ = adjustment_factors(ts[priced], closes[symbol].to_numpy(float)[priced],
                                      stamps["split"], at["split"]["value"].to_numpy(float),
                                      stamps["dividend"], at["dividend"]["value"].to_numpy(float))
        out.loc[priced, symbol] = closes[symbol].to_numpy(float)[priced] * price
    return out


def _live(lake: Lake, symbols: tuple[str, ...], start: pd.Timestamp, end: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """(raw, total-return) closes a live ``yfinance`` daemon stored, as known now."""
    now = datetime.now(UTC)
    bars = lake.read("bars", symbols, start, end, as_of=now, columns=["close"])
    if bars.empty:
        return None
    closes = bars.pivot_table(index="ts", columns="symbol", values="close", aggfunc="last")
    return closes, total_return_closes(closes, lake.read("corporate_actions", symbols, as_of=now))


def _source_closes(run: RunData, marks: pd.DatetimeIndex) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    market = run.config.get("market", {})
    source = market.get("source")
    symbols = tuple(market.get("symbols") or ())
    if source in SOURCES:
        closes = _bundled(source, market["timezone"], market["close_time"], symbols)
        return closes, closes
    lake = run_lake(run) if source in ("lake", "yfinance") else None
    if lake is None:
        return None
    if source == "lake":
        started = pd.Timestamp(run.run["started_at"]).tz_convert(UTC).to_pydatetime()
        return _replayed(lake.root, started, market["timezone"], market["close_time"], symbols, market.get("benchmark"))
    return _live(lake, symbols, marks[0] - pd.Timedelta(days=7), marks[-1])


def _at_marks(closes: pd.DataFrame, marks: pd.DatetimeIndex) -> pd.DataFrame:
    closes = closes.sort_index()
    return closes.reindex(closes.index.union(marks)).ffill().loc[marks]


def run_prices(run: RunData) -> MarkPrices | None:
    """The closes of ``run``'s universe at its marks; ``None`` without marks or when the
    run's price source cannot be read here."""
    if run.equity.empty:
        return None
    marks = run.equity.index
    found = _source_closes(run, marks)
    if found is None:
        return None
    raw, adjusted = found
    return MarkPrices(closes=_at_marks(raw, marks), total_return=_at_marks(adjusted, marks))
