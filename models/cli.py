"""Command-line front ends: `tradingd train ...` -> `train_main(argv)`, `tradingd tune ...`
-> `tune_main(argv)`, and `python -m models` (the torchrun entry point, `models/__main__.py`).

Exit codes: 0 ok, 1 failure (one-line reason on stderr), 2 bad arguments or config.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from core.settings import ConfigError
from models.config import RunConfig, load_config, parse_override

__all__ = ["train_main", "tune_main"]

log = structlog.get_logger(component="models")

# (the --config path or None, the parsed config) -> the sentiment rows file it wrote
SentimentRows = Callable[[Path | None, RunConfig], Path]

# Shortcut flag -> dotted config key. Everything else goes through --set key=value.
_COMMON = {
    "family": ("model.family", str, "model family: tft, lstm or hybrid"),
    "preset": ("model.preset", str, "hybrid size preset: tiny, small, 100m, 500m"),
    "universe": ("data.universe", str, "bundled universe: sp500_20 or indices"),
    "start": ("data.start", str, "first day of the training window (YYYY-MM-DD)"),
    "end": ("data.end", str, "last day of the training window (YYYY-MM-DD)"),
    "epochs": ("train.epochs", int, "maximum epochs"),
    "batch_size": ("train.batch_size", int, "global batch size over all processes"),
    "max_steps_per_epoch": ("train.max_steps_per_epoch", int, "cap optimizer steps per epoch"),
    "device": ("train.device", str, "auto, cpu or cuda"),
    "registry": ("registry_dir", str, "checkpoint registry folder"),
    "run_dir": ("run_dir", str, "folder for TensorBoard logs and last.pt"),
}
_TRAIN = {"eval_folds": ("train.eval_folds", int, "walk-forward folds before the final fit")}
_TUNE = {
    "storage": ("tune.storage", str, "sqlite:///x.db, postgresql://..., or journal:path.log"),
    "study": ("tune.study_name", str, "Optuna study name"),
    "n_trials": ("tune.n_trials", int, "total trials over all workers"),
    "workers": ("tune.workers", int, "worker processes sharing the study"),
    "pruner": ("tune.pruner", str, "hyperband or median"),
}


def _parser(prog: str, flags: dict[str, tuple[str, type, str]]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    p.add_argument("--config", type=Path, help="TOML file (whole file or its [models] table)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any config key, value parsed as TOML; repeatable",
    )
    p.add_argument("--symbols", help="comma-separated subset of the universe")
    p.add_argument("--no-publish", action="store_true", help="train but do not publish")
    for name, (key, kind, text) in flags.items():
        p.add_argument(f"--{name.replace('_', '-')}", type=kind, help=f"{text} [{key}]")
    return p


def _parse(
    prog: str,
    flags: dict[str, tuple[str, type, str]],
    argv: list[str],
    extra: Callable | None = None,
) -> tuple[argparse.Namespace, RunConfig]:
    parser = _parser(prog, flags)
    if extra:
        extra(parser)
    args = parser.parse_args(argv)
    overrides: list[tuple[str, Any]] = [parse_override(text) for text in args.set]
    for name, (key, _, _) in flags.items():
        value = getattr(args, name)
        if value is not None:
            overrides.append((key, value))
    if args.symbols:
        overrides.append(
            ("data.symbols", [s.strip() for s in args.symbols.split(",") if s.strip()])
        )
    if args.no_publish:
        overrides.append(("publish", False))
    return args, load_config(args.config, overrides)


def _run(prog: str, flags, argv: list[str], body: Callable, extra: Callable | None = None) -> int:
    try:
        args, cfg = _parse(prog, flags, argv, extra)
    except SystemExit as exc:  # argparse: 0 for --help, 2 for a bad flag
        return int(exc.code or 0)
    except ConfigError as exc:
        print(f"{prog}: bad config: {'; '.join(exc.located())}", file=sys.stderr)
        return 2
    try:
        return body(args, cfg)
    except KeyboardInterrupt:
        return 1
    except Exception as exc:  # noqa: BLE001 -- the CLI's job is to turn any failure into 1
        log.exception(f"{prog.split()[-1]}_failed")
        print(f"{prog}: failed: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        return 1


def _relaunch_under_torchrun(nproc: int, argv: list[str]) -> int:
    """Run this same command as N local worker processes (config already validated)."""
    rest, skip = [], False
    for arg in argv:  # drop --nproc-per-node N / --nproc-per-node=N
        if skip:
            skip = False
        elif arg == "--nproc-per-node":
            skip = True
        elif not arg.startswith("--nproc-per-node="):
            rest.append(arg)
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        "-m",
        "models",
        *rest,
    ]
    code = subprocess.run(cmd, check=False).returncode
    return code if code in (0, 2) else 1


def train_main(argv: list[str], sentiment_rows: SentimentRows | None = None) -> int:
    """`tradingd train`: train (optionally walk-forward evaluate) and publish one model.

    `sentiment_rows(config_path, cfg)`: writes the scored texts for `models.data.sentiment`
    and returns the file (the daemon reads them from its lake; `models` cannot)."""

    def body(args: argparse.Namespace, cfg: RunConfig) -> int:
        nonlocal argv
        d = cfg.data
        if sentiment_rows is not None and d.sentiment != "off" and d.sentiment_rows is None:
            path = sentiment_rows(args.config, cfg)  # once, before torchrun starts the ranks
            argv = [*argv, "--set", f"data.sentiment_rows={json.dumps(str(path))}"]
            cfg = cfg.model_copy(update={"data": d.model_copy(update={"sentiment_rows": path})})
        if args.nproc_per_node and "LOCAL_RANK" not in os.environ:
            return _relaunch_under_torchrun(args.nproc_per_node, argv)
        from models.train import run_training

        outcome = run_training(cfg, resume=args.resume)
        if outcome.checkpoint is not None and sys.stdout.isatty():
            print(f"published {outcome.checkpoint}")
        return 0

    def extra(p: argparse.ArgumentParser) -> None:
        p.add_argument("--resume", action="store_true", help="continue from run_dir/last.pt")
        p.add_argument(
            "--nproc-per-node",
            type=int,
            metavar="N",
            help="re-launch under `torchrun --standalone --nproc_per_node=N`",
        )

    return _run("tradingd train", {**_COMMON, **_TRAIN}, argv, body, extra)


def tune_main(argv: list[str]) -> int:
    """`tradingd tune`: Optuna study over worker processes; --train-best then trains and
    publishes the best trial's config."""

    def body(args: argparse.Namespace, cfg: RunConfig) -> int:
        from models.tune import best_config, run_study

        study = run_study(cfg)
        if args.train_best:
            from models.train import run_training

            run_training(best_config(cfg, study.best_trial.params))
        return 0

    def extra(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--train-best",
            action="store_true",
            help="train and publish the best trial's config afterwards",
        )

    return _run("tradingd tune", {**_COMMON, **_TUNE}, argv, body, extra)
