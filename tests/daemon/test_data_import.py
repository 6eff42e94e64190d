"""``tradingd data import``: file shapes, the checks, idempotency and vintages, on a real lake."""

from __future__ import annotations

import hashlib
import json
import subprocess
from datetime import UTC, datetime, time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from daemon.data.importer import ImportOptions, import_files
from numpy.testing import assert_allclose
from testkit import TRADINGD, cli_env

from state.lake import Lake

NOW = datetime(2026, 12, 1, tzinfo=UTC)
GOOD = "Date,Open,High,Low,Close,Adj Close,Volume\n" + "".join(
    f"2024-01-{d:02d},{10 + d},{12 + d},{9 + d},{11 + d},{11 + d},{1000 * d}\n" for d in (2, 3, 4, 5, 8, 9)
)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def lake_bytes(root: Path) -> dict[str, str]:
    """Every file under the lake with its sha256: 'unchanged' means byte for byte."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()
    }


def run(lake: Lake, *paths: Path, known_at: datetime = NOW, actions: Path | None = None, **options):
    return import_files(lake, list(paths), ImportOptions(**options), actions=actions, known_at=known_at)


class TestShapes:
    def test_a_yahoo_export_lands_as_raw_bars_stamped_at_the_close_and_known_after_the_delay(self, tmp_path: Path) -> None:
        lake = Lake(tmp_path / "lake")
        report = run(lake, write(tmp_path / "spy.csv", GOOD))

        bars = lake.read("bars", ["SPY"], as_of=NOW)
        assert report.written and report.bars_new == 6 and not report.problems
        assert bars["ts"].iloc[0] == pd.Timestamp("2024-01-02 16:00", tz="America/New_York")
        assert (bars["available_at"] - bars["ts"] == pd.Timedelta("15min")).all()
        assert_allclose(bars["close"], [13, 14, 15, 16, 19, 20])
        assert_allclose(bars["volume"], [2000, 3000, 4000, 5000, 8000, 9000])

    def test_a_long_file_with_aliased_columns_in_any_case_splits_by_symbol(self, tmp_path: Path) -> None:
        lake = Lake(tmp_path / "lake")
        text = "TICKER,timestamp,PRICE\nAAA,2024-01-02,1.5\nBBB,2024-01-02,7\nAAA,2024-01-03,1.25\n"
        report = run(lake, write(tmp_path / "long.csv", text))

        bars = lake.read("bars", None, as_of=NOW)
        assert report.rows_read == {"AAA": 2, "BBB": 1}
        assert bars["symbol"].tolist() == ["AAA", "AAA", "BBB"]
        assert bars[["open", "high", "low", "volume"]].isna().all().all()  # close-only history

    def test_the_symbol_comes_from_the_flag_before_the_file_name(self, tmp_path: Path) -> None:
        lake = Lake(tmp_path / "lake")
        run(lake, write(tmp_path / "msft.csv", "date,close\n2024-01-02,3\n"), symbol="MSFT.O")
        run(lake, write(tmp_path / "aapl.csv", "date,close\n2024-01-02,3\n"))
        assert lake.symbols("bars") == ["AAPL", "MSFT.O"]

    def test_parquet_files_and_another_exchange_close_are_read(self, tmp_path: Path) -> None:
        lake = Lake(tmp_path / "lake")
        pd.DataFrame({"Date": pd.to_datetime(["2024-01-02"]), "Close": [5.0]}).to_parquet(tmp_path / "vod.parquet")
        run(lake, tmp_path / "vod.parquet", zone="Europe/London", close_time=time(16, 30))
        assert lake.read("bars", ["VOD"], as_of=NOW)["ts"].tolist() == [pd.Timestamp("2024-01-02 16:30Z")]


CORPUS = {
    # name: (file text, line, what the message says)
    "date": ("Date,Close\n2024-01-02,10\n2024-13-45,11\n", 3, "unparseable date '2024-13-45'"),
    "duplicate": ("Date,Close\n2024-01-02,10\n2024-01-03,11\n2024-01-03,12\n", 4, "duplicate date 2024-01-03"),
    "order": ("Date,Close\n2024-01-03,10\n2024-01-02,11\n", 3, "is before the previous row's 2024-01-03"),
    "nan": ("Date,Close\n2024-01-02,10\n2024-01-03,NaN\n", 3, "close is missing or not a number"),
    "zero": ("Date,Close\n2024-01-02,0\n", 2, "close 0 is not positive"),
    "negative": ("Date,Open,Close\n2024-01-02,-3,10\n", 2, "open -3 is not positive"),
    "high_low": ("Date,High,Low,Close\n2024-01-02,9,10,9.5\n", 2, "high 9 is below low 10"),
    "outside": ("Date,High,Low,Close\n2024-01-02,11,9,12\n", 2, "close 12 is outside [low 9, high 11]"),
    "volume": ("Date,Close,Volume\n2024-01-02,10,-5\n", 2, "volume -5 is negative"),
    "columns": ("When,Close\n2024-01-02,10\n", 1, "no date column"),
}


class TestBrokenFiles:
    @pytest.mark.parametrize("name", sorted(CORPUS))
    def test_a_broken_file_is_refused_naming_file_line_and_problem_and_the_lake_is_unchanged(
        self, tmp_path: Path, name: str
    ) -> None:
        lake = Lake(tmp_path / "lake")
        run(lake, write(tmp_path / "base.csv", GOOD))
        before = lake_bytes(lake.root)
        text, line, message = CORPUS[name]

        report = run(lake, write(tmp_path / f"{name}.csv", text), write(tmp_path / "good.csv", GOOD))

        (problem,) = report.errors
        assert (problem.file, problem.line) == (str(tmp_path / f"{name}.csv"), line)
        assert message in str(problem) and f"{name}.csv:{line}:" in str(problem)
        assert not report.written
        assert lake_bytes(lake.root) == before

    def test_skipping_bad_rows_imports_the_rest_and_says_what_it_left_out(self, tmp_path: Path) -> None:
        lake = Lake(tmp_path / "lake")
        text = "Date,Close\n2024-01-02,10\n2024-01-03,-1\n2024-01-04,12\nnope,1\n"
        report = run(lake, write(tmp_path / "x.csv", text + "\n\n"), skip_bad_rows=True)  # blank lines: no rows

        assert [p.line for p in report.errors] == [3, 5] and report.skipped == 2
        assert_allclose(lake.read("bars", ["X"], as_of=NOW)["close"], [10, 12])

    def test_a_long_gap_is_a_warning_and_the_rows_are_imported(self, tmp_path: Path) -> None:
        lake = Lake(tmp_path / "lake")
        report = run(lake, write(tmp_path / "g.csv", "Date,Close\n2024-01-02,10\n2024-02-01,11\n"), max_gap_sessions=5)

        (warning,) = report.problems
        assert warning.level == "warning" and warning.line == 3 and "21 sessions missing" in warning.message
        assert report.written and len(lake.read("bars", ["G"], as_of=NOW)) == 2

    def test_a_dry_run_checks_and_counts_but_writes_nothing(self, tmp_path: Path) -> None:
        lake = Lake(tmp_path / "lake")
        report = run(lake, write(tmp_path / "spy.csv", GOOD), dry_run=True)
        assert report.bars_new == 6 and not report.written and not lake.root.exists()


class TestVintages:
    def test_importing_the_same_file_twice_adds_nothing_and_touches_no_file(self, tmp_path: Path) -> None:
        lake = Lake(tmp_path / "lake")
        path = write(tmp_path / "spy.csv", GOOD)
        run(lake, path)
        before = lake_bytes(lake.root)

        again = run(lake, path, known_at=datetime(2027, 1, 1, tzinfo=UTC))

        assert (again.bars_new, again.bars_revised, again.bars_unchanged, again.written) == (0, 0, 6, False)
        assert lake_bytes(lake.root) == before

    def test_a_revising_file_is_a_new_vintage_known_from_the_import(self, tmp_path: Path) -> None:
        lake = Lake(tmp_path / "lake")
        run(lake, write(tmp_path / "spy.csv", GOOD))
        revised = GOOD.replace("2024-01-03,13,15,12,14,14,3000", "2024-01-03,13,15,12,14.5,14.5,3000")
        later = datetime(2027, 1, 1, tzinfo=UTC)

        report = run(lake, write(tmp_path / "spy.csv", revised), known_at=later)

        assert (report.bars_new, report.bars_revised, report.bars_unchanged) == (0, 1, 5)
        assert lake.read("bars", ["SPY"], as_of=NOW)["close"].iloc[1] == 14.0  # what was known before
        assert lake.read("bars", ["SPY"], as_of=later)["close"].iloc[1] == 14.5
        assert len(lake.read("bars", ["SPY"], as_of=later, vintages="all")) == 7

    def test_splits_and_dividends_come_from_a_second_file_at_the_start_of_the_ex_date(self, tmp_path: Path) -> None:
        lake = Lake(tmp_path / "lake")
        actions = write(tmp_path / "actions.csv", "date,symbol,action,value\n2024-01-04,SPY,split,4:1\n2024-01-08,SPY,dividend,0.5\n")
        report = run(lake, write(tmp_path / "spy.csv", GOOD), actions=actions)

        stored = lake.read("corporate_actions", ["SPY"], as_of=NOW)
        assert report.actions_new == 2
        assert stored[["action", "value"]].values.tolist() == [["split", 4.0], ["dividend", 0.5]]
        assert stored["ts"].iloc[0] == pd.Timestamp("2024-01-04 00:00", tz="America/New_York")
        assert run(lake, write(tmp_path / "spy.csv", GOOD), actions=actions).actions_new == 0


class TestCommand:
    def test_the_cli_imports_lists_and_refuses_with_exit_codes(self, tmp_path: Path) -> None:
        config = write(tmp_path / "c.toml", f'[run]\ndata_dir = "{tmp_path / "data"}"\n')
        spy = write(tmp_path / "spy.csv", GOOD)
        bad = write(tmp_path / "bad.csv", CORPUS["outside"][0])

        def tradingd(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([*TRADINGD, *args, "--config", str(config)], env=cli_env(), capture_output=True,
                                  text=True, timeout=120, cwd=tmp_path)

        ok = tradingd("data", "import", str(spy))
        refused = tradingd("data", "import", str(bad))
        listed = tradingd("data", "list", "--json")

        assert ok.returncode == 0 and "added 6 bars" in ok.stdout
        assert refused.returncode == 1 and f"{bad}:2: BAD: close 12 is outside" in refused.stdout
        (entry,) = json.loads(listed.stdout)
        assert entry["symbol"] == "SPY" and entry["rows"] == 6 and entry["gaps"] == 0
        assert entry["newest_available_at"] == "2024-01-09T21:15:00+00:00"
        assert tradingd("data", "import", str(tmp_path / "missing.csv")).returncode == 2
        assert np.isfinite(pd.Timestamp(entry["first_ts"]).timestamp())
