"""The dashboard reads while a writer writes, and never makes the writer wait."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dashboard_testkit import APP, query
from streamlit.testing.v1 import AppTest
from testkit import TRADINGD, cli_env

from dashboard.data import load_run, open_store, read_snapshot
from dashboard.views import performance

WRITER = Path(__file__).with_name("strict_writer.py")

pytestmark = pytest.mark.slow


def marks(store, run_id: str) -> int:
    return store.rows("select count(*) as n from equity where run_id = ?", (run_id,))[0]["n"]


class TestStrictWriter:
    def test_a_reader_holding_a_snapshot_never_blocks_a_writer_that_cannot_wait(
        self, backtest_db, tmp_path: Path
    ) -> None:
        source, run_id = backtest_db
        db, go = tmp_path / "t.db", tmp_path / "go"
        shutil.copy(source, db)
        writer = subprocess.Popen([sys.executable, str(WRITER), str(db), run_id, "300", str(go)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        store = open_store(db)
        try:
            with read_snapshot(store):
                before = marks(store, run_id)
                go.touch()  # the writer starts while this read transaction is open
                out, err = writer.communicate(timeout=120)
                assert writer.returncode == 0, err  # no commit met a lock
                assert out.strip() == "300"
                assert marks(store, run_id) == before  # the snapshot did not move under the reader
            assert marks(store, run_id) == before + 300  # and every commit landed
        finally:
            store.close()

    def test_the_dashboards_reads_interleave_with_the_writers_commits(self, backtest_db, tmp_path: Path) -> None:
        source, run_id = backtest_db
        db, go = tmp_path / "t.db", tmp_path / "go"
        shutil.copy(source, db)
        writer = subprocess.Popen([sys.executable, str(WRITER), str(db), run_id, "500", str(go)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        seen: list[int] = []
        go.touch()
        while writer.poll() is None:
            store = open_store(db)
            try:
                run = load_run(store, run_id)
            finally:
                store.close()
            perf = performance(run)
            assert len(perf.equity) == len(run.equity) == run.summary.marks  # one consistent snapshot
            seen.append(len(run.equity))
        assert writer.returncode == 0, writer.stderr.read()
        assert seen == sorted(seen)
        assert len(seen) >= 2


class TestLiveDaemon:
    def test_the_dashboard_renders_while_the_daemon_records_and_the_daemon_is_undisturbed(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        data = tmp_path / "data"
        config = tmp_path / "config.toml"
        config.write_text(f'[run]\ndata_dir = "{data}"\n[market]\nreplay_start = 2022-09-01\npace = 10.0\n')
        db, log_file = data / "tradingd.db", tmp_path / "daemon.log"
        with log_file.open("w") as sink:  # a file, not a pipe nobody drains while the test reads
            daemon = subprocess.Popen([*TRADINGD, "run", "--config", str(config), "--exit-when-done"],
                                      cwd=tmp_path, env=cli_env(), stdout=sink, stderr=subprocess.STDOUT)
        try:
            while daemon.poll() is None and not query_ready(db):
                time.sleep(0.1)
            monkeypatch.setattr(sys, "argv", [str(APP), "--db", str(db)])
            app = AppTest.from_file(str(APP), default_timeout=120)
            while_running: list[str] = []
            while daemon.poll() is None:
                app.run()
                assert not app.exception, [e.value for e in app.exception]
                status = app.caption[0].value if app.caption else ""
                if "running" in status and app.metric:
                    while_running.append(app.metric[0].value)
            daemon.wait(timeout=60)
        finally:
            if daemon.poll() is None:
                daemon.kill()
                daemon.wait()
        log = log_file.read_text()
        assert daemon.returncode == 0, log
        assert "database is locked" not in log
        assert len(while_running) >= 1  # pages rendered while the run was live and marked
        (sessions,), = query(db, "select count(*) from equity")
        assert sessions == 82  # every session from 2022-09-01 to the data's end was marked
        app.run()
        (equity,), = query(db, "select equity from equity order by ts desc limit 1")
        assert app.metric[0].value == f"{equity:,.2f}"


def query_ready(db: Path) -> bool:
    """The daemon has recorded its run and a first mark."""
    if not db.exists():
        return False
    try:
        return bool(query(db, "select 1 from equity limit 1"))
    except Exception:  # the schema is still being created
        return False
