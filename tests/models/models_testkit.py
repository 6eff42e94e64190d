"""Shared helpers for the models tests: small real-shaped inputs, tiny configs.

A uniquely named module (not conftest.py) so that `from models_testkit import ...` cannot
resolve to another package's conftest."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.config import RunConfig
from models.data import MarketData
from models.factory import ModelDims

TINY_MODELS = {
    "tft": {"family": "tft", "hidden_size": 8, "num_heads": 2, "lstm_layers": 2, "dropout": 0.0},
    "lstm_vanilla": {
        "family": "lstm",
        "variant": "vanilla",
        "hidden_size": 8,
        "num_layers": 1,
        "dropout": 0.0,
    },
    "lstm_stacked": {
        "family": "lstm",
        "variant": "stacked",
        "hidden_size": 8,
        "num_layers": 2,
        "dropout": 0.0,
    },
    "lstm_bidirectional": {
        "family": "lstm",
        "variant": "bidirectional",
        "hidden_size": 8,
        "num_layers": 1,
        "dropout": 0.0,
    },
    "hybrid": {"family": "hybrid", "preset": "tiny", "d_model": 8, "dropout": 0.0},
}
DIMS = ModelDims(n_past=7, n_future=6, n_symbols=5, n_targets=4, n_quantiles=3)


def synthetic_market(n_symbols: int = 5, n_days: int = 500, seed: int = 0) -> MarketData:
    """Geometric random-walk closes on business days plus one monthly macro series that is
    released 15 days after its month ends."""
    rng = np.random.default_rng(seed)
    times = pd.bdate_range("2010-01-04", periods=n_days)
    rets = rng.normal(0.0003, 0.015, size=(n_days, n_symbols))
    prices = pd.DataFrame(
        100 * np.exp(np.cumsum(rets, axis=0)),
        index=times,
        columns=[f"S{i}" for i in range(n_symbols)],
    )
    months = pd.date_range("2009-01-01", times[-1], freq="MS")
    macro = pd.DataFrame({"level": np.linspace(1.0, 2.0, len(months))}, index=months)
    macro["available_at"] = macro.index + pd.offsets.MonthEnd(0) + pd.DateOffset(days=15)
    return MarketData(prices, None, {"m": macro})


def tiny_run_config(tmp_path, family: str = "tft", **sections) -> RunConfig:
    data = {"start": "2010-06-01", "end": "2011-12-30", "encoder_length": 10, "embargo": 2}
    train = {"epochs": 2, "batch_size": 32, "max_steps_per_epoch": 4, "patience": 5}
    tree = {
        "model": TINY_MODELS[family],
        "data": {**data, **sections.pop("data", {})},
        "train": {**train, **sections.pop("train", {})},
        "registry_dir": str(tmp_path / "registry"),
        "run_dir": str(tmp_path / "run"),
        **sections,
    }
    return RunConfig.model_validate(tree)
