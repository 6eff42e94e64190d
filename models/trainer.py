"""The training loop: DDP, bf16 autocast on CUDA, AdamW with warmup + cosine, gradient
clipping, early stopping that restores the best weights, TensorBoard scalars and a
resumable per-epoch checkpoint. Runs identically on 1 or N processes.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import structlog
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler

from models.config import TrainConfig
from models.dataset import WindowDataset
from models.distributed import DistContext, all_reduce_sum
from models.losses import pinball_loss

__all__ = ["FitResult", "evaluate_loss", "fit", "predict", "warmup_cosine"]

log = structlog.get_logger(component="models")
_TB_TAGS = {
    "loss/train": "train_loss",
    "loss/val": "val_loss",
    "lr": "lr",
    "throughput/samples_per_s": "samples_per_s",
}


@dataclass(frozen=True, slots=True)
class FitResult:
    best_val_loss: float
    best_epoch: int
    epochs_run: int
    stopped_early: bool
    samples_per_s: float  # global training throughput of the last epoch
    history: tuple[dict[str, float], ...]


def warmup_cosine(total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    """LR multiplier: linear warmup to 1, then cosine decay to 0 at `total_steps`."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def _autocast(ctx: DistContext):
    if ctx.autocast_dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=ctx.device.type, dtype=ctx.autocast_dtype)


def _to(batch: tuple[torch.Tensor, ...], device: torch.device) -> tuple[torch.Tensor, ...]:
    return tuple(x.to(device, non_blocking=True) for x in batch)


@torch.no_grad()
def predict(model: nn.Module, ds: WindowDataset, ctx: DistContext, batch: int = 1024) -> np.ndarray:
    """Quantiles (S, K, Q) for every sample of `ds`, in order, on this process only."""
    model.eval()
    out = []
    for start in range(0, len(ds), batch):
        past, future, static, _ = _to(
            ds.__getitems__(list(range(start, min(start + batch, len(ds))))), ctx.device
        )
        with _autocast(ctx):
            out.append(model(past, future, static).float().cpu())
    return torch.cat(out).numpy() if out else np.empty((0,))


@torch.no_grad()
def evaluate_loss(
    model: nn.Module, ds: WindowDataset, quantiles: tuple[float, ...], ctx: DistContext, batch: int
) -> float:
    """Mean pinball loss over `ds`, sharded rank::world without padding so the value is
    identical on any number of processes."""
    model.eval()
    mine = np.arange(ctx.rank, len(ds), ctx.world_size)
    total, count = 0.0, 0.0
    for start in range(0, len(mine), batch):
        past, future, static, y = _to(
            ds.__getitems__(mine[start : start + batch].tolist()), ctx.device
        )
        with _autocast(ctx):
            pred = model(past, future, static)
        total += pinball_loss(pred, y, quantiles).item() * y.numel()
        count += y.numel()
    total, count = all_reduce_sum([total, count], ctx)
    return total / max(count, 1.0)


def _train_epoch(net, ds, batches, opt, sched, grad_clip, quantiles, ctx: DistContext) -> float:
    """One pass over `batches` (lists of sample indices for this rank); returns the summed
    per-step loss. `net` may be the DDP wrapper: backward then all-reduces the gradients."""
    loss_sum = 0.0
    for items in batches:
        past, future, static, y = _to(ds.__getitems__(items), ctx.device)
        with _autocast(ctx):
            pred = net(past, future, static)
        loss = pinball_loss(pred, y, quantiles)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), grad_clip)
        opt.step()
        sched.step()
        loss_sum += loss.item()
    return loss_sum


def _save_atomic(obj: dict, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)  # a crash mid-write never leaves a half checkpoint as last.pt


def _prepare(
    model: nn.Module, train_ds: WindowDataset, cfg: TrainConfig, ctx: DistContext
) -> tuple[nn.Module, DistributedSampler, int, int]:
    """Seed, place and (when distributed) wrap the model; the sampler, the per-rank batch
    and the steps per epoch."""
    if cfg.batch_size % ctx.world_size:
        raise ValueError("train.batch_size must be divisible by the number of processes")
    local_batch = cfg.batch_size // ctx.world_size
    torch.manual_seed(cfg.seed)
    model.to(ctx.device)
    if cfg.grad_checkpointing:
        model.grad_checkpointing = True
    net = (
        DistributedDataParallel(
            model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None
        )
        if ctx.distributed
        else model
    )
    sampler = DistributedSampler(
        train_ds, ctx.world_size, ctx.rank, shuffle=True, seed=cfg.seed, drop_last=True
    )
    steps = len(sampler) // local_batch
    if cfg.max_steps_per_epoch:
        steps = min(steps, cfg.max_steps_per_epoch)
    if steps < 1:
        raise ValueError(f"training set of {len(train_ds)} samples is smaller than one batch")
    return net, sampler, local_batch, steps


