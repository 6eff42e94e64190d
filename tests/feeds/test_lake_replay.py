"""``tradingd data backfill`` through the Yahoo source, and the lake replayed point in time.

yfinance talks HTTPS to fixed Yahoo hosts, so, as in test_yahoo.py, the recorded
downloads are injected at the download edge; everything behind it is real (guard,
parsing, the pull, the lake on disk)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from daemon.data.commands import backfill, lake_inventory
from test_yahoo import FakeYahoo, close_at, recorded

from core.events import BarsClosed, CorporateActionOccurred
from daemon.config import load_config
from daemon.feeds.lake_replay import LakeReplayPrices
from state.lake import Lake

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def backfilled(tmp_path: Path) -> tuple[Lake, FakeYahoo]:
    config = load_config(None, overrides={"run": {"data_dir": str(tmp_path)}, "feeds": {"yahoo": {"overlap_days": 0}}})
    download = FakeYahoo({"AAPL": recorded("2020-09-03")})
    report = asyncio.run(backfill(config, ["AAPL"], date(2020, 8, 1), until=pd.Timestamp("2020-09-03T00:00Z"), download=download))
    assert report.ok and report.rows_added == {"bars": 9, "corporate_actions": 2}
    return Lake(tmp_path / "lake"), download


def replay(lake: Lake) -> LakeReplayPrices:
    return LakeReplayPrices(lake, timezone="America/New_York", close_time=time(16, 0), as_of=NOW)


class TestBackfill:
    def test_backfill_pulls_from_the_start_date_and_a_second_one_adds_nothing(self, tmp_path: Path) -> None:
        lake, download = backfilled(tmp_path)
        config = load_config(None, overrides={"run": {"data_dir": str(tmp_path)}, "feeds": {"yahoo": {"overlap_days": 0}}})

        again = asyncio.run(backfill(config, ["AAPL"], date(2020, 8, 1), until=pd.Timestamp("2020-09-03T00:00Z"), download=download))

        assert download.calls[0] == ("AAPL", date(2020, 8, 1))
        assert again.ok and sum(again.rows_added.values()) == 0
        entries = {(e.dataset, e.symbol): e for e in lake_inventory(lake, now=NOW)}
        bars = entries[("bars", "AAPL")]
        # the recording skips 2020-08-11 .. 08-26: one gap of more than 5 sessions
        assert (bars.rows, bars.gaps, bars.first_ts[:10], bars.last_ts[:10]) == (9, 1, "2020-08-05", "2020-09-02")
        assert entries[("corporate_actions", "AAPL")].rows == 2


class TestPointInTimeReplay:
    def test_a_bar_is_handed_out_only_once_it_is_published(self, tmp_path: Path) -> None:
        prices = replay(backfilled(tmp_path)[0])
        close = close_at("2020-08-05").to_pydatetime()

        assert prices.take(close) == []  # at the close, the bar is not out yet (15 min delay)
        (bar,) = prices.take(close + pd.Timedelta("15min"))
        assert isinstance(bar, BarsClosed) and bar.ts == close
        assert bar.available_at <= close + pd.Timedelta("15min")

    def test_the_split_and_dividend_reach_the_replay_on_their_ex_dates_before_that_days_bar(self, tmp_path: Path) -> None:
        prices = replay(backfilled(tmp_path)[0])

        events = prices.take(NOW)

        kinds = [(type(e).__name__, e.ts.date().isoformat()) for e in events]
        assert kinds.index(("CorporateActionOccurred", "2020-08-31")) + 1 == kinds.index(("BarsClosed", "2020-08-31"))
        assert kinds.index(("CorporateActionOccurred", "2020-08-07")) + 1 == kinds.index(("BarsClosed", "2020-08-07"))
        split = next(e for e in events if isinstance(e, CorporateActionOccurred) and e.action == "split")
        assert split.value == 4.0
        bars = [e for e in events if isinstance(e, BarsClosed)]
        assert [round(float(b.close[0]), 2) for b in bars][-3:] == [129.04, 134.18, 131.40]  # raw, not adjusted

    def test_warm_up_bars_are_adjusted_for_the_actions_known_by_then_and_no_later_ones(self, tmp_path: Path) -> None:
        prices = replay(backfilled(tmp_path)[0])
        before_split = prices.history(0, 6)  # 08-05 .. 08-28: the split (08-31) is not known yet
        after_split = prices.history(0, 8)

        assert float(before_split[0].close[0]) == pytest.approx(440.25 * (1 - 0.82 / 455.61))  # the dividend only
        assert float(after_split[0].close[0]) == pytest.approx(440.25 * (1 - 0.82 / 455.61) / 4)
        assert float(after_split[-1].close[0]) == pytest.approx(134.18)

    def test_a_revision_imported_later_is_not_what_a_replay_of_the_past_sees(self, tmp_path: Path) -> None:
        lake, _ = backfilled(tmp_path)
        first = lake.read("bars", ["AAPL"], as_of=NOW).iloc[[0]].copy()
        first["close"] = 999.0
        first["available_at"] = pd.Timestamp("2021-01-01T00:00Z")
        lake.write("bars", first)

        bars = [e for e in replay(lake).take(NOW) if isinstance(e, BarsClosed)]

        assert float(bars[0].close[0]) == pytest.approx(440.25)
        assert np.isfinite([float(b.close[0]) for b in bars]).all()

    def test_symbols_not_in_the_lake_are_refused_by_name(self, tmp_path: Path) -> None:
        lake, _ = backfilled(tmp_path)
        with pytest.raises(ValueError, match="market.symbols: MSFT not in the lake"):
            LakeReplayPrices(lake, timezone="America/New_York", close_time=time(16, 0), symbols=("MSFT",), as_of=NOW)
        with pytest.raises(ValueError, match="no bars in"):
            replay(Lake(tmp_path / "empty"))

    def test_without_market_symbols_the_universe_is_the_lake_less_the_benchmark(self, tmp_path: Path) -> None:
        lake, _ = backfilled(tmp_path)
        lake.write("bars", lake.read("bars", ["AAPL"], as_of=NOW).assign(symbol="SPY"))
        only_spy = Lake(tmp_path / "only")
        only_spy.write("bars", lake.read("bars", ["SPY"], as_of=NOW))

        def prices(source: Lake, benchmark: str | None) -> LakeReplayPrices:
            return LakeReplayPrices(source, timezone="America/New_York", close_time=time(16, 0), as_of=NOW,
                                    benchmark=benchmark)

        assert prices(lake, None).symbols == ("AAPL", "SPY")
        assert prices(lake, "SPY").symbols == ("AAPL",)
        with pytest.raises(ValueError, match="nothing to trade"):
            prices(only_spy, "SPY")

    def test_a_symbol_whose_bars_stop_is_delisted_and_a_later_start_still_knows_it(self, tmp_path: Path) -> None:
        lake, _ = backfilled(tmp_path)
        lake.write("bars", lake.read("bars", ["AAPL"], as_of=NOW).iloc[:4].assign(symbol="GONE"))  # to 2020-08-10

        prices = replay(lake)
        events = prices.take(NOW)
        later = replay(lake)
        later.seek_after(close_at("2020-09-01").to_pydatetime())  # a resume after the delisting

        (gone,) = [e for e in events if isinstance(e, CorporateActionOccurred) and e.action == "delisting"]
        assert gone.symbol == "GONE" and gone.value == pytest.approx(450.91)
        assert gone.ts == pd.Timestamp("2020-08-27 00:00", tz="America/New_York")  # its first missing session
        assert [e for e in later.take(NOW) if isinstance(e, CorporateActionOccurred)] == [gone]
        assert [e for e in later.take(NOW)] == []
