"""Training: `run_training(cfg)`, what `python -m models [flags]` (`models/__main__.py`) and
`torchrun --nproc_per_node=N -m models [flags]` run (see `models.cli` for the flags).

Loads the bundled data, optionally runs the walk-forward evaluation, trains the final model
on the whole window and, on rank 0, publishes it to the registry.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import structlog
import torch

from models.config import RunConfig
from models.data import MarketData, load_bundled, with_sentiment_rows
from models.dataset import prepare
from models.distributed import DistContext, init_distributed, shutdown_distributed
from models.features import schema_hash
from models.pipeline import TrainedWindow, candidate_positions, model_dims, train_window
from models.registry import Manifest, publish
from models.walkforward import walk_forward

__all__ = ["TrainingOutcome", "build_manifest", "run_training"]

log = structlog.get_logger(component="models")


@dataclass(frozen=True, slots=True)
class TrainingOutcome:
    checkpoint: Path | None  # published folder (rank 0 with publish on), else None
    best_val_loss: float
    evaluation: dict[str, Any] | None


def build_manifest(cfg: RunConfig, prep, trained: TrainedWindow) -> Manifest:
    d, times = cfg.data, prep.panel.times
    r = trained.result
    return Manifest(
        model_class=type(trained.model).__name__,
        hyperparameters=cfg.model.model_dump(mode="json"),
        dims=asdict(model_dims(prep, len(d.quantiles))),
        feature_names=prep.panel.names,
        future_names=prep.future_names,
        target_names=prep.target_names,
        schema_hash=schema_hash(prep.panel.names, prep.future_names, prep.target_names),
        symbols=prep.panel.symbols,
        encoder_length=d.encoder_length,
        horizons=d.horizons,
        vol_horizon=d.vol_horizon if d.vol_target else None,
        quantiles=d.quantiles,
        normaliser=trained.normaliser.to_dict(),
        training_window={
            "universe": d.universe,
            "start": str(d.start),
            "end": str(d.end),
            "train_first": str(times[trained.split.train[0]].date()),
            "train_last": str(times[trained.split.train[-1]].date()),
            "val_first": str(times[trained.split.test[0]].date()),
            "val_last": str(times[trained.split.test[-1]].date()),
        }
        | ({"sentiment_model": d.sentiment} if d.sentiment != "off" else {}),
        validation={
            "val_pinball": r.best_val_loss,
            "best_epoch": float(r.best_epoch),
            "epochs_run": float(r.epochs_run),
            "samples_per_s": r.samples_per_s,
        },
    )


def run_training(
    cfg: RunConfig, *, resume: bool = False, market: MarketData | None = None
) -> TrainingOutcome:
    """Train (and evaluate / publish) under whatever process group torchrun set up."""
    ctx: DistContext = init_distributed(cfg.train.device)
    if ctx.distributed and ctx.device.type == "cpu":
        torch.set_num_threads(1)  # N CPU ranks on N cores: oversubscription only slows
    structlog.contextvars.bind_contextvars(rank=ctx.rank)
    try:
        d = cfg.data
        market = with_sentiment_rows(d, market or load_bundled(d.universe, d.symbols, macro=d.use_macro))
        prep = prepare(d, market)
        log.info(
            "training_started",
            family=cfg.model.family,
            world_size=ctx.world_size,
            device=str(ctx.device),
            features=len(prep.panel.names),
            symbols=len(prep.panel.symbols),
            sentiment=d.sentiment,
        )
        run_dir = Path(cfg.run_dir)
        if ctx.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
        evaluation = walk_forward(cfg, prep, ctx, run_dir) if cfg.train.eval_folds else None
        positions = candidate_positions(prep, d.encoder_length)
        trained = train_window(cfg, prep, positions, ctx, run_dir, resume=resume)
        path = None
        if ctx.is_main and cfg.publish:
            manifest = build_manifest(cfg, prep, trained)
            if evaluation is not None:
                manifest = manifest.model_copy(
                    update={
                        "evaluation_summary": {
                            "verdict": evaluation["verdict"],
                            "summary": evaluation["summary"],
                        }
                    }
                )
            path = publish(
                cfg.registry_dir,
                trained.model,
                manifest,
                evaluation=evaluation,
                tensorboard_dir=run_dir / "tensorboard",
            )
        if ctx.distributed:
            torch.distributed.barrier()
        return TrainingOutcome(path, trained.result.best_val_loss, evaluation)
    finally:
        structlog.contextvars.unbind_contextvars("rank")
        shutdown_distributed()


if __name__ == "__main__":  # the entry point moved: say so rather than do nothing
    sys.exit("python -m models.train is now python -m models (same flags)")
