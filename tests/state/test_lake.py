"""The Parquet lake: idempotent atomic writes, crash safety, point-in-time reads, adjustment."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from numpy.testing import assert_allclose

from state.lake import Lake, LakeError, LakeSchemaError, adjustment_factors

ROOT = Path(__file__).resolve().parents[2]


def close_at(day: str) -> pd.Timestamp:
    return pd.Timestamp(f"{day} 16:00", tz="America/New_York").tz_convert("UTC")


def bars(symbol: str, days: list[str], closes: list[float], *, delay: str = "15min") -> pd.DataFrame:
    ts = pd.DatetimeIndex([close_at(d) for d in days])
    close = np.asarray(closes, dtype=float)
    return pd.DataFrame(
        {
            "symbol": symbol,
            "ts": ts,
            "available_at": ts + pd.Timedelta(delay),
            "open": close - 1,
            "high": close + 1,
            "low": close - 2,
            "close": close,
            "volume": 1000.0,
            "source": "test",
        }
    )


def actions(symbol: str, rows: list[tuple[str, str, float]], known: str | None = None) -> pd.DataFrame:
    """rows: (ex-date, action, value); known: when the actions became known (default: ex-date)."""
    ex = pd.DatetimeIndex([pd.Timestamp(d, tz="America/New_York").tz_convert("UTC") for d, _, _ in rows])
    return pd.DataFrame(
        {
            "symbol": symbol,
            "ts": ex,
            "available_at": ex if known is None else pd.DatetimeIndex([pd.Timestamp(known, tz="UTC")] * len(rows)),
            "action": [a for _, a, _ in rows],
            "value": [v for _, _, v in rows],
            "source": "test",
        }
    )


def macro(series: str, rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    """rows: (observation date, published, value)."""
    return pd.DataFrame(
        {
            "series": series,
            "ts": pd.to_datetime([r[0] for r in rows], utc=True),
            "available_at": pd.to_datetime([r[1] for r in rows], utc=True),
            "value": [r[2] for r in rows],
            "source": "test",
        }
    )


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(tmp_path / "lake")


LATER = "2030-01-01T00:00Z"


class TestLakeWrite:
    def test_rewriting_the_same_rows_leaves_files_and_rows_untouched(self, lake: Lake) -> None:
        frame = bars("AAPL", ["2020-01-02", "2020-01-03"], [300.0, 297.0])
        first = lake.write("bars", frame)
        path = next((lake.root / "bars").rglob("part-0.parquet"))
        before = path.stat().st_mtime_ns, path.stat().st_ino

        second = lake.write("bars", frame)

        assert (first.rows_added, second.rows_added, second.partitions_written) == (2, 0, ())
        assert (path.stat().st_mtime_ns, path.stat().st_ino) == before
        assert len(lake.read("bars", as_of=LATER)) == 2

    def test_a_repull_with_a_corrected_value_replaces_the_row_instead_of_adding_one(self, lake: Lake) -> None:
        lake.write("bars", bars("AAPL", ["2020-01-02", "2020-01-03"], [300.0, 297.0]))

        report = lake.write("bars", bars("AAPL", ["2020-01-03", "2020-01-06"], [298.0, 299.0]))

        read = lake.read("bars", ["AAPL"], as_of=LATER)
        assert report.rows_added == 2  # one corrected, one new
        assert_allclose(read["close"], [300.0, 298.0, 299.0])

    def test_partitions_are_dataset_symbol_year_folders_of_snappy_parquet(self, lake: Lake) -> None:
        lake.write("bars", bars("AAPL", ["2019-12-31", "2020-01-02"], [290.0, 300.0]))
        lake.write("bars", bars("^GSPC", ["2020-01-02"], [3250.0]))
        lake.write("bars", bars("BRK/B", ["2020-01-02"], [228.0]))

        files = sorted(str(p.relative_to(lake.root)) for p in lake.root.rglob("*.parquet"))

        assert files == [
            "bars/symbol=%5EGSPC/year=2020/part-0.parquet",
            "bars/symbol=AAPL/year=2019/part-0.parquet",
            "bars/symbol=AAPL/year=2020/part-0.parquet",
            "bars/symbol=BRK%2FB/year=2020/part-0.parquet",
        ]
        assert pq.ParquetFile(lake.root / files[1]).metadata.row_group(0).column(0).compression == "SNAPPY"
        assert lake.symbols("bars") == ["AAPL", "BRK/B", "^GSPC"]
        assert lake.read("bars", ["BRK/B", "^GSPC"], as_of=LATER)["symbol"].tolist() == ["BRK/B", "^GSPC"]

    def test_a_column_of_the_wrong_type_is_refused_by_name_before_any_file_is_written(self, lake: Lake) -> None:
        frame = bars("AAPL", ["2020-01-02"], [300.0]).assign(close=["n/a"])

        with pytest.raises(LakeSchemaError, match=r"bars\.close"):
            lake.write("bars", frame)
        assert not lake.root.exists()

    def test_naive_timestamps_missing_and_unknown_columns_are_refused(self, lake: Lake) -> None:
        frame = bars("AAPL", ["2020-01-02"], [300.0])

        with pytest.raises(LakeSchemaError, match="timezone-aware"):
            lake.write("bars", frame.assign(ts=frame["ts"].dt.tz_localize(None)))
        with pytest.raises(LakeSchemaError, match=r"missing columns \['volume'\]"):
            lake.write("bars", frame.drop(columns="volume"))
        with pytest.raises(LakeSchemaError, match=r"unknown columns \['vwap'\]"):
            lake.write("bars", frame.assign(vwap=1.0))
        with pytest.raises(LakeError, match="unknown dataset"):
            lake.write("quotes", frame)

    def test_a_vintage_that_revises_nothing_is_collapsed_into_the_first(self, lake: Lake) -> None:
        lake.write("macro", macro("GDP", [("2013-10-01", "2014-01-30", 17102.5)]))
        lake.write(
            "macro",
            macro("GDP", [("2013-10-01", "2014-02-28", 17080.7), ("2013-10-01", "2014-03-27", 17080.7)]),
        )

        stored = lake.read("macro", ["GDP"], as_of=LATER, vintages="all")

        assert stored["available_at"].dt.strftime("%Y-%m-%d").tolist() == ["2014-01-30", "2014-02-28"]
        assert_allclose(stored["value"], [17102.5, 17080.7])


class TestLakeCrashSafety:
    def test_a_process_killed_between_write_and_rename_leaves_the_previous_partition_intact(self, lake: Lake) -> None:
        lake.write("bars", bars("AAPL", ["2020-01-02"], [300.0]))
        script = textwrap.dedent(
            f"""
            import os, signal, sys
            sys.path.insert(0, {str(ROOT)!r})
            import pandas as pd
            from state.lake import Lake
            ts = pd.DatetimeIndex([pd.Timestamp("2020-01-03 21:00", tz="UTC")])
            frame = pd.DataFrame({{"symbol": "AAPL", "ts": ts, "available_at": ts, "open": 1.0, "high": 1.0,
                                   "low": 1.0, "close": 1.0, "volume": 1.0, "source": "crash"}})
            crash = lambda tmp: os.kill(os.getpid(), signal.SIGKILL)
            Lake({str(lake.root)!r}, before_rename=crash).write("bars", frame)
            """
        )

        killed = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)

        assert killed.returncode == -9, killed.stderr.decode()
        leftovers = list((lake.root / "bars").rglob(".tmp-*"))
        assert len(leftovers) == 1 and leftovers[0].stat().st_size > 0  # killed after writing, before rename
        assert_allclose(lake.read("bars", as_of=LATER)["close"], [300.0])
        assert "interrupted write" in lake.verify()[0]

        lake.write("bars", bars("AAPL", ["2020-01-03"], [297.0]))

        assert not list((lake.root / "bars").rglob(".tmp-*"))
        assert lake.verify() == []
        assert_allclose(lake.read("bars", as_of=LATER)["close"], [300.0, 297.0])


class TestLakePointInTimeRead:
    def test_rows_that_became_known_later_are_invisible_before_then(self, lake: Lake) -> None:
        lake.write("bars", bars("AAPL", ["2020-01-02", "2020-01-03"], [300.0, 297.0]))
        late = bars("MSFT", ["2020-01-02"], [160.0], delay="3D")  # a backfill published days later
        lake.write("bars", late)

        on_the_day = lake.read("bars", None, None, None, as_of=close_at("2020-01-03") + pd.Timedelta("1h"))
        at_the_close = lake.read("bars", as_of=close_at("2020-01-03"))

        assert on_the_day["symbol"].tolist() == ["AAPL", "AAPL"]
        assert at_the_close["ts"].tolist() == [close_at("2020-01-02")]  # 16:00 bar is known at 16:15
        assert (on_the_day["available_at"] <= close_at("2020-01-03") + pd.Timedelta("1h")).all()

    def test_each_key_reads_as_its_newest_vintage_known_at_as_of(self, lake: Lake) -> None:
        lake.write(
            "macro",
            macro(
                "GDP",
                [
                    ("2013-10-01", "2014-01-30", 17102.5),
                    ("2013-10-01", "2014-02-28", 17080.7),
                    ("2014-01-01", "2014-04-30", 17149.6),
                ],
            ),
        )

        before_revision = lake.read("macro", ["GDP"], as_of="2014-02-01T00:00Z")
        after_revision = lake.read("macro", ["GDP"], as_of="2014-05-01T00:00Z")
        every_vintage = lake.read("macro", ["GDP"], as_of="2014-05-01T00:00Z", vintages="all")

        assert_allclose(before_revision["value"], [17102.5])
        assert_allclose(after_revision["value"], [17080.7, 17149.6])
        assert len(every_vintage) == 3

    def test_as_of_must_be_given_and_timezone_aware(self, lake: Lake) -> None:
        lake.write("bars", bars("AAPL", ["2020-01-02"], [300.0]))

        with pytest.raises(LakeError, match="as_of must be timezone-aware"):
            lake.read("bars", as_of="2020-01-03")
        with pytest.raises(TypeError):
            lake.read("bars")  # type: ignore[call-arg]
        with pytest.raises(LakeError, match="before start"):
            lake.read("bars", start="2020-02-01T00:00Z", end="2020-01-01T00:00Z", as_of=LATER)

    def test_a_projection_returns_only_the_requested_columns(self, lake: Lake) -> None:
        lake.write("bars", bars("AAPL", ["2020-01-02"], [300.0]))

        read = lake.read("bars", ["AAPL"], as_of=LATER, columns=["close"])

        assert list(read.columns) == ["symbol", "ts", "available_at", "close"]

    def test_partitions_of_other_symbols_and_years_are_never_opened(self, lake: Lake) -> None:
        lake.write("bars", bars("AAPL", ["2019-12-31", "2020-01-02"], [290.0, 300.0]))
        lake.write("bars", bars("MSFT", ["2020-01-02"], [160.0]))
        for broken in ("symbol=MSFT/year=2020", "symbol=AAPL/year=2019"):
            (lake.root / "bars" / broken / "part-0.parquet").write_bytes(b"not parquet")

        read = lake.read("bars", ["AAPL"], start="2020-01-01T00:00Z", end="2020-12-31T00:00Z", as_of=LATER)

        assert_allclose(read["close"], [300.0])
        assert len(lake.verify()) == 2

    def test_latest_gives_the_newest_stored_time_per_symbol(self, lake: Lake) -> None:
        lake.write("bars", bars("AAPL", ["2019-12-31", "2020-01-02"], [290.0, 300.0]))

        latest = lake.latest("bars", ["AAPL", "MSFT"])
        published = lake.latest("bars", ["AAPL"], column="available_at")

        assert latest == {"AAPL": close_at("2020-01-02")}
        assert published == {"AAPL": close_at("2020-01-02") + pd.Timedelta("15min")}


class TestAdjustmentFactors:
    def test_splits_and_dividends_adjust_only_the_bars_before_their_ex_date(self) -> None:
        ts = np.array(["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-06"], dtype="datetime64[us]")
        close = np.array([100.0, 50.0, 52.0, 26.0])
        split_ts = np.array(["2020-01-02", "2020-01-06"], dtype="datetime64[us]")
        dividend_ts = np.array(["2020-01-03"], dtype="datetime64[us]")

        price, volume = adjustment_factors(ts, close, split_ts, np.array([2.0, 2.0]), dividend_ts, np.array([1.0]))

        dividend = 1 - 1.0 / 50.0
        assert_allclose(price, [dividend / 4, dividend / 2, 0.5, 1.0])
        assert_allclose(volume, [4.0, 2.0, 2.0, 1.0])

    def test_unusable_dividends_and_splits_are_ignored(self) -> None:
        ts = np.array(["2020-01-02", "2020-01-03"], dtype="datetime64[us]")
        early = np.array(["2019-01-01"], dtype="datetime64[us]")
        dividend_ts = np.array(["2019-01-01", "2020-01-03", "2020-01-03"], dtype="datetime64[us]")

        price, volume = adjustment_factors(
            ts, np.array([10.0, 10.0]), early, np.array([0.0]), dividend_ts, np.array([1.0, 20.0, -1.0])
        )

        assert_allclose(price, [1.0, 1.0])
        assert_allclose(volume, [1.0, 1.0])


class TestLakeAdjustedBars:
    def write_split_history(self, lake: Lake) -> None:
        # AAPL's 4:1 split, ex 2020-08-31; a 0.82 dividend ex 2020-08-07 (pre-split terms).
        lake.write(
            "bars",
            bars("AAPL", ["2020-08-06", "2020-08-07", "2020-08-28", "2020-08-31"], [455.61, 444.45, 499.23, 129.04]),
        )
        lake.write(
            "corporate_actions", actions("AAPL", [("2020-08-07", "dividend", 0.82), ("2020-08-31", "split", 4.0)])
        )

    def test_adjusted_prices_depend_on_the_as_of_date(self, lake: Lake) -> None:
        self.write_split_history(lake)

        before_split = lake.read_bars(["AAPL"], None, None, as_of=close_at("2020-08-28") + pd.Timedelta("1h"))
        after_split = lake.read_bars(["AAPL"], None, None, as_of=close_at("2020-08-31") + pd.Timedelta("1h"))

        dividend = 1 - 0.82 / 455.61
        assert_allclose(before_split["adj_close"], [455.61 * dividend, 444.45, 499.23])
        assert_allclose(after_split["adj_close"], [455.61 * dividend / 4, 444.45 / 4, 499.23 / 4, 129.04])
        assert_allclose(after_split["close"], [455.61, 444.45, 499.23, 129.04])  # raw stays raw
        assert_allclose(after_split["adj_volume"], [4000.0, 4000.0, 4000.0, 1000.0])

    def test_an_announced_split_does_not_adjust_prices_before_its_ex_date(self, lake: Lake) -> None:
        self.write_split_history(lake)
        lake.write("corporate_actions", actions("AAPL", [("2020-08-31", "split", 4.0)], known="2020-07-30T20:00Z"))

        read = lake.read_bars(["AAPL"], None, None, as_of=close_at("2020-08-28") + pd.Timedelta("1h"))

        assert_allclose(read["adj_close"].iloc[-1], 499.23)

    def test_a_dividend_after_the_window_uses_the_close_before_its_ex_date(self, lake: Lake) -> None:
        self.write_split_history(lake)

        read = lake.read_bars(["AAPL"], None, close_at("2020-08-06"), as_of=LATER)

        assert_allclose(read["adj_close"], [455.61 * (1 - 0.82 / 455.61) / 4])
