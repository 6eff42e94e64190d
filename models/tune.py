"""Hyperparameter search with Optuna: TPE sampler, Hyperband or median pruner, storage from
config, several worker processes on one study.

Each worker is a separate process that loads the study from the shared storage and runs its
share of the trial budget, so the total is exact and trial numbers are unique (the storage
hands them out). A trial whose parameters repeat a finished trial reuses that result
instead of training again. Selection uses only the validation tail of the training window.
"""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path
from typing import Any

import optuna
import structlog
import torch

from models.config import RunConfig
from models.data import load_bundled, with_sentiment_rows
from models.dataset import Prepared, prepare
from models.distributed import DistContext
from models.pipeline import candidate_positions, train_window

__all__ = ["best_config", "make_storage", "run_study", "suggest_overrides"]

log = structlog.get_logger(component="models")


def make_storage(url: str) -> optuna.storages.BaseStorage:
    """`journal:path` -> JournalStorage on a file (lock-protected appends, fine for several
    processes and machines on one shared disk); sqlite:/// and postgresql URLs -> RDB."""
    if url.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        path = Path(url.removeprefix("journal:"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.RDBStorage(url)


def suggest_overrides(trial: optuna.Trial, cfg: RunConfig) -> dict[str, Any]:
    """Model / train fields for one trial, drawn from the ranges in `cfg.tune`."""
    t = cfg.tune
    model: dict[str, Any] = {"dropout": trial.suggest_float("dropout", *t.dropout)}
    family = cfg.model.family
    if family == "tft":
        model["hidden_size"] = trial.suggest_categorical("hidden_size", list(t.hidden_sizes))
        model["num_heads"] = trial.suggest_categorical("num_heads", list(t.num_heads))
        model["lstm_layers"] = trial.suggest_int("lstm_layers", *t.layers)
    elif family == "lstm":
        model["hidden_size"] = trial.suggest_categorical("hidden_size", list(t.hidden_sizes))
        if cfg.model.variant != "vanilla":
            model["num_layers"] = trial.suggest_int("num_layers", *t.layers)
    else:
        model["preset"] = "custom"
        model["d_model"] = trial.suggest_categorical("hidden_size", list(t.hidden_sizes))
        model["num_heads"] = trial.suggest_categorical("num_heads", list(t.num_heads))
    return {"model": model, "train": {"lr": trial.suggest_float("lr", *t.lr, log=True)}}


def best_config(cfg: RunConfig, params: dict[str, Any]) -> RunConfig:
    """The run config with a finished trial's parameters applied."""
    trial = optuna.trial.FixedTrial(params)
    return _apply(cfg, suggest_overrides(trial, cfg))


def _apply(cfg: RunConfig, overrides: dict[str, Any]) -> RunConfig:
    data = cfg.model_dump()
    for section, values in overrides.items():
        data[section] = {**data[section], **values}
    return RunConfig.model_validate(data)


def _objective(cfg: RunConfig, prep: Prepared, worker: int):
    positions = candidate_positions(prep, cfg.data.encoder_length)
    ctx = DistContext(0, 1, 0, torch.device("cpu"))

    def objective(trial: optuna.Trial) -> float:
        trial.set_user_attr("worker", worker)
        try:
            trial_cfg = _apply(cfg, suggest_overrides(trial, cfg))
        except ValueError as exc:  # e.g. heads not dividing hidden size
            raise optuna.TrialPruned(f"invalid combination: {exc}") from None
        for other in trial.study.get_trials(
            deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)
        ):
            if other.params == trial.params:
                trial.set_user_attr("duplicate_of", other.number)
                return float(other.value)

        def report(epoch: int, val_loss: float) -> None:
            trial.report(val_loss, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {epoch}")

        trained = train_window(trial_cfg, prep, positions, ctx, None, on_epoch=report)
        return trained.result.best_val_loss

    return objective


def _open_study(cfg: RunConfig, worker: int) -> optuna.Study:
    t = cfg.tune
    # Distinct seeds per worker: identical seeds would make every worker propose the same
    # random start-up trials.
    sampler = optuna.samplers.TPESampler(seed=None if t.seed is None else t.seed + worker)
    pruner = (
        optuna.pruners.HyperbandPruner(min_resource=1, max_resource=cfg.train.epochs)
        if t.pruner == "hyperband"
        else optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)
    )
    return optuna.create_study(
        storage=make_storage(t.storage),
        study_name=t.study_name,
        direction="minimize",
        sampler=sampler,
        pruner=pruner,
        load_if_exists=True,
    )


def _worker(cfg_data: dict[str, Any], n_trials: int, worker: int) -> None:
    """One worker process: its own data, its own share of trials, the shared study."""
    cfg = RunConfig.model_validate(cfg_data)
    if cfg.tune.workers > 1:
        torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    d = cfg.data
    prep = prepare(d, with_sentiment_rows(d, load_bundled(d.universe, d.symbols, macro=d.use_macro)))
    study = _open_study(cfg, worker)
    study.optimize(_objective(cfg, prep, worker), n_trials=n_trials, catch=())
    log.info("tune_worker_finished", worker=worker, trials=n_trials)


def run_study(cfg: RunConfig) -> optuna.Study:
    """Run `tune.n_trials` trials split over `tune.workers` processes; return the study."""
    t = cfg.tune
    _open_study(cfg, 0)  # create once up front so workers never race on creation
    shares = [t.n_trials // t.workers + (w < t.n_trials % t.workers) for w in range(t.workers)]
    if t.workers == 1:
        _worker(cfg.model_dump(mode="json"), shares[0], 0)
    else:
        spawn = mp.get_context("spawn")  # fresh interpreters: no forked torch threads
        procs = [
            spawn.Process(target=_worker, args=(cfg.model_dump(mode="json"), n, w))
            for w, n in enumerate(shares)
            if n
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        failed = [p.exitcode for p in procs if p.exitcode]
        if failed:
            raise RuntimeError(f"{len(failed)} tune worker(s) failed, exit codes {failed}")
    study = _open_study(cfg, 0)
    log.info(
        "tune_finished",
        trials=len(study.trials),
        best_value=study.best_value,
        best_params=study.best_trial.params,
    )
    return study
