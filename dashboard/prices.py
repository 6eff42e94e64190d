"""The universe's closes at a run's marks: for the benchmark, weights over time and vectorbt.

The store keeps what the run did, not the market; prices come from where the run got
them. A backtest or offline daemon replays a bundled history (``market.source`` in the
run's recorded config), which is reloaded here; a live run on ``yfinance`` reads the raw
closes its daemon stored in the lake. Where neither is at hand the answer is ``None``
and the pages say so.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from functools import lru_cache
from pathlib import Path

import pandas as pd

from daemon.feeds.bundled import SOURCES, BundledPrices
from dashboard.data import RunData

__all__ = ["run_closes"]


@lru_cache(maxsize=4)
def _bundled(source: str, timezone: str, close_time: str, symbols: tuple[str, ...]) -> pd.DataFrame:
    prices = BundledPrices(source, timezone=timezone, close_time=time.fromisoformat(close_time), symbols=symbols)
    return prices.closes()


def _lake(data_dir: str, symbols: tuple[str, ...], start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame | None:
    from state.lake import Lake

    root = Path(data_dir) / "lake"
    if not root.exists():
        return None
    bars = Lake(root).read("bars", symbols, start, end, as_of=datetime.now(UTC), columns=["close"])
    if bars.empty:
        return None
    return bars.pivot_table(index="ts", columns="symbol", values="close", aggfunc="last")


def run_closes(run: RunData) -> pd.DataFrame | None:
    """Closes (mark time x symbol) at every mark of ``run``, the last known close carried
    forward; ``None`` when the run's price source cannot be read here."""
    if run.equity.empty:
        return None
    market = run.config.get("market", {})
    source = market.get("source")
    symbols = tuple(market.get("symbols") or ())
    marks = run.equity.index
    if source in SOURCES:
        closes = _bundled(source, market["timezone"], market["close_time"], symbols)
    elif source == "yfinance":
        data_dir = run.config.get("run", {}).get("data_dir", "data")
        closes = _lake(data_dir, symbols, marks[0] - pd.Timedelta(days=7), marks[-1])
        if closes is None:
            return None
    else:
        return None
    closes = closes.sort_index()
    return closes.reindex(closes.index.union(marks)).ffill().loc[marks]
