"""Multi-target quantile head shared by the LSTM and hybrid families."""

from __future__ import annotations

import torch
from torch import nn

from models.dims import ModelDims
from models.losses import monotone_quantiles

__all__ = ["MultiTargetQuantileHead"]


class MultiTargetQuantileHead(nn.Module):
    """Fully connected quantile head, one output row per target slot.

    Each slot sees the sequence summary, the symbol embedding and that slot's known-future
    inputs (horizon length, calendar at the target date), so one set of weights serves all
    horizons while still telling them apart.

    context: (B, D); future: (B, K, F_future); static: (B,) int64 -> (B, K, Q) non-crossing.
    """

    def __init__(self, d_context: int, dims: ModelDims, d_hidden: int) -> None:
        super().__init__()
        d_symbol = max(4, d_hidden // 4)
        self.symbol_embedding = nn.Embedding(dims.n_symbols + 1, d_symbol)
        self.mlp = nn.Sequential(
            nn.Linear(d_context + d_symbol + dims.n_future, d_hidden),
            nn.GELU(),
            nn.Linear(d_hidden, dims.n_quantiles),
        )

    def forward(
        self, context: torch.Tensor, future: torch.Tensor, static: torch.Tensor
    ) -> torch.Tensor:
        k = future.shape[1]
        per_slot = torch.cat(
            [
                context.unsqueeze(1).expand(-1, k, -1),
                self.symbol_embedding(static).unsqueeze(1).expand(-1, k, -1),
                future,
            ],
            dim=-1,
        )
        return monotone_quantiles(self.mlp(per_slot))
