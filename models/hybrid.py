"""CNN-LSTM-Transformer hybrid: causal Conv1D blocks -> LSTM -> causal Transformer encoder
-> quantile head on the last position. Sized by `HybridConfig` from `tiny` to `500m`.

Inputs: past (B, L, F_past), future (B, K, F_future), static (B,) int64 -> (B, K, Q).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from models.dims import ModelDims
from models.heads import MultiTargetQuantileHead
from models.losses import causal_mask

__all__ = ["CausalConvBlock", "HybridForecaster"]


class CausalConvBlock(nn.Module):
    """Residual Conv1D with left padding only, so step t sees steps <= t. (B, L, D) -> same."""

    def __init__(self, d_model: int, kernel_size: int, dropout: float) -> None:
        super().__init__()
        self.pad = kernel_size - 1
        self.conv = nn.Conv1d(d_model, d_model, kernel_size)
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(F.pad(x.transpose(1, 2), (self.pad, 0))).transpose(1, 2)
        return self.norm(x + self.dropout(F.gelu(y)))


class HybridForecaster(nn.Module):
    def __init__(
        self,
        dims: ModelDims,
        d_model: int = 16,
        conv_blocks: int = 3,
        kernel_size: int = 3,
        lstm_layers: int = 2,
        transformer_layers: int = 4,
        num_heads: int = 2,
        ff_mult: int = 4,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.grad_checkpointing = False
        self.input_proj = nn.Linear(dims.n_past, d_model)
        self.convs = nn.ModuleList(
            CausalConvBlock(d_model, kernel_size, dropout) for _ in range(conv_blocks)
        )
        self.lstm = nn.LSTM(d_model, d_model, lstm_layers, batch_first=True, dropout=dropout)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(
                d_model,
                num_heads,
                d_model * ff_mult,
                dropout,
                activation="gelu",
                batch_first=True,
                norm_first=True,
            )
            for _ in range(transformer_layers)
        )
        self.norm = nn.LayerNorm(d_model)
        self.head = MultiTargetQuantileHead(d_model, dims, d_model)

    def _maybe_checkpoint(self, fn, *args):
        if self.grad_checkpointing and self.training:
            return checkpoint(fn, *args, use_reentrant=False)
        return fn(*args)

    def encode(self, past: torch.Tensor) -> torch.Tensor:
        """Per-step representation (B, L, D); step t depends only on steps <= t."""
        x = self.input_proj(past)
        for conv in self.convs:
            x = self._maybe_checkpoint(conv, x)
        x = self._maybe_checkpoint(lambda t: self.lstm(t)[0], x)
        mask = causal_mask(x.shape[1], x.device)
        for layer in self.layers:
            x = self._maybe_checkpoint(lambda t, m=mask, f=layer: f(t, src_mask=m), x)
        return self.norm(x)

    def forward(
        self, past: torch.Tensor, future: torch.Tensor, static: torch.Tensor
    ) -> torch.Tensor:
        return self.head(self.encode(past)[:, -1], future, static)
