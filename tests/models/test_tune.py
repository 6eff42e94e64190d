"""Optuna with real worker processes sharing one study on a journal file / sqlite."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from models import registry
from models.cli import tune_main
from models.config import RunConfig, load_config
from models.tune import best_config, make_storage


class TestMakeStorage:
    def test_accepts_sqlite_and_journal_urls(self, tmp_path):
        sqlite = make_storage(f"sqlite:///{tmp_path}/db/optuna.db")
        journal = make_storage(f"journal:{tmp_path}/j/optuna.log")
        assert isinstance(sqlite, optuna.storages.RDBStorage)
        assert isinstance(journal, optuna.storages.JournalStorage)
        assert (tmp_path / "db" / "optuna.db").exists()


STUDY_TOML = """
registry_dir = "{tmp}/registry"
run_dir = "{tmp}/run"
[model]
family = "tft"
hidden_size = 8
num_heads = 2
dropout = 0.0
[data]
symbols = ["AAPL", "KO", "XOM"]
start = 2016-01-01
end = 2017-12-29
encoder_length = 10
embargo = 2
[train]
epochs = 2
batch_size = 32
max_steps_per_epoch = 2
[tune]
storage = "journal:{tmp}/optuna.log"
study_name = "t"
n_trials = 4
workers = 2
pruner = "median"
seed = 7
hidden_sizes = [8, 16]
num_heads = [2]
layers = [1, 2]
"""


@pytest.mark.slow
class TestTuneMain:
    def test_two_worker_processes_share_one_study_then_the_best_trial_is_published(self, tmp_path):
        config = tmp_path / "tune.toml"
        config.write_text(STUDY_TOML.format(tmp=tmp_path))
        assert tune_main(["--config", str(config), "--train-best"]) == 0

        cfg = load_config(config)
        study = optuna.load_study(study_name="t", storage=make_storage(cfg.tune.storage))
        trials = study.get_trials(deepcopy=False)
        assert sorted(t.number for t in trials) == [0, 1, 2, 3]
        assert all(
            t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
            for t in trials
        )
        assert {t.user_attrs["worker"] for t in trials} == {0, 1}
        trained = [
            t
            for t in trials
            if t.state == optuna.trial.TrialState.COMPLETE and "duplicate_of" not in t.user_attrs
        ]
        keys = [tuple(sorted(t.params.items())) for t in trained]
        assert trained and len(keys) == len(set(keys))

        best = best_config(cfg, study.best_trial.params)
        assert isinstance(best, RunConfig) and best.model.hidden_size in (8, 16)
        assert best.train.lr == pytest.approx(study.best_trial.params["lr"])
        manifest = registry.verify(registry.latest(tmp_path / "registry"))
        assert manifest.hyperparameters["hidden_size"] == best.model.hidden_size
        assert manifest.hyperparameters["lstm_layers"] == best.model.lstm_layers


@pytest.fixture
def postgres():
    """A throwaway PostgreSQL server on 127.0.0.1 (skipped where the binaries are missing)."""
    import os
    import shutil
    import socket
    import subprocess
    import time

    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    import tempfile

    run_as: list[str] = []
    # Not under tmp_path: pytest's folders are private to root, and the server runs as nobody.
    root = Path(tempfile.mkdtemp(prefix="tradingd-pg-"))
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(root, "nobody")
        run_as = ["runuser", "-u", "nobody", "--"]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data = root / "data"
    subprocess.run([*run_as, initdb, "-D", str(data), "-A", "trust", "-U", "optuna"], check=True,
                   capture_output=True, timeout=120)
    subprocess.run([*run_as, pg_ctl, "-D", str(data), "-l", str(root / "log"), "-w", "-o",
                    f"-p {port} -k {root} -c listen_addresses=127.0.0.1", "start"], check=True,
                   capture_output=True, timeout=120)
    try:
        url = f"postgresql://optuna@127.0.0.1:{port}/postgres"
        deadline = time.monotonic() + 30
        while True:
            try:
                optuna.storages.RDBStorage(url)
                break
            except Exception:  # the server may still be starting
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield url
    finally:
        subprocess.run([*run_as, pg_ctl, "-D", str(data), "-m", "fast", "stop"], capture_output=True, timeout=120)
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
class TestTuneOnPostgres:
    def test_two_workers_share_a_study_in_postgresql(self, tmp_path, postgres):
        config = tmp_path / "tune.toml"
        config.write_text(STUDY_TOML.format(tmp=tmp_path).replace(f'"journal:{tmp_path}/optuna.log"', f'"{postgres}"'))
        assert tune_main(["--config", str(config)]) == 0
        study = optuna.load_study(study_name="t", storage=make_storage(postgres))
        trials = study.get_trials(deepcopy=False)
        assert sorted(t.number for t in trials) == [0, 1, 2, 3]
        assert {t.user_attrs["worker"] for t in trials} == {0, 1}
