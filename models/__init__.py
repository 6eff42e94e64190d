"""Forecasting models, features, training, checkpoint registry, evaluation and export.

Entry points: `models.cli.train_main` / `tune_main` (`tradingd train|tune`) and
`python -m models.train` (runs under torchrun). Serving: `registry.load` + `Forecaster`.
"""

from models.config import (
    ConfigError,
    DataConfig,
    HybridConfig,
    LSTMConfig,
    RunConfig,
    TFTConfig,
    TrainConfig,
    TuneConfig,
    load_config,
)
from models.data import MarketData, load_bundled, load_macro
from models.factory import ModelDims, build_model, count_parameters
from models.features import FeaturePanel, build_features, build_targets, known_future
from models.forecaster import FeatureWindow, Forecast, Forecaster, feature_window
from models.hybrid import HybridForecaster
from models.losses import monotone_quantiles, pinball_loss
from models.lstm import LSTMForecaster
from models.normaliser import Normaliser
from models.registry import (
    CheckpointRejected,
    LoadedCheckpoint,
    Manifest,
    latest,
    list_checkpoints,
    load,
    publish,
    verify,
)
from models.splits import Fold, train_val_split, walk_forward_folds
from models.tft import TemporalFusionTransformer, TFTOutput

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
