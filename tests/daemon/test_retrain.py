"""Retraining under real torchrun (2 gloo processes on CPU) from the real daemon."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from learning_testkit import learning_config, write_config
from testkit import TRADINGD, cli_env

from daemon.retrain import plan_retrain, torchrun_command
from models import registry

pytestmark = pytest.mark.slow


def log_events(path: Path) -> list[dict]:
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def job(tmp: Path, name: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TRADINGD, "job", name, "--config", str(tmp / "config.toml"), "--db", str(tmp / "tradingd.db"),
         "--log-format", "json"],
        cwd=tmp, env=cli_env(), capture_output=True, text=True, timeout=900,
    )


def gone(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return False


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


class TestPlan:
    def test_the_training_window_ends_before_the_holdout_and_the_decision(self, tmp_path: Path) -> None:
        cfg = learning_config(tmp_path).models
        plan = plan_retrain(cfg, pd.Timestamp("2019-07-06 22:00"))
        reserve = cfg.swap.holdout_days + cfg.data.label_horizon
        assert pd.Timestamp(plan.end) == pd.Timestamp("2019-07-05") - pd.offsets.BDay(reserve - 1)
        assert pd.Timestamp(plan.end) < pd.Timestamp("2019-07-06") and plan.start < plan.end

    def test_auto_means_two_gloo_processes_without_a_gpu(self, tmp_path: Path) -> None:
        import torch

        if torch.cuda.is_available():
            pytest.skip("a GPU is visible: auto means one process per device")
        plan = plan_retrain(learning_config(tmp_path).models, pd.Timestamp("2019-07-06"))
        assert (plan.nproc, plan.backend) == (2, "gloo")

    def test_the_command_is_torchrun_on_the_training_entry_point_with_the_window(self, tmp_path: Path) -> None:
        cfg = learning_config(tmp_path).models
        plan = plan_retrain(cfg, pd.Timestamp("2019-07-06"))
        argv = torchrun_command(cfg, plan)
        assert argv[1:4] == ["-m", "torch.distributed.run", "--standalone"]
        assert "--nproc_per_node=2" in argv and argv[argv.index("-m", 2) + 1] == "models"
        assert f'data.end="{plan.end}"' in argv and "model.hidden_size=8" in argv
        multi = cfg.model_copy(update={"retrain": cfg.retrain.model_copy(update={"nnodes": 2, "rdzv_endpoint": "h:29400"})})
        argv = torchrun_command(multi, plan)
        assert "--nnodes" in argv and "--rdzv_endpoint=h:29400" in argv and "--standalone" not in argv


class TestRetrainJob:
    def test_a_retrain_publishes_a_checkpoint_trained_only_on_data_before_its_window_end(self, tmp_path: Path) -> None:
        write_config(tmp_path, tmp_path / "registry", "[models.retrain]\nwindow_days = 1200\nheartbeat_s = 1")
        done = job(tmp_path, "retrain")
        assert done.returncode == 0, done.stderr[-2000:]
        (version,) = [p.name for p in registry.list_checkpoints(tmp_path / "registry")]
        events = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
        started = next(e for e in events if e["event"] == "retrain_started")
        manifest = registry.verify(tmp_path / "registry" / version)
        assert manifest.training_window["end"] == started["window_end"]
        assert manifest.training_window["val_last"] <= started["window_end"] < "2019-07-06"
        trainer = [e for e in events if e.get("component") == "trainer"]
        assert {e["retrain_id"] for e in trainer} == {started["retrain_id"]}
        assert any(e["event"] == "epoch_finished" and e.get("rank") == "0" for e in trainer)
        assert any(e["event"] == "retrain_published" and e["version"] == version for e in events)

    def test_a_crashing_trainer_is_a_job_failure_with_its_reason(self, tmp_path: Path) -> None:
        write_config(tmp_path, tmp_path / "registry", "")
        config = (tmp_path / "config.toml").read_text().replace("encoder_length = 20", 'encoder_length = 20\nsymbols = ["NOPE"]')
        (tmp_path / "config.toml").write_text(config)
        done = job(tmp_path, "retrain")
        assert done.returncode == 1 and "trainer exited with code" in done.stderr
        rows = sqlite3.connect(tmp_path / "tradingd.db").execute("select status, error from jobs where job = 'retrain'").fetchall()
        assert rows and rows[-1][0] == "failed" and "trainer exited with code" in rows[-1][1]
        assert not registry.list_checkpoints(tmp_path / "registry")

    def test_a_retrain_past_its_timeout_ends_its_whole_process_group(self, tmp_path: Path) -> None:
        write_config(tmp_path, tmp_path / "registry", "[models.retrain]\ntimeout_s = 4")
        done = job(tmp_path, "retrain")
        assert done.returncode == 1 and "timed out after 4 s" in done.stderr
        started = next(json.loads(line) for line in done.stderr.splitlines() if '"retrain_started"' in line)
        wait_until(lambda: gone(started["pid"]), 30, "the trainer's process group to end")
        assert not registry.list_checkpoints(tmp_path / "registry")


def run_daemon_until(tmp: Path, log: Path, predicate, timeout: float, what: str, *, kill: bool = False) -> None:  # noqa: ANN001
    """Run `tradingd run` (JSON lines to ``log``) until ``predicate()`` holds, then stop it:
    SIGTERM, after which it must exit 0, or with ``kill`` a SIGKILL."""
    with open(log, "w") as sink:
        proc = subprocess.Popen(
            [*TRADINGD, "run", "--config", str(tmp / "config.toml"), "--db", str(tmp / "tradingd.db"), "--pace", "1",
             "--log-format", "json"],
            cwd=tmp, env=cli_env(), stdout=sink, stderr=subprocess.STDOUT, text=True,
        )
    try:
        wait_until(predicate, timeout, what)
    finally:
        if kill:
            proc.kill()
            proc.wait(30)
        else:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0


RETRAIN_ONCE = """
[jobs.retrain]
cron = "0 18 * * sat"
enabled = true
[models.retrain]
window_days = 1200
heartbeat_s = 1
[models.swap]
tolerance = 100.0
"""


@pytest.fixture
def daemon_dir(champion, tmp_path: Path) -> Path:
    _, path = champion
    (tmp_path / "registry").mkdir()
    shutil.copytree(path, tmp_path / "registry" / path.name)
    write_config(tmp_path, tmp_path / "registry", RETRAIN_ONCE, replay_end="2020-12-31")
    return tmp_path


class TestDaemonRetrain:
    def test_the_daemon_retrains_swaps_and_serves_the_new_version_while_it_keeps_trading(
        self, daemon_dir: Path, champion
    ) -> None:
        _, first = champion
        log = daemon_dir / "daemon.log"

        def swapped_in() -> bool:
            events = log_events(log)
            return any(e["event"] == "retrain_published" for e in events) and any(
                e["event"] == "model_swapped" and e["previous"] for e in events
            )

        run_daemon_until(daemon_dir, log, swapped_in, 600, "the retrained model to publish and swap in")
        events = log_events(log)
        started = next(e for e in events if e["event"] == "retrain_started")
        published = next(e for e in events if e["event"] == "retrain_published")
        assert started["retrain_id"] == published["retrain_id"]
        swap = next(e for e in events if e["event"] == "model_swapped" and e["previous"])
        assert (swap["version"], swap["previous"]) == (published["version"], first.name)

        # The loop never waited: bars were traded and the heartbeat ticked while training ran.
        during = events[events.index(started) : events.index(published)]
        beats = [e["loop_lag_ms"] for e in during if e["event"] == "retrain_heartbeat"]
        pulls = [e for e in during if e["event"] == "job_finished" and e["job"] == "pull_prices"]
        assert len(beats) >= 2 and pulls
        print(f"heartbeats during the retrain: {len(beats)}, max loop lag {max(beats)} ms, {len(pulls)} price pulls")

        db = sqlite3.connect(daemon_dir / "tradingd.db")
        status = dict(db.execute("select version, status from models").fetchall())
        assert status == {first.name: "retired", published["version"]: "active"}
        served = [m for (m,) in db.execute("select model from forecasts order by ts")]
        switch = served.index(published["version"])
        assert first.name in served[:switch] and set(served[switch:]) == {published["version"]}

    def test_kill_9_during_a_retrain_leaves_no_half_published_version_and_a_restart_serves_the_active_one(
        self, daemon_dir: Path, champion
    ) -> None:
        _, first = champion
        log = daemon_dir / "daemon.log"

        def training_after_first_swap() -> bool:
            events = [e["event"] for e in log_events(log)]
            return "model_swapped" in events and "retrain_started" in events

        run_daemon_until(daemon_dir, log, training_after_first_swap, 300, "the champion to serve and a retrain to start",
                         kill=True)
        trainer = next(e for e in log_events(log) if e["event"] == "retrain_started")["pid"]
        wait_until(lambda: gone(trainer), 60, "the orphaned trainer to stop")
        names = [p.name for p in (daemon_dir / "registry").iterdir() if not p.name.startswith(".")]
        assert names == [first.name]  # nothing published, nothing half-published
        for name in names:
            registry.verify(daemon_dir / "registry" / name)

        (daemon_dir / "config.toml").write_text((daemon_dir / "config.toml").read_text().replace("enabled = true", "enabled = false"))
        log2 = daemon_dir / "daemon2.log"
        run_daemon_until(daemon_dir, log2, lambda: any(e["event"] == "model_swapped" for e in log_events(log2)), 300,
                         "the restart swap")
        swap = next(e for e in log_events(log2) if e["event"] == "model_swapped")
        assert (swap["version"], swap["reason"]) == (first.name, "restart")
