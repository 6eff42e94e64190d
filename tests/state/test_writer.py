"""The background writer (state.writer): same rows as inline writes, whole batches only,
failures surfaced, no orphan process. Real SQLite files and real subprocesses."""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from testkit import TRADINGD, cli_env, make_config, run_backtest

from state.batch import Batch, EquityRow
from state.store import Store
from state.writer import _LENGTH, ProcessWriter, WriterError, serve

ROOT = Path(__file__).resolve().parents[2]
TABLES = {
    "orders": "select ts, symbol, side, qty, status, reason, filled_qty, avg_fill_price, updated_at from orders",
    "fills": "select ts, symbol, qty, price, fee, cost, bar_price from fills",
    "equity": "select ts, cash, equity, gross from equity",
    "positions": "select symbol, qty, avg_price, last_price, market_value, updated_at from positions",
    "targets": "select ts, bar_ts, symbol, weight, strategy from targets",
    "jobs": "select job, fired_at, finished_at, status, detail, error from jobs",
}


def table(db: Path, run_id: str, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return sorted(conn.execute(f"{sql} where run_id = ?", (run_id,)).fetchall(), key=repr)


def new_run(db: Path) -> str:
    store = Store.open(db)
    try:
        return store.begin_run(
            mode="backtest", config_hash="h", config_json="{}", strategy="test", start_cash=1000.0,
            started_at=datetime.now(UTC), window=(datetime(2020, 1, 1, tzinfo=UTC), None), version="test",
        )
    finally:
        store.close()


def equity_batch(run_id: str, day: int) -> Batch:
    batch = Batch()
    ts = f"2020-01-{day:02d}T21:00:00+00:00"
    batch.equity[ts] = EquityRow(run_id=run_id, ts=ts, cash=1000.0 + day, equity=1000.0 + day, gross=0.0)
    batch.last_event_at = ts
    return batch


class TestSameRowsAsInline:
    def test_a_backtest_records_identical_rows_with_either_writer(self, tmp_path: Path) -> None:
        db = tmp_path / "t.db"
        runs = {}
        for writer in ("inline", "process"):
            # commit_every small: many batches cross the pipe, orders filled in later batches
            config = make_config(
                strategy={"name": "inverse_vol"}, store={"writer": writer, "commit_every": 37},
                broker={"fill": "next_bar"},
            )
            runs[writer] = run_backtest(config, db, "2007-06-01", "2009-06-30")
        for name, sql in TABLES.items():
            inline, process = table(db, runs["inline"], sql), table(db, runs["process"], sql)
            assert inline == process, name
            assert inline or name == "jobs", name
        assert len(table(db, runs["process"], TABLES["fills"])) > 100


class TestBatches:
    def test_a_frame_cut_short_is_never_written(self, tmp_path: Path) -> None:
        """The parent died mid-send: the whole batches before it land, the torn one does not."""
        import marshal

        db = tmp_path / "t.db"
        run_id = new_run(db)
        frames = b""
        for day in (2, 3):
            data = marshal.dumps(("rows", equity_batch(run_id, day).rows()))
            frames += _LENGTH.pack(len(data)) + data
        torn = marshal.dumps(("rows", equity_batch(run_id, 6).rows()))
        frames += _LENGTH.pack(len(torn)) + torn[: len(torn) // 2]
        assert serve(str(db), run_id, io.BytesIO(frames), io.BytesIO()) == 0
        days = [r[0] for r in table(db, run_id, "select ts from equity")]
        assert days == ["2020-01-02T21:00:00+00:00", "2020-01-03T21:00:00+00:00"]

    def test_sync_returns_once_everything_sent_is_committed(self, tmp_path: Path) -> None:
        db = tmp_path / "t.db"
        run_id = new_run(db)
        writer = ProcessWriter(db, run_id)
        try:
            for day in range(2, 30):
                writer.write(run_id, equity_batch(run_id, day))
            writer.sync()
            assert len(table(db, run_id, "select ts from equity")) == 28  # read by another connection
            with pytest.raises(ValueError, match="records run"):
                writer.write("someone-else", equity_batch(run_id, 30))
        finally:
            writer.close()
        with sqlite3.connect(db) as conn:
            last, beat = conn.execute("select last_event_at, heartbeat_at from runs where run_id = ?", (run_id,)).fetchone()
        assert last == "2020-01-29T21:00:00+00:00" and beat is not None


class TestFailures:
    def test_a_writer_that_cannot_write_raises_with_its_reason(self, tmp_path: Path) -> None:
        db = tmp_path / "not-a-tradingd.db"
        sqlite3.connect(db).close()  # an empty database: no tables to write into
        writer = ProcessWriter(db, "r1")
        writer.write("r1", equity_batch("r1", 2))
        with pytest.raises(WriterError, match="no such table"):
            writer.sync()
            writer.write("r1", equity_batch("r1", 3))  # reached only if sync did not notice
        with pytest.raises(WriterError, match="closed"):
            writer.write("r1", equity_batch("r1", 4))

    def test_a_failed_writer_fails_the_backtest_and_the_run_is_marked_failed(self, tmp_path: Path) -> None:
        import asyncio

        from daemon.app import build_app
        from daemon.backtest import run_backtest as drive

        db = tmp_path / "t.db"
        config = make_config(strategy={"name": "inverse_vol"}, store={"commit_every": 50})
        app = build_app(config, mode="backtest", db_path=db, start=datetime(2008, 1, 1).date(), end=datetime(2008, 12, 31).date())
        writer = app.recorder._writer
        os.kill(writer.pid, signal.SIGKILL)  # the writer dies under the run (as if OOM-killed)
        writer._proc.wait()
        with pytest.raises(WriterError):
            asyncio.run(drive(app, progress=False))
        with pytest.raises(WriterError):
            app.close("completed")
        with sqlite3.connect(db) as conn:
            assert conn.execute("select status from runs where run_id = ?", (app.run_id,)).fetchone() == ("failed",)


SCRIPT = """
import asyncio, sys
from pathlib import Path
sys.path.insert(0, {root!r}); sys.path.insert(0, {tests!r})
from testkit import make_config
from daemon import logs
from daemon.app import build_app
from daemon.backtest import run_backtest
logs.configure("error", "json")
config = make_config(strategy={{"name": "inverse_vol"}}, store={{"commit_every": 20}})
app = build_app(config, mode="backtest", db_path=Path({db!r}))
print(app.run_id, app.recorder._writer.pid, flush=True)
asyncio.run(run_backtest(app, progress=False))
"""


class TestParentKilled:
    def test_kill_9_mid_backtest_leaves_whole_batches_and_no_orphan_writer(self, tmp_path: Path) -> None:
        db = tmp_path / "t.db"
        script = SCRIPT.format(root=str(ROOT), tests=str(ROOT / "tests"), db=str(db))
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=cli_env())
        run_id, child = proc.stdout.readline().split()
        child_pid = int(child)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with sqlite3.connect(db, timeout=10) as conn:
                marks = conn.execute("select count(*) from equity where run_id = ?", (run_id,)).fetchone()[0]
            if marks >= 500:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the backtest ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and _alive(child_pid):
            time.sleep(0.05)
        assert not _alive(child_pid), "the background writer outlived its parent"
        # What landed is a prefix of whole cascades: the fill ledger reconciles with the
        # last recorded mark, and every fill has its order.
        store = Store.open(db)
        try:
            last = store.rows("select ts, cash from equity where run_id = ? order by ts desc limit 1", (run_id,))[0]
            ledger = store.ledger(run_id, 1_000_000.0)
            orphans = store.rows(
                "select count(*) as n from fills f left join orders o on o.order_id = f.order_id "
                "where f.run_id = ? and o.order_id is null", (run_id,),
            )[0]["n"]
            fills_after = store.rows("select count(*) as n from fills where run_id = ? and ts > ?", (run_id, last["ts"]))[0]["n"]
        finally:
            store.close()
        assert ledger.cash == pytest.approx(last["cash"], abs=1e-6)
        assert orphans == 0 and fills_after == 0


class TestCtrlC:
    def test_ctrl_c_on_a_backtest_commits_what_was_replayed_and_exits_130(self, tmp_path: Path) -> None:
        """SIGINT to the whole process group, as a terminal sends it: the writer ignores
        it, the CLI flushes, the writer commits, the run is marked failed."""
        db = tmp_path / "t.db"
        config = tmp_path / "c.toml"
        config.write_text('[strategy]\nname = "inverse_vol"\n[store]\ncommit_every = 20\n[logging]\nlevel = "error"\n')
        proc = subprocess.Popen(
            [*TRADINGD, "backtest", "--config", str(config), "--db", str(db), "--no-progress"],
            env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        )
        deadline = time.monotonic() + 60
        marks = 0
        while time.monotonic() < deadline and marks < 300:
            time.sleep(0.05)
            if db.exists():
                with sqlite3.connect(db, timeout=10) as conn:
                    if conn.execute("select count(*) from sqlite_master where name = 'equity'").fetchone()[0]:
                        marks = conn.execute("select count(*) from equity").fetchone()[0]
        assert proc.poll() is None, "the backtest ended before it could be interrupted"
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        store = Store.open(db)
        try:
            run = store.rows("select run_id, status from runs")[0]
            last = store.rows("select ts, cash from equity where run_id = ? order by ts desc limit 1", (run["run_id"],))[0]
            ledger = store.ledger(run["run_id"], 1_000_000.0)
        finally:
            store.close()
        assert run["status"] == "failed"
        assert ledger.cash == pytest.approx(last["cash"], abs=1e-6)
        assert b"WriterError" not in err


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_the_writer_process_imports_nothing_heavy() -> None:
    """It starts while the backtest wires up: stdlib and ``state.batch`` only."""
    code = "import sys, state.writer; print(*(m in sys.modules for m in ('numpy', 'pandas', 'pyarrow', 'sqlite_utils')))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False"] * 4
