"""Walk-forward evaluation: train a fresh model per expanding-window fold and score it on
the fold's test block next to the baselines (zero return, trailing historical mean, GARCH(1,1)
for the volatility target), on exactly the same (t, symbol) samples.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import structlog

from models.config import RunConfig
from models.dataset import Prepared, make_dataset
from models.distributed import DistContext
from models.evaluation import (
    garch_vol_forecast,
    quantile_metrics,
    quantile_offsets,
    trailing_mean_forecast,
    trailing_vol_forecast,
)
from models.pipeline import candidate_positions, train_window
from models.splits import walk_forward_folds
from models.trainer import predict

__all__ = ["baseline_points", "summarise", "walk_forward"]

log = structlog.get_logger(component="models")


def baseline_points(
    prep: Prepared, train_end: int, first: int, last: int, with_garch: bool
) -> dict[str, np.ndarray]:
    """Point forecasts (T, N, K) per baseline, valid on rows [first, last), using only
    returns up to each row (GARCH parameters fitted on rows < train_end). NaN elsewhere."""
    daily = prep.panel.values[..., prep.panel.names.index("ret_1")].astype(np.float64)
    t, n = daily.shape
    out = {name: np.full((t, n, len(prep.target_names)), np.nan) for name in ("zero", "hist_mean")}
    if with_garch:
        out["garch"] = np.full_like(out["zero"], np.nan)
    for k, name in enumerate(prep.target_names):
        h = int(name.split("_")[1])
        if name.startswith("ret_"):
            out["zero"][..., k] = 0.0
            out["hist_mean"][..., k] = trailing_mean_forecast(daily, h)
        else:  # realised volatility: zero vol is meaningless, so "zero" stays NaN here
            out["hist_mean"][..., k] = trailing_vol_forecast(daily, h)
            if with_garch:
                for i in range(n):
                    out["garch"][first:last, i, k] = garch_vol_forecast(
                        daily[:, i], train_end, h, first, last
                    )
    return out


def _score(pred, labels, dates, cfg: RunConfig, names) -> dict[str, dict[str, float]]:
    """pred (S, K, Q), labels (S, K) -> {target: metrics}; samples with NaN are skipped."""
    out = {}
    for k, name in enumerate(names):
        ok = np.isfinite(pred[:, k]).all(axis=1) & np.isfinite(labels[:, k])
        if ok.any():
            out[name] = quantile_metrics(pred[ok, k], labels[ok, k], cfg.data.quantiles, dates[ok])
    return out


def walk_forward(
    cfg: RunConfig, prep: Prepared, ctx: DistContext, run_dir: Path | None
) -> dict[str, Any]:
    """Report {folds: [...], summary: {target: {model/baseline: mean metrics}}, verdict}.
    Every rank trains (DDP); scoring happens on every rank but only rank 0 logs."""
    d = cfg.data
    candidates = candidate_positions(prep, d.encoder_length)
    folds = walk_forward_folds(
        candidates, cfg.train.eval_folds, d.label_horizon, d.embargo, len(candidates) // 2
    )
    reports = []
    for k, fold in enumerate(folds):
        sub = run_dir / f"fold{k}" if run_dir else None
        trained = train_window(cfg, prep, fold.train, ctx, sub)
        test_ds = make_dataset(prep, trained.normaliser, fold.test, d)
        pred = trained.normaliser.inverse_targets(predict(trained.model, test_ds, ctx))
        t, i = test_ds.index.numpy().T
        labels = prep.targets[t, i]
        dates = prep.panel.times.values[t]
        offsets = quantile_offsets(prep.targets[fold.train[0] : fold.train[-1] + 1], d.quantiles)
        scores = {"model": _score(pred, labels, dates, cfg, prep.target_names)}
        points = baseline_points(
            prep, int(fold.train[-1]) + 1, int(fold.test[0]), int(fold.test[-1]) + 1, d.vol_target
        )
        for name, point in points.items():
            base = point[t, i][..., None] + offsets[i]  # (S, K, Q)
            scores[name] = _score(base, labels, dates, cfg, prep.target_names)
        window = {
            "train": [
                str(prep.panel.times[fold.train[0]].date()),
                str(prep.panel.times[fold.train[-1]].date()),
            ],
            "test": [
                str(prep.panel.times[fold.test[0]].date()),
                str(prep.panel.times[fold.test[-1]].date()),
            ],
        }
        reports.append({"fold": k, "window": window, "samples": len(test_ds), "scores": scores})
        if ctx.is_main:
            log.info("fold_evaluated", fold=k, **window, best_val=trained.result.best_val_loss)
    return {"folds": reports, **summarise(reports, prep.target_names)}


def _nanmean(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def summarise(reports: list[dict[str, Any]], targets: tuple[str, ...]) -> dict[str, Any]:
    """Mean metric per (target, forecaster) over folds, and whether the model beat the best
    baseline on mean pinball loss for each target — stated plainly either way."""
    summary: dict[str, dict[str, dict[str, float]]] = {}
    verdict: dict[str, str] = {}
    for target in targets:
        per = {}
        for name in reports[0]["scores"]:
            rows = [r["scores"][name][target] for r in reports if target in r["scores"][name]]
            if rows:
                per[name] = {m: _nanmean([r[m] for r in rows]) for m in rows[0]}
        summary[target] = per
        base = {n: v["pinball_mean"] for n, v in per.items() if n != "model"}
        if "model" in per and base:
            best = min(base, key=base.get)
            beat = per["model"]["pinball_mean"] < base[best]
            verdict[target] = (
                f"{'beats' if beat else 'does NOT beat'} best baseline {best} "
                f"(pinball {per['model']['pinball_mean']:.6f} vs {base[best]:.6f})"
            )
    return {"summary": summary, "verdict": verdict}
