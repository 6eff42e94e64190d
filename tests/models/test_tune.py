"""Optuna with real worker processes sharing one study on a journal file / sqlite."""

from __future__ import annotations

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
