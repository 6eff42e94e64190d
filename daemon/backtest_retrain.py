"""Retraining inside a backtest: the `retrain` job at its simulated time, without look-ahead.

``models.backtest_retrain = "inprocess"`` calls ``models.train.run_training`` in this
process on data cut at the window end (what it hands over is recorded in ``received``, so a
test can assert that no row is later than the decision); ``"torchrun"`` runs the same entry
point under torchrun (``daemon.retrain``) and waits. Same code, same seed: the same
checkpoint. Checkpoints go to ``<registry_dir>/backtests/<config hash>/`` and are reused
when one with the same training-window end is there: the cache is keyed by (config hash,
data end). The replay's own `infer` validates and swaps them like the daemon does, without
touching the ``models`` table.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import structlog

from core.bus import EventBus
from core.clock import Clock
from core.events import CheckpointPublished
from daemon.jobs import JobOutcome
from daemon.retrain import RetrainSupervisor, plan_retrain
from models.config import RunConfig as ModelsConfig

if TYPE_CHECKING:
    from daemon.jobs import JobContext
    from models.data import MarketData
    from state.lake import Lake

__all__ = ["BacktestRetrainer", "models_hash"]

log = structlog.get_logger(component="retrain")


def models_hash(cfg: ModelsConfig) -> str:
    """What decides a checkpoint besides its window end: model, data spec, training (seed
    included), the window length and the holdout it leaves. Only ``[models]`` counts, and
    not its knobs that leave the weights alone (serving, the swap tolerance, timeouts, how
    the retrain is launched): runs that differ elsewhere (``[risk]``) share checkpoints.
    A ``data.sentiment_rows`` file counts by its content, not its path."""
    tree = cfg.model_dump(
        mode="json", exclude={"serve", "tune", "registry_dir", "run_dir", "publish", "backtest_retrain"}
    )
    tree["data"].pop("start")
    tree["data"].pop("end")
    rows = cfg.data.sentiment_rows
    if rows is not None and rows.is_file():  # a missing file fails the training, with its key
        tree["data"]["sentiment_rows"] = hashlib.sha256(rows.read_bytes()).hexdigest()
    tree["swap"] = {"holdout_days": cfg.swap.holdout_days}  # moves the window end
    tree["retrain"] = {"window_days": cfg.retrain.window_days}  # sets the window start
    return hashlib.sha256(json.dumps(tree, sort_keys=True).encode()).hexdigest()[:16]


class BacktestRetrainer:
    """The backtest's `retrain` job: train (or reuse) a checkpoint for the decision time."""

    def __init__(self, cfg: ModelsConfig, bus: EventBus, clock: Clock, *, lake: Lake | None = None) -> None:
        self.root = Path(cfg.registry_dir) / "backtests" / models_hash(cfg)
        self.cfg = cfg.model_copy(update={"registry_dir": self.root})
        self.bus, self.clock = bus, clock
        self.received: list[tuple[pd.Timestamp, pd.Timestamp]] = []  # (decision, last row handed over)
        self._market: MarketData | None = None
        self.lake = lake  # scored texts for models.data.sentiment

    def _cached(self, end: str) -> Path | None:
        from models.registry import Manifest, list_checkpoints

        for path in reversed(list_checkpoints(self.root)):
            manifest = Manifest.model_validate_json((path / "manifest.json").read_text())
            if manifest.training_window.get("end") == end:
                return path
        return None

    def _cut(self, end: pd.Timestamp) -> MarketData:
        """The bundled data as known at `end`: later prices and later-published macro rows
        are dropped before the trainer sees anything."""
        from models.data import MarketData, load_bundled

        d = self.cfg.data
        if self._market is None:
            self._market = load_bundled(d.universe, d.symbols, macro=d.use_macro)
        m = self._market
        macro = {k: f[pd.to_datetime(f["available_at"]) <= end] for k, f in m.macro.items()}
        volume = m.volume.loc[:end] if m.volume is not None else None
        return MarketData(m.prices.loc[:end], volume, macro, self._sentiment(end))

    def _sentiment(self, end: pd.Timestamp) -> pd.DataFrame | None:
        """The configured model's scored texts known at `end` (None: sentiment off)."""
        if self.cfg.data.sentiment == "off" or self.lake is None:
            return None
        from daemon.sentiment_training import lake_rows

        return lake_rows(self.lake, self.cfg.data.sentiment, end, symbols=self.cfg.data.symbols)

    def _train_inprocess(self, cfg: ModelsConfig, decision: pd.Timestamp, end: pd.Timestamp) -> Path:
        import torch

        from models.train import run_training

        # The thread count changes float reduction order: fix it so that a rerun (or the
        # same seed in another process) gives the same checkpoint.
        torch.set_num_threads(self.cfg.serve.threads)
        market = self._cut(end)
        self.received.append((decision, market.prices.index.max()))
        outcome = run_training(cfg, market=market)
        if outcome.checkpoint is None:
            raise RuntimeError("in-process retrain published nothing")
        return outcome.checkpoint

    async def launch(self, ctx: JobContext) -> JobOutcome:
        decision = pd.Timestamp(self.clock.now()).tz_convert(None)
        plan = plan_retrain(self.cfg, decision)
        path = self._cached(plan.end)
        how = "reused"
        if path is None and self.cfg.backtest_retrain == "torchrun":
            return await RetrainSupervisor(self.cfg, self.bus, self.clock).launch(ctx)
        if path is None:
            data = self.cfg.data.model_copy(update={"start": pd.Timestamp(plan.start).date(),
                                                    "end": pd.Timestamp(plan.end).date()})
            cfg = self.cfg.model_copy(update={"data": data, "run_dir": Path(self.cfg.run_dir) / plan.retrain_id})
            path = await ctx.offload(self._train_inprocess, cfg, decision, pd.Timestamp(plan.end))
            how = "trained in-process"
        log.info("backtest_retrain", decision=str(decision), window_end=plan.end, version=path.name, how=how)
        await ctx.emit(CheckpointPublished(ts=self.clock.now(), version=path.name, path=str(path),
                                           retrain_id=plan.retrain_id))
        return JobOutcome(f"{path.name} {how} (window {plan.start}..{plan.end})")

    async def close(self) -> None:
        """Nothing runs beside a replay."""
