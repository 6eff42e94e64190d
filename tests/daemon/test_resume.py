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


# GARCH refits after each weekly decision, in the `refit` job (risk.garch.refit_at).
AFTER = '[strategy]\nrebalance = "weekly"\n[risk.garch]\nrefit_at = "after_decision"\n'
REFITS = "select count(*) from jobs where job = 'refit' and detail like 'refit %'"


@pytest.fixture(scope="module")
def reference_after(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple]]:
    """An uninterrupted run whose GARCH refits run in the `refit` job after each decision."""
    folder = tmp_path_factory.mktemp("reference_after")
    db = folder / "t.db"
    finish(start_run(write_config(folder, START, END, "max", AFTER), db))
    assert count(db, REFITS) >= 10  # a refit after every weekly decision but the first
    assert count(db, "select count(*) from jobs where job = 'refit' and detail = 'nothing to refit'") > 0
    return books(db)


class TestKillAndResumeWithRefitsAfterDecisions:
    """A decision's GARCH parameters come from the previous decision's refit job: a resume
    must rebuild them whether the kill fell between a rebalance and its refit or after."""

    @pytest.mark.parametrize(
        "kill_point",
        [
            # A later rebalance is committed and its refit is not (yet): the refit takes
            # ~0.1 s of 20 fits, the poll 10 ms.
            "select (select max(fired_at) from jobs where job = 'rebalance' and detail like 'target set%'"
            " and fired_at > '2018-02-01')"
            " > (select max(fired_at) from jobs where job = 'refit')",
            REFITS + " and fired_at > '2018-02-15'",  # right after a refit
        ],
        ids=["before_refit", "after_refit"],
    )
    def test_resumes_to_the_books_of_an_uninterrupted_run(self, tmp_path: Path, reference_after, kill_point: str) -> None:
        config = write_config(tmp_path, START, END, "max", AFTER)
        db = tmp_path / "t.db"
        assert kill_when(start_run(config, db), lambda: count(db, kill_point) > 0)
        assert books(db)["equity"] != reference_after["equity"]
        assert resume_to_the_end(config, db) == reference_after


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
