"""LSTM baselines: vanilla, stacked and bidirectional, with a fully connected quantile head.

The bidirectional variant reads only the encoder window (rows <= decision time), so running
it backwards inside the window cannot leak the future.

Inputs: past (B, L, F_past), future (B, K, F_future), static (B,) int64 -> (B, K, Q).
"""

from __future__ import annotations

import torch
from torch import nn

from models.dims import ModelDims
from models.heads import MultiTargetQuantileHead

__all__ = ["LSTMForecaster"]


class LSTMForecaster(nn.Module):
    def __init__(
        self,
        dims: ModelDims,
        variant: str = "stacked",
        hidden_size: int = 64,
        num_layers: int = 2,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.bidirectional = variant == "bidirectional"
        self.grad_checkpointing = False  # accepted for a uniform API; LSTMs here are small
        self.lstm = nn.LSTM(
            dims.n_past,
            hidden_size,
            num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
            bidirectional=self.bidirectional,
        )
        d_context = hidden_size * (2 if self.bidirectional else 1)
        self.dropout = nn.Dropout(dropout)
        self.head = MultiTargetQuantileHead(d_context, dims, hidden_size)

    def encode(self, past: torch.Tensor) -> torch.Tensor:
        """Per-step outputs (B, L, D·dirs); causal in time only when unidirectional."""
        return self.lstm(past)[0]

    def forward(
        self, past: torch.Tensor, future: torch.Tensor, static: torch.Tensor
    ) -> torch.Tensor:
        _, (h_n, _) = self.lstm(past)
        # Last layer's final state; for bidirectional, forward (read up to t) and backward
        # (read from t back to the window start) halves.
        context = torch.cat([h_n[-2], h_n[-1]], -1) if self.bidirectional else h_n[-1]
        return self.head(self.dropout(context), future, static)
