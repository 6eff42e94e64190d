"""Build any model family from its config and the data dimensions.

Every family shares one call signature, so training, export and serving never branch on
the family:  model(past (B, L, F_past), future (B, K, F_future), static (B,)) -> (B, K, Q).
"""

from __future__ import annotations

import torch
from torch import nn

from models.config import HybridConfig, LSTMConfig, ModelConfig, TFTConfig
from models.dims import ModelDims
from models.hybrid import HybridForecaster
from models.lstm import LSTMForecaster
from models.tft import TemporalFusionTransformer

__all__ = ["ModelDims", "build_model", "count_parameters", "example_inputs"]


def build_model(cfg: ModelConfig, dims: ModelDims) -> nn.Module:
    """Instantiate on the current default device (use `torch.device("meta")` to size a
    model without allocating)."""
    params = cfg.model_dump(exclude={"family", "preset"})
    if isinstance(cfg, TFTConfig):
        return TemporalFusionTransformer(dims, **params)
    if isinstance(cfg, LSTMConfig):
        return LSTMForecaster(dims, **params)
    if isinstance(cfg, HybridConfig):
        return HybridForecaster(dims, **params)
    raise TypeError(f"unknown model config {type(cfg).__name__}")


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def example_inputs(
    dims: ModelDims, batch: int, encoder_length: int, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random (past, future, static) with the right shapes, for tests, export and benches."""
    gen = torch.Generator().manual_seed(seed)
    past = torch.randn(batch, encoder_length, dims.n_past, generator=gen)
    future = torch.randn(batch, dims.n_targets, dims.n_future, generator=gen)
    static = torch.randint(0, dims.n_symbols + 1, (batch,), generator=gen)
    return past, future, static