def _optimizer(
    model: nn.Module, cfg: TrainConfig, steps: int
) -> tuple[torch.optim.AdamW, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW with linear warm-up then cosine decay over all ``steps * cfg.epochs`` steps."""
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    total = steps * cfg.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(total, max(1, int(total * cfg.warmup_fraction))))
    return opt, sched


def _run_epoch(
    net, model, train_ds, val_ds, sampler, opt, sched, cfg: TrainConfig, quantiles, ctx: DistContext,
    *, epoch: int, steps: int, local_batch: int,
) -> dict:
    """Train one epoch and evaluate; the epoch's record (losses, learning rate, throughput)."""
    net.train()
    sampler.set_epoch(epoch)
    began = time.perf_counter()
    order = list(sampler)
    batches = (order[k * local_batch : (k + 1) * local_batch] for k in range(steps))
    loss_sum = _train_epoch(net, train_ds, batches, opt, sched, cfg.grad_clip, quantiles, ctx)
    elapsed = time.perf_counter() - began
    throughput = steps * cfg.batch_size / max(elapsed, 1e-9)
    train_loss = all_reduce_sum([loss_sum / steps], ctx)[0] / ctx.world_size
    val_loss = evaluate_loss(model, val_ds, quantiles, ctx, max(local_batch, 256))
    return {
        "epoch": epoch,
        "train_loss": train_loss,
        "val_loss": val_loss,
        "lr": sched.get_last_lr()[0],
        "samples_per_s": throughput,
    }


def _load_last(last_path: Path, model: nn.Module, opt, sched) -> tuple[dict, dict]:
    """Restore model, optimizer and scheduler from ``last.pt``; its loop state and best weights."""
    saved = torch.load(last_path, map_location="cpu", weights_only=True)
    model.load_state_dict(saved["model"])
    opt.load_state_dict(saved["optimizer"])
    sched.load_state_dict(saved["scheduler"])
    log.info("training_resumed", epoch=saved["state"]["epoch"] + 1, path=str(last_path))
    return saved["state"], saved["best_weights"]


def _save_last(last_path: Path, model: nn.Module, opt, sched, best_weights: dict, state: dict) -> None:
    """Checkpoint everything a resume needs to ``last.pt`` (atomically)."""
    _save_atomic(
        {
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(),
            "best_weights": best_weights,
            "state": state,
        },
        last_path,
    )


def _track_best(state: dict, record: dict, model: nn.Module, best_weights: dict) -> dict:
    """Add the epoch's record to the loop state; the best weights so far (a copy when it improved)."""
    epoch, val_loss = record["epoch"], record["val_loss"]
    state["history"].append(record)
    if val_loss < state["best_val"]:
        state.update(best_val=val_loss, best_epoch=epoch, bad_epochs=0)
        best_weights = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    else:
        state["bad_epochs"] += 1
    state["epoch"] = epoch
    return best_weights


def _tensorboard(run_dir: Path):  # noqa: ANN202 -- tensorboard is imported only when used
    """A TensorBoard writer under ``run_dir/tensorboard``."""
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(run_dir / "tensorboard"))


def fit(
    model: nn.Module,
    train_ds: WindowDataset,
    val_ds: WindowDataset,
    cfg: TrainConfig,
    quantiles: tuple[float, ...],
    ctx: DistContext,
    run_dir: Path | None = None,
    *,
    resume: bool = False,
    on_epoch: Callable[[int, float], None] | None = None,
) -> FitResult:
    """Train `model` in place and leave it holding the best-validation weights.

    `cfg.batch_size` is the global batch: each of the world_size ranks takes an equal share
    from one DistributedSampler permutation, so 1 and N processes see the same samples per
    step. `on_epoch(epoch, val_loss)` may raise (e.g. optuna.TrialPruned) to stop early.
    """
    net, sampler, local_batch, steps = _prepare(model, train_ds, cfg, ctx)
    opt, sched = _optimizer(model, cfg, steps)
    state = {"epoch": -1, "best_val": math.inf, "best_epoch": -1, "bad_epochs": 0, "history": []}
    best_weights = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    last_path = run_dir / "last.pt" if run_dir else None
    if resume and last_path is not None and last_path.exists():
        state, best_weights = _load_last(last_path, model, opt, sched)
    writer = _tensorboard(run_dir) if ctx.is_main and run_dir is not None else None
    throughput, stopped = 0.0, False
    for epoch in range(state["epoch"] + 1, cfg.epochs):
        record = _run_epoch(
            net, model, train_ds, val_ds, sampler, opt, sched, cfg, quantiles, ctx,
            epoch=epoch, steps=steps, local_batch=local_batch,
        )
        throughput, val_loss = record["samples_per_s"], record["val_loss"]
        best_weights = _track_best(state, record, model, best_weights)
        if writer is not None:
            for tag, key in _TB_TAGS.items():
                writer.add_scalar(tag, record[key], epoch)
        if ctx.is_main:
            log.info("epoch_finished", **record)
            if last_path is not None:
                _save_last(last_path, model, opt, sched, best_weights, state)
        if on_epoch is not None:
            on_epoch(epoch, val_loss)
        if state["bad_epochs"] >= cfg.patience:
            stopped = True
            log.info("early_stopped", epoch=epoch, best_epoch=state["best_epoch"])
            break
    if writer is not None:
        writer.close()
    model.load_state_dict(best_weights)
    model.grad_checkpointing = False
    return FitResult(
        state["best_val"],
        state["best_epoch"],
        state["epoch"] + 1,
        stopped,
        throughput,
        tuple(state["history"]),
    )
