"""kill -9 and resume gives the books of an uninterrupted run (issue 9, part 3)."""

from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path

import pytest
from killkit import books, count, finish, kill_when, start_run, write_config

pytestmark = pytest.mark.slow

START, END = "2018-01-02", "2018-03-29"


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, list[tuple]], float]:
    """An uninterrupted paced run: its books and how long it took."""
    folder = tmp_path_factory.mktemp("reference")
    config = write_config(folder, START, END, 25)
    started = time.monotonic()
    finish(start_run(config, folder / "t.db"))
    result = books(folder / "t.db")
    assert len(result["fills"]) > 40 and len(result["equity"]) > 55
    return result, time.monotonic() - started


def resume_to_the_end(config: Path, db: Path) -> dict[str, list[tuple]]:
    finish(start_run(config, db))
    return books(db)


class TestKillAndResume:
    def test_a_kill_with_orders_submitted_and_not_yet_filled_resumes_to_the_same_books(self, tmp_path: Path, reference) -> None:
        expected, _ = reference
        config = write_config(tmp_path, START, END, 25)
        db = tmp_path / "t.db"
        # A rebalance's orders are on record, their fills (next bar) are not yet.
        killed = kill_when(start_run(config, db), lambda: count(db, "select count(*) from orders where status = 'submitted'") > 0)
        assert killed
        assert books(db)["orders"] != expected["orders"]
        assert resume_to_the_end(config, db) == expected

    @pytest.mark.parametrize("seed", range(5))
    def test_a_kill_at_a_seeded_random_moment_resumes_to_the_same_books(self, tmp_path: Path, reference, seed: int) -> None:
        expected, _ = reference
        rng = random.Random(seed)
        pace = rng.choice([25, "max"])
        config = write_config(tmp_path, START, END, pace)
        db = tmp_path / "t.db"
        # A random bar of the run, then a random moment inside the cascades that follow it.
        marks, delay = rng.randrange(1, len(expected["equity"]) - 2), rng.uniform(0.0, 0.25)
        killed = kill_when(start_run(config, db), lambda: count(db, "select count(*) from equity") >= marks, delay=delay)
        assert killed, f"the run ended before the kill point (mark {marks} + {delay:.3f} s)"
        assert resume_to_the_end(config, db) == expected


class TestDivergence:
    def test_a_resume_whose_replay_differs_from_the_stored_rows_stops_with_a_clear_error(self, tmp_path: Path) -> None:
        config = write_config(tmp_path, START, END, "max")
        db = tmp_path / "t.db"
        assert kill_when(start_run(config, db), lambda: count(db, "select count(*) from fills") > 0)
        with sqlite3.connect(db) as conn:  # the books no longer match what the run did
            conn.execute("update fills set qty = qty + 1 where rowid = (select min(rowid) from fills)")
        proc = start_run(config, db)
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 1
        last = err.decode().strip().splitlines()[-1]
        assert "ReplayDivergedError" in last and "fills rows" in last and "marked failed" in last
        with sqlite3.connect(db) as conn:
            assert conn.execute("select status from runs").fetchall() == [("failed",)]
