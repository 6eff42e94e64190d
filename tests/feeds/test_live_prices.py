"""LakePrices: the live daemon's price feed, Yahoo through a real lake into BarsClosed."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from feeds_testkit import FakeTime, make_guard
from test_yahoo import FakeYahoo, close_at, recorded

from core.events import BarsClosed
from daemon.feeds.config import YahooConfig
from daemon.feeds.live_prices import LakePrices
from daemon.feeds.yahoo import YahooSource
from state.lake import Lake


def feed(tmp_path: Path, frame: pd.DataFrame) -> LakePrices:
    config = YahooConfig.model_validate({"enabled": True})
    source = YahooSource(config, make_guard("yahoo", config, FakeTime()), download=FakeYahoo({"AAPL": frame}))
    return LakePrices(source, Lake(tmp_path / "lake"), ("AAPL", "MSFT"), start=date(2020, 8, 1))


class TestLakePrices:
    def test_each_new_session_becomes_one_bar_once_and_only_when_known(self, tmp_path: Path) -> None:
        prices = feed(tmp_path, recorded("2020-09-03"))
        now = close_at("2020-08-10") + pd.Timedelta(hours=1)
        events = asyncio.run(prices.pull(now.to_pydatetime()))
        bars = [e for e in events if isinstance(e, BarsClosed)]
        assert [(e.action, e.value) for e in events if not isinstance(e, BarsClosed)] == [("dividend", 0.82)]  # raw, per pre-split share
        days = [b.ts for b in bars]
        assert days == [close_at(d).to_pydatetime() for d in ("2020-08-05", "2020-08-06", "2020-08-07", "2020-08-10")]
        assert all(b.available_at <= now.to_pydatetime() for b in bars)
        assert bars[0].symbols == ("AAPL", "MSFT")
        assert bars[0].close[0] > 0 and np.isnan(bars[0].close[1])  # MSFT: no data, NaN
        # A later pull hands out only the new sessions; a pull with nothing new, nothing.
        later = close_at("2020-08-31") + pd.Timedelta(hours=1)
        newer = asyncio.run(prices.pull(later.to_pydatetime()))
        assert [b.ts.date().isoformat() for b in newer if isinstance(b, BarsClosed)] == [
            "2020-08-27", "2020-08-28", "2020-08-31"]
        assert asyncio.run(prices.pull(later.to_pydatetime())) == []

    def test_warm_up_history_reads_the_lake_as_of_now(self, tmp_path: Path) -> None:
        prices = feed(tmp_path, recorded("2020-09-03"))
        asyncio.run(prices.pull((close_at("2020-09-02") + pd.Timedelta(hours=1)).to_pydatetime()))
        history = prices.history(3, (close_at("2020-08-28") + pd.Timedelta(hours=1)).to_pydatetime())
        assert [b.ts.date().isoformat() for b in history] == ["2020-08-10", "2020-08-27", "2020-08-28"]


class TestCorporateActions:
    def test_the_split_is_handed_out_just_before_the_first_bar_priced_ex_split(self, tmp_path: Path) -> None:
        from core.events import CorporateActionOccurred

        prices = feed(tmp_path, recorded("2020-09-03"))
        asyncio.run(prices.pull((close_at("2020-08-28") + pd.Timedelta(hours=1)).to_pydatetime()))
        events = asyncio.run(prices.pull((close_at("2020-09-01") + pd.Timedelta(hours=1)).to_pydatetime()))
        kinds = [type(e).__name__ for e in events]
        assert kinds == ["CorporateActionOccurred", "BarsClosed", "BarsClosed"]
        split, first_ex = events[0], events[1]
        assert isinstance(split, CorporateActionOccurred) and isinstance(first_ex, BarsClosed)
        assert (split.symbol, split.action, split.value) == ("AAPL", "split", 4.0)
        assert split.ts < first_ex.ts and first_ex.ts.date().isoformat() == "2020-08-31"
        # Raw prices: the bar before the split is ~4x the bar after it.
        assert asyncio.run(prices.pull((close_at("2020-09-01") + pd.Timedelta(hours=2)).to_pydatetime())) == []
