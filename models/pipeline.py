"""Train one model on a range of panel positions: split with purge + embargo, fit the
normaliser on the training rows only, build datasets, run the trainer.

Shared by the final training run, every walk-forward fold and every Optuna trial, so the
three can never disagree about how leakage is prevented.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from models.config import RunConfig
from models.dataset import Prepared, WindowDataset, make_dataset, valid_positions
from models.distributed import DistContext
from models.factory import ModelDims, build_model
from models.normaliser import Normaliser
from models.splits import Fold, train_val_split
from models.trainer import FitResult, fit

__all__ = [
    "TrainedWindow",
    "candidate_positions",
    "model_dims",
    "split_datasets",
    "train_window",
]


@dataclass(frozen=True, slots=True)
class TrainedWindow:
    model: nn.Module
    normaliser: Normaliser
    split: Fold  # train / validation positions actually used
    result: FitResult


def candidate_positions(prep: Prepared, encoder_length: int) -> np.ndarray:
    """Sorted time positions where at least one symbol has a full window and a label."""
    valid = valid_positions(prep.panel.values, prep.targets, encoder_length)
    return np.nonzero(valid.any(axis=1))[0]


def model_dims(prep: Prepared, n_quantiles: int) -> ModelDims:
    return ModelDims(
        n_past=len(prep.panel.names),
        n_future=len(prep.future_names),
        n_symbols=len(prep.panel.symbols),
        n_targets=len(prep.target_names),
        n_quantiles=n_quantiles,
    )


def split_datasets(
    cfg: RunConfig, prep: Prepared, positions: np.ndarray
) -> tuple[Fold, Normaliser, WindowDataset, WindowDataset]:
    """Train / validation split of `positions` (purge + embargo), the normaliser fitted on
    the training rows only, and the two datasets it standardises."""
    d = cfg.data
    split = train_val_split(positions, d.val_fraction, d.label_horizon, d.embargo)
    rows = np.zeros(len(prep.panel.times), dtype=bool)
    rows[split.train] = True
    norm = Normaliser.fit(prep.panel.values, prep.targets, rows)
    train_ds = make_dataset(prep, norm, split.train, d, stride=d.sample_stride)
    val_ds = make_dataset(prep, norm, split.test, d, stride=d.sample_stride)
    return split, norm, train_ds, val_ds


def train_window(
    cfg: RunConfig,
    prep: Prepared,
    positions: np.ndarray,
    ctx: DistContext,
    run_dir: Path | None,
    *,
    resume: bool = False,
    on_epoch: Callable[[int, float], None] | None = None,
) -> TrainedWindow:
    """positions: sorted contiguous panel rows whose labels are usable for training; the
    last `val_fraction` become validation after a purge (>= label horizon) + embargo."""
    split, norm, train_ds, val_ds = split_datasets(cfg, prep, positions)
    # Same seed on every rank: DDP then starts from identical weights without a broadcast
    # surprise, and one process reproduces N processes exactly.
    torch.manual_seed(cfg.train.seed)
    model = build_model(cfg.model, model_dims(prep, len(cfg.data.quantiles)))
    result = fit(
        model,
        train_ds,
        val_ds,
        cfg.train,
        cfg.data.quantiles,
        ctx,
        run_dir,
        resume=resume,
        on_epoch=on_epoch,
    )
    return TrainedWindow(model, norm, split, result)
