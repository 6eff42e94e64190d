"""The gate a checkpoint passes before it serves: integrity, fit to the serving pipeline,
a smoke forecast and a holdout comparison with the champion.

Pure over its inputs: a registry folder, the serving spec (from config), a point-in-time
feature panel with its labels, and the champion. Every failure raises `CheckpointRejected`
with a one-line reason; the daemon (``daemon.serving``) turns that into `ModelRejected`.

Shapes: T = panel days, N = symbols, F = features, K = targets, Q = quantile levels.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from models.config import SwapConfig
from models.factory import ModelDims, build_model
from models.features import FUTURE_NAMES, FeaturePanel, build_targets
from models.forecaster import FeatureWindow, Forecast, Forecaster
from models.registry import CheckpointRejected, load
from models.sentiment.training import SENTIMENT_FEATURE_PREFIX, uses_sentiment
from models.serving_spec import ServingSpec

__all__ = [
    "HoldoutData", "NotEnoughHistory", "fit_panel", "holdout_loss", "load_for_serving", "smoke_forecast",
    "validate",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class HoldoutData:
    """A panel plus its labels (T, N, K), NaN where the future is not known yet."""

    panel: FeaturePanel
    labels: np.ndarray

    @classmethod
    def build(
        cls, spec: ServingSpec, prices: pd.DataFrame, as_of: pd.Timestamp, macro, sentiment: pd.DataFrame | None = None
    ) -> HoldoutData:
        panel = spec.panel(prices, as_of, macro, sentiment)
        labels = build_targets(prices.loc[:as_of], spec.horizons, spec.vol_horizon)
        return cls(panel, labels)


class NotEnoughHistory(ValueError):
    """The inputs, not the checkpoint, are short: no symbol has a complete feature window
    yet (early in a run). Retry later; nothing is wrong with the model."""


def _window(panel: FeaturePanel, t: int, length: int) -> FeatureWindow | None:
    if t + 1 < length:
        return None
    values = np.ascontiguousarray(panel.values[t + 1 - length : t + 1].transpose(1, 0, 2))
    return FeatureWindow(panel.times[t], panel.symbols, panel.names, values)


def fit_panel(fc: Forecaster, panel: FeaturePanel) -> FeaturePanel:
    """The serving panel as `fc` was trained: without the sentiment features when it was
    trained without them (each feature is computed on its own, so dropping some leaves the
    others' values as built in training). Any other difference is left for the schema
    check to reject."""
    names = tuple(fc.checkpoint.manifest.feature_names)
    if names == panel.names or uses_sentiment(names):
        return panel
    keep = [i for i, n in enumerate(panel.names) if not n.startswith(SENTIMENT_FEATURE_PREFIX)]
    return replace(panel, names=tuple(panel.names[i] for i in keep), values=panel.values[:, :, keep])


def _check_sentiment(fc: Forecaster, spec: ServingSpec, panel: FeaturePanel, path: Path) -> None:
    """A checkpoint trained on one scoring model's sentiment serves only on that model's."""
    m = fc.checkpoint.manifest
    if not uses_sentiment(m.feature_names):
        return
    trained = m.training_window.get("sentiment_model", "unknown")
    if not uses_sentiment(panel.names):
        raise CheckpointRejected(
            path, f"trained with {trained!r} sentiment features; serving builds none (models.data.sentiment off, or no lake)"
        )
    if trained != spec.sentiment:
        raise CheckpointRejected(
            path, f"trained on {trained!r} sentiment, serving reads {spec.sentiment!r} (models.data.sentiment)"
        )


def _check_fit(fc: Forecaster, spec: ServingSpec, panel: FeaturePanel, path: Path) -> None:
    """Model class, dims and feature schema against what the serving pipeline builds."""
    m = fc.checkpoint.manifest
    _check_sentiment(fc, spec, panel, path)
    with torch.device("meta"):
        expected = type(build_model(spec.model, ModelDims(**m.dims))).__name__
    if m.model_class != expected:
        raise CheckpointRejected(path, f"model class {m.model_class}, serving expects {expected}")
    want = {
        "n_past": len(panel.names),
        "n_future": len(FUTURE_NAMES),
        "n_targets": len(spec.target_names),
        "n_quantiles": len(spec.quantiles),
    }
    wrong = {k: (m.dims.get(k), v) for k, v in want.items() if m.dims.get(k) != v}
    if wrong:
        detail = ", ".join(f"{k} {got} != {exp}" for k, (got, exp) in wrong.items())
        raise CheckpointRejected(path, f"dims do not fit the serving pipeline: {detail}")
    if m.schema_hash != spec.schema_hash(panel):
        raise CheckpointRejected(
            path,
            f"feature schema mismatch: checkpoint {m.schema_hash[:12]} "
            f"({len(m.feature_names)} features), serving builds {spec.schema_hash(panel)[:12]} "
            f"({len(panel.names)} features)",
        )
    if tuple(m.quantiles) != tuple(spec.quantiles):
        raise CheckpointRejected(path, f"quantiles {m.quantiles} != {spec.quantiles}")
    bad = [n for n, p in fc.checkpoint.model.state_dict().items() if not torch.isfinite(p).all()]
    if bad:
        raise CheckpointRejected(path, f"non-finite weights in {len(bad)} tensor(s), e.g. {bad[0]}")


def smoke_forecast(fc: Forecaster, panel: FeaturePanel, path: Path) -> Forecast:
    """A forecast on the newest window: finite for every symbol with a full window and
    non-crossing (each quantile >= the one below)."""
    window = _window(panel, len(panel.times) - 1, fc.encoder_length)
    complete = np.isfinite(window.values).all(axis=(1, 2)) if window is not None else np.zeros(1, bool)
    if window is None or not complete.any():
        raise NotEnoughHistory(f"{len(panel.times)} bars: no symbol has a complete {fc.encoder_length}-day window")
    forecast = fc.forecast(window)
    values = forecast.values[complete]
    if not np.isfinite(values).all():
        raise CheckpointRejected(path, "smoke forecast is not finite")
    if (np.diff(values, axis=-1) < 0).any():
        raise CheckpointRejected(path, "smoke forecast has crossing quantiles")
    return forecast


def holdout_positions(data: HoldoutData, after: pd.Timestamp, days: int) -> np.ndarray:
    """The last `days` panel positions after `after` whose labels are all known."""
    known = np.isfinite(data.labels).all(axis=-1).any(axis=-1)
    later = np.asarray(data.panel.times > after)
    return np.nonzero(known & later)[0][-days:]


def holdout_loss(fc: Forecaster, data: HoldoutData, positions: np.ndarray) -> float:
    """Mean over targets of (pinball loss / label std) on `positions`: a scale-free number
    comparable between models scored on the same rows. NaN when nothing is scorable."""
    levels = np.asarray(fc.checkpoint.manifest.quantiles)
    panel = fit_panel(fc, data.panel)
    pairs = [(_window(panel, int(t), fc.encoder_length), data.labels[t]) for t in positions]
    pairs = [(w, y) for w, y in pairs if w is not None]
    if not pairs:
        return float("nan")
    pred = fc.forecast_many([w for w, _ in pairs])  # (S, N, K, Q)
    label = np.stack([y for _, y in pairs])  # (S, N, K)
    err = label[..., None] - pred
    loss = np.maximum(levels * err, (levels - 1.0) * err).mean(axis=-1)  # (S, N, K)
    loss = np.where(np.isfinite(loss), loss, np.nan)
    with warnings.catch_warnings():  # an all-NaN target is an answer (NaN), not a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        scale = np.nanstd(np.where(np.isfinite(loss), label, np.nan), axis=(0, 1))
        per_target = np.nanmean(loss, axis=(0, 1)) / np.where(scale > 0, scale, 1.0)
        return float(np.nanmean(per_target))


def load_for_serving(path: Path, spec: ServingSpec, panel: FeaturePanel) -> Forecaster:
    """Checks 1-4: sha256 + size against the manifest, weights_only / safetensors load with
    strict shapes, class / dims / schema / finite weights, and a smoke forecast."""
    path = Path(path)
    fc = Forecaster(load(path))
    panel = fit_panel(fc, panel)
    _check_fit(fc, spec, panel, path)
    smoke_forecast(fc, panel, path)
    return fc


def validate(
    path: Path,
    spec: ServingSpec,
    data: HoldoutData,
    champion: Forecaster | None,
    swap: SwapConfig,
) -> tuple[Forecaster, dict[str, float]]:
    """All five checks; returns the loaded challenger and its metrics, or raises
    `CheckpointRejected`. Without a champion the holdout comparison is skipped."""
    path = Path(path)
    fc = load_for_serving(path, spec, data.panel)
    if champion is None:
        return fc, {}
    end = pd.Timestamp(fc.checkpoint.manifest.training_window.get("end", "1900-01-01"))
    rows = holdout_positions(data, end, swap.holdout_days)
    if len(rows) < swap.min_holdout_days:
        raise CheckpointRejected(
            path,
            f"holdout too short: {len(rows)} labelled days after the training window end "
            f"{end.date()} (models.swap.min_holdout_days = {swap.min_holdout_days})",
        )
    challenger_loss = holdout_loss(fc, data, rows)
    champion_loss = holdout_loss(champion, data, rows)
    metrics = {
        "holdout_loss": challenger_loss,
        "champion_holdout_loss": champion_loss,
        "holdout_days": float(len(rows)),
    }
    if not np.isfinite(challenger_loss):
        raise CheckpointRejected(path, "holdout loss is not finite")
    if np.isfinite(champion_loss) and challenger_loss > champion_loss * (1.0 + swap.tolerance):
        raise CheckpointRejected(
            path,
            f"holdout pinball {challenger_loss:.4f} worse than the champion's "
            f"{champion_loss:.4f} by more than models.swap.tolerance = {swap.tolerance}",
        )
    return fc, metrics
