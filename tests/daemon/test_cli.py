"""The tradingd command line, run as real subprocesses on real files."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from testkit import REPO, TRADINGD, cli_env, query

pytestmark = pytest.mark.slow


def tradingd(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TRADINGD, *args], cwd=cwd, env=cli_env(), capture_output=True, text=True, timeout=timeout)


def wait_for(predicate, timeout: float = 90.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except sqlite3.Error:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def start_daemon(tmp_path: Path, db: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """A paced daemon whose output goes to files in ``tmp_path``: a pipe nobody reads would
    fill up (the daemon logs every job run) and block the daemon on its next log line."""
    n = len(list(tmp_path.glob("daemon-*.out")))
    logs = (tmp_path / f"daemon-{n}.out", tmp_path / f"daemon-{n}.err")
    with logs[0].open("w") as out, logs[1].open("w") as err:
        proc = subprocess.Popen(
            [*TRADINGD, "run", "--config", str(REPO / "config.toml"), "--db", str(db), "--pace", "25",
             "--http-listen", "127.0.0.1:0", *extra],
            cwd=tmp_path, env=env or cli_env(), stdout=out, stderr=err, text=True,
        )
    proc.logs = logs  # type: ignore[attr-defined]
    return proc


def sigterm_after(proc: subprocess.Popen[str], ready) -> tuple[str, str]:  # noqa: ANN001
    """Wait for ``ready()``, send SIGTERM, return the output; never leave the process behind."""
    try:
        ready()
        proc.send_signal(signal.SIGTERM)
        # Generous: a clean stop may take 3 x service.stop_timeout_s plus teardown, and the
        # suite's other processes can slow it several-fold (it took 5.5 s at load 5 on 2 cores).
        proc.wait(timeout=90)
        out, err = proc.logs  # type: ignore[attr-defined]
        return out.read_text(), err.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()


class TestBadInput:
    def test_a_bad_config_exits_2_naming_the_key(self, tmp_path: Path) -> None:
        bad = tmp_path / "bad.toml"
        bad.write_text("[broker]\ncommission_bps = -1\n")
        result = tradingd("backtest", "--config", str(bad), cwd=tmp_path)
        assert result.returncode == 2
        assert "broker.commission_bps: must be >= 0" in result.stderr

    def test_every_bad_key_is_reported_with_the_file(self, tmp_path: Path) -> None:
        bad = tmp_path / "bad.toml"
        bad.write_text('[broker]\ncommission_bps = -1\n[risk]\ntarget_vol = "0.1"\n')
        result = tradingd("backtest", "--config", str(bad), cwd=tmp_path)
        assert result.returncode == 2
        assert f"tradingd: {bad}: broker.commission_bps: must be >= 0" in result.stderr.splitlines()
        assert f"tradingd: {bad}: risk.target_vol: Input should be a valid number" in result.stderr.splitlines()

    def test_a_missing_config_file_exits_2(self, tmp_path: Path) -> None:
        result = tradingd("run", "--config", str(tmp_path / "missing.toml"), cwd=tmp_path)
        assert result.returncode == 2 and "config file not found" in result.stderr

    def test_an_unknown_job_exits_2(self, tmp_path: Path) -> None:
        result = tradingd("job", "pull_everything", cwd=tmp_path)
        assert result.returncode == 2 and "unknown job 'pull_everything'" in result.stderr

    def test_a_window_outside_the_data_exits_2(self, tmp_path: Path) -> None:
        result = tradingd("backtest", "--start", "2030-01-01", "--db", str(tmp_path / "t.db"), cwd=tmp_path)
        assert result.returncode == 2 and "empty window" in result.stderr


class TestBacktestCommand:
    def test_prints_a_summary_and_records_the_run(self, tmp_path: Path) -> None:
        db = tmp_path / "bt.db"
        result = tradingd("backtest", "--start", "2019-01-01", "--end", "2019-12-31", "--db", str(db), "--json",
                          cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stdout)
        for key in ("total_return", "cagr", "ann_volatility", "sharpe", "max_drawdown", "turnover_per_year",
                    "costs", "orders"):
            assert key in summary
        assert summary["orders"] > 0 and summary["marks"] == 252
        run = query(db, "select mode, status from runs where run_id = ?", summary["run_id"])
        assert run == [("backtest", "completed")]


class TestDaemon:
    def test_runs_paced_then_stops_cleanly_on_sigterm(self, tmp_path: Path) -> None:
        db = tmp_path / "t.db"
        sock_path = tmp_path / "notify.sock"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(str(sock_path))
        sock.settimeout(60)
        env = cli_env() | {"NOTIFY_SOCKET": str(sock_path)}
        proc = start_daemon(tmp_path, db, env=env)

        def ready() -> None:
            assert sock.recv(64) == b"READY=1"
            wait_for(lambda: query(db, "select count(*) from fills")[0][0] > 0, what="first fills")

        out, err = sigterm_after(proc, ready)
        assert proc.returncode == 0, err
        assert sock.recv(64) == b"STOPPING=1"
        records = [json.loads(line) for line in out.splitlines()]  # every stdout line is JSON
        assert {"ts", "level", "event", "component", "run_id"} <= set(records[-1])
        events = [r["event"] for r in records]
        assert "daemon_started" in events and events[-1] == "daemon_stopped"
        assert "shutdown_requested" in events
        # Each trading job's cascade reports its fire-to-commit time.
        committed = [r for r in records if r["event"] == "cascade_committed"]
        assert {"pull_prices", "rebalance"} <= {r["job"] for r in committed}
        assert all(r["ms"] > 0 and r["fired_at"].startswith("20") for r in committed)
        # Without credentials the text sources are off, and the log says so once each; the
        # default strategy refits GARCH in its decisions, so the `refit` job is off too.
        off = {r["job"]: r["reason"] for r in records if r["event"] == "job_not_scheduled"}
        assert sorted(off) == ["pull_fundamentals", "pull_news", "pull_social", "refit"]
        assert off.pop("refit") == "strategy portfolio refits in the decision (risk.garch.refit_at)"
        assert all("missing credentials: TRADINGD_" in reason for reason in off.values())
        (run_id, status) = query(db, "select run_id, status from runs")[0]
        assert status == "stopped"
        assert query(db, "select count(*) from equity where run_id = ?", run_id)[0][0] > 0

        shown = tradingd("status", "--db", str(db), "--json", cwd=tmp_path)
        assert shown.returncode == 0
        status_doc = json.loads(shown.stdout)
        assert status_doc["run"]["run_id"] == run_id and status_doc["run"]["mode"] == "live"
        assert status_doc["equity"]["equity"] > 0 and status_doc["positions"]
        assert status_doc["jobs"] and status_doc["orders"]
        weights = sum(p["weight"] for p in status_doc["positions"])
        assert 0.5 < weights <= 1.0 + 1e-9

    def test_a_restart_after_kill_9_resumes_without_placing_an_order_twice(self, tmp_path: Path) -> None:
        db = tmp_path / "t.db"
        proc = start_daemon(tmp_path, db)
        try:
            wait_for(lambda: query(db, "select count(distinct ts) from orders")[0][0] >= 2, what="two decisions")
        finally:
            proc.kill()  # SIGKILL: no chance to flush or close
            proc.communicate(timeout=20)
        before = query(db, "select count(*) from orders")[0][0]
        marks_before = query(db, "select count(*) from equity")[0][0]
        proc = start_daemon(tmp_path, db)
        out, err = sigterm_after(
            # A resume first replays the run so far (its GARCH fits included): allow for it.
            proc, lambda: wait_for(lambda: query(db, "select count(*) from equity")[0][0] > marks_before + 40,
                                   timeout=300, what="progress")
        )
        assert proc.returncode == 0, err
        assert any(json.loads(line)["event"] == "run_resumed" for line in out.splitlines())
        assert query(db, "select count(distinct run_id) from runs") == [(1,)]
        assert query(db, "select count(*) from orders")[0][0] >= before
        # One order per (decision, symbol), one fill per order, one mark per bar.
        assert query(db, "select max(n) from (select count(*) n from orders group by ts, symbol)") == [(1,)]
        assert query(db, "select max(n) from (select count(*) n from fills group by order_id)") == [(1,)]
        marks = [ts for (ts,) in query(db, "select ts from equity order by ts")]
        assert len(marks) == len(set(marks))
        # The ledger still reconciles: cash = start - sum(fills).
        (cash,) = query(db, "select cash from equity order by ts desc limit 1")[0]
        (spent,) = query(db, "select sum(qty * price + fee) from fills")[0]
        assert abs(cash - (1_000_000.0 - spent)) < 1e-6


class TestReplayEnd:
    def test_exit_when_done_stops_cleanly_when_the_data_runs_out(self, tmp_path: Path) -> None:
        config = tmp_path / "short.toml"
        config.write_text((REPO / "config.toml").read_text().replace("replay_start = 2018-01-02", "replay_start = 2022-12-01"))
        db = tmp_path / "t.db"
        result = subprocess.run(
            [*TRADINGD, "run", "--config", str(config), "--db", str(db), "--pace", "20", "--exit-when-done",
             "--http-listen", "127.0.0.1:0"],
            cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=180,
        )
        assert result.returncode == 0, result.stderr
        finished = [json.loads(line) for line in result.stdout.splitlines() if '"replay_finished"' in line]
        assert len(finished) == 1 and finished[0]["last_bar"].startswith("2022-12-28")
        # The daemon copies the WAL into the database itself, after a cascade is committed
        # and timed, every 8th job commit: well before SQLite's own copy (at 1,000 pages,
        # inside a commit) would be due.
        committed = [json.loads(line) for line in result.stdout.splitlines() if '"cascade_committed"' in line]
        copies = [r["wal_pages"] for r in committed if r["wal_pages"] is not None]
        assert len(committed) > 16 and copies and all(0 < pages < 1000 for pages in copies)
        assert query(db, "select status from runs") == [("completed",)]
        assert query(db, "select max(ts) from equity")[0][0].startswith("2022-12-28")


class TestJobCommand:
    def test_runs_one_job_now_and_records_it(self, tmp_path: Path) -> None:
        db = tmp_path / "t.db"
        result = tradingd("job", "pull_prices", "--config", str(REPO / "config.toml"), "--db", str(db), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert query(db, "select job, status, detail from jobs") == [("pull_prices", "ok", "1 bar(s), last 2018-01-02")]
        assert query(db, "select count(*) from equity") == [(1,)]
        again = tradingd("job", "pull_prices", "--config", str(REPO / "config.toml"), "--db", str(db), cwd=tmp_path)
        assert again.returncode == 0
        assert query(db, "select detail from jobs order by id")[-1] == ("1 bar(s), last 2018-01-03",)

    def test_without_a_model_the_infer_job_never_imports_torch(self, tmp_path: Path) -> None:
        # torch takes seconds to import; a daemon with no model published yet (a fresh
        # install, the shipped config) must not pay for it at every start.
        result = subprocess.run(
            [sys.executable, "-X", "importtime", *TRADINGD[1:], "job", "infer", "--config", str(REPO / "config.toml"),
             "--db", str(tmp_path / "t.db")],
            cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=120,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        assert query(tmp_path / "t.db", "select job, status, detail from jobs") == [
            ("infer", "ok", "no champion model: forecasts off, the tilt stays neutral")
        ]
        imported = {line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
        assert {"daemon.serving", "models.registry", "models.serving_spec"} <= imported
        assert "torch" not in imported

    def test_a_failing_job_exits_1_with_a_one_line_reason(self, tmp_path: Path) -> None:
        env = {k: v for k, v in cli_env().items() if not k.startswith("TRADINGD_")}
        result = subprocess.run(
            [*TRADINGD, "job", "pull_news", "--config", str(REPO / "config.toml"), "--db", str(tmp_path / "t.db")],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
        )
        assert result.returncode == 1
        assert result.stderr.splitlines()[-1] == (
            "tradingd: job pull_news failed: PullFailed: pull_news: source is off "
            "(missing credentials: TRADINGD_NEWSAPI_KEY)"
        )
        assert query(tmp_path / "t.db", "select status from jobs") == [("failed",)]


def test_the_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "tradingd"
    assert script.exists()
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, env=cli_env(), timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("tradingd ")
    assert os.access(script, os.X_OK)
