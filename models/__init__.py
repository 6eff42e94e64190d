"""Forecasting models, features, training, checkpoint registry, evaluation and export.

Entry points: `models.cli.train_main` / `tune_main` (`tradingd train|tune`) and
`python -m models` (runs under torchrun). Serving: `registry.load` + `Forecaster`.

Names load on first use (PEP 562): the daemon reads `models.config` without importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOME = {
    "CheckpointRejected": "models.registry",
    "ConfigError": "models.config",
    "DataConfig": "models.config",
    "FeaturePanel": "models.features",
    "FeatureWindow": "models.forecaster",
    "Fold": "models.splits",
    "Forecast": "models.forecaster",
    "Forecaster": "models.forecaster",
    "HybridConfig": "models.config",
    "HybridForecaster": "models.hybrid",
    "LSTMConfig": "models.config",
    "LSTMForecaster": "models.lstm",
    "LoadedCheckpoint": "models.registry",
    "Manifest": "models.registry",
    "MarketData": "models.data",
    "ModelDims": "models.factory",
    "Normaliser": "models.normaliser",
    "RunConfig": "models.config",
    "SelectedPastMemo": "models.forecaster",
    "TFTConfig": "models.config",
    "TFTOutput": "models.tft",
    "TemporalFusionTransformer": "models.tft",
    "TrainConfig": "models.config",
    "TuneConfig": "models.config",
    "build_features": "models.features",
    "build_model": "models.factory",
    "build_targets": "models.features",
    "count_parameters": "models.factory",
    "feature_window": "models.forecaster",
    "known_future": "models.features",
    "latest": "models.registry",
    "list_checkpoints": "models.registry",
    "load": "models.registry",
    "load_bundled": "models.data",
    "load_config": "models.config",
    "load_macro": "models.data",
    "monotone_quantiles": "models.losses",
    "pinball_loss": "models.losses",
    "publish": "models.registry",
    "train_val_split": "models.splits",
    "verify": "models.registry",
    "walk_forward_folds": "models.splits",
}

__all__ = [
    "CheckpointRejected",
    "ConfigError",
    "DataConfig",
    "FeaturePanel",
    "FeatureWindow",
    "Fold",
    "Forecast",
    "Forecaster",
    "HybridConfig",
    "HybridForecaster",
    "LSTMConfig",
    "LSTMForecaster",
    "LoadedCheckpoint",
    "Manifest",
    "MarketData",
    "ModelDims",
    "Normaliser",
    "RunConfig",
    "SelectedPastMemo",
    "TFTConfig",
    "TFTOutput",
    "TemporalFusionTransformer",
    "TrainConfig",
    "TuneConfig",
    "build_features",
    "build_model",
    "build_targets",
    "count_parameters",
    "feature_window",
    "known_future",
    "latest",
    "list_checkpoints",
    "load",
    "load_bundled",
    "load_config",
    "load_macro",
    "monotone_quantiles",
    "pinball_loss",
    "publish",
    "train_val_split",
    "verify",
    "walk_forward_folds",
]


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
