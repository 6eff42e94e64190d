"""Temporal Fusion Transformer forecaster (Lim et al., 2021).

Inputs (shared by every model family, see `models.factory`):
    past:   (B, L, F_past)   observed features over the encoder window, last row = decision time
    future: (B, K, F_future) known-future inputs, one decoder slot per target
    static: (B,) int64       symbol id (0 = unknown symbol)
Output: (B, K, Q) non-crossing quantiles, one row per target slot.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from models.dims import ModelDims
from models.losses import causal_mask, monotone_quantiles
from models.tft_layers import (
    GateAddNorm,
    GatedResidualNetwork,
    InterpretableMultiHeadAttention,
    VariableEmbedding,
    VariableSelectionNetwork,
)

__all__ = ["TFTOutput", "TemporalFusionTransformer"]


@dataclass(frozen=True, slots=True)
class TFTOutput:
    """Forecast plus the paper's interpretability outputs. S = L + K positions."""

    quantiles: torch.Tensor  # (B, K, Q)
    attention: torch.Tensor  # (B, H, S, S), causal: zero above the diagonal
    past_weights: torch.Tensor  # (B, L, F_past), rows sum to 1
    future_weights: torch.Tensor  # (B, K, F_future), rows sum to 1
    static_weights: torch.Tensor  # (B, 1): one static variable (the symbol)
    temporal: torch.Tensor  # (B, S, D) per-position representation before the head


class TemporalFusionTransformer(nn.Module):
    def __init__(
        self,
        dims: ModelDims,
        hidden_size: int = 64,
        num_heads: int = 4,
        lstm_layers: int = 2,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        d = hidden_size
        self.grad_checkpointing = False
        # Input embeddings: categorical static, per-variable projections for reals.
        self.symbol_embedding = nn.Embedding(dims.n_symbols + 1, d)
        self.past_embedding = VariableEmbedding(dims.n_past, d)
        self.future_embedding = VariableEmbedding(dims.n_future, d)
        # Variable selection (static has no context; temporal ones use c_s).
        self.static_vsn = VariableSelectionNetwork(1, d, dropout, d_context=None)
        self.past_vsn = VariableSelectionNetwork(dims.n_past, d, dropout, d_context=d)
        self.future_vsn = VariableSelectionNetwork(dims.n_future, d, dropout, d_context=d)
        # Static covariate encoders -> c_s (selection), c_e (enrichment), c_h, c_c (LSTM).
        self.static_contexts = nn.ModuleList(
            GatedResidualNetwork(d, d, d, dropout) for _ in range(4)
        )
        lstm_dropout = dropout if lstm_layers > 1 else 0.0
        self.encoder = nn.LSTM(d, d, lstm_layers, batch_first=True, dropout=lstm_dropout)
        self.decoder = nn.LSTM(d, d, lstm_layers, batch_first=True, dropout=lstm_dropout)
        self.lstm_gate = GateAddNorm(d, d, dropout)
        self.enrichment = GatedResidualNetwork(d, d, d, dropout, d_context=d)
        self.attention = InterpretableMultiHeadAttention(d, num_heads, dropout)
        self.attention_gate = GateAddNorm(d, d, dropout)
        self.positionwise = GatedResidualNetwork(d, d, d, dropout)
        self.output_gate = GateAddNorm(d, d, 0.0)
        self.head = nn.Linear(d, dims.n_quantiles)

    def forward(
        self, past: torch.Tensor, future: torch.Tensor, static: torch.Tensor
    ) -> torch.Tensor:
        return self.forward_with_interpretation(past, future, static).quantiles

    def forward_with_interpretation(
        self, past: torch.Tensor, future: torch.Tensor, static: torch.Tensor
    ) -> TFTOutput:
        n_layers = self.encoder.num_layers
        static_emb, static_w = self.static_vsn(self.symbol_embedding(static).unsqueeze(1))
        c_s, c_e, c_h, c_c = (grn(static_emb) for grn in self.static_contexts)

        past_sel, past_w = self.past_vsn(self.past_embedding(past), c_s.unsqueeze(1))
        fut_sel, fut_w = self.future_vsn(self.future_embedding(future), c_s.unsqueeze(1))

        state = (
            c_h.unsqueeze(0).expand(n_layers, -1, -1).contiguous(),
            c_c.unsqueeze(0).expand(n_layers, -1, -1).contiguous(),
        )
        enc_out, state = self.encoder(past_sel, state)
        dec_out, _ = self.decoder(fut_sel, state)
        temporal = self.lstm_gate(
            torch.cat([enc_out, dec_out], 1), torch.cat([past_sel, fut_sel], 1)
        )
        if self.grad_checkpointing and self.training:
            x, attn = checkpoint(self._attention_block, temporal, c_e, use_reentrant=False)
        else:
            x, attn = self._attention_block(temporal, c_e)
        raw = self.head(x[:, past.shape[1] :])
        return TFTOutput(monotone_quantiles(raw), attn, past_w, fut_w, static_w, x)

    def _attention_block(
        self, temporal: torch.Tensor, c_e: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Static enrichment, causal interpretable attention, position-wise GRN.
        temporal: (B, S, D), c_e: (B, D) -> ((B, S, D), (B, H, S, S))."""
        enriched = self.enrichment(temporal, c_e.unsqueeze(1))
        mask = causal_mask(temporal.shape[1], temporal.device)
        attn_out, attn = self.attention(enriched, enriched, enriched, mask)
        x = self.positionwise(self.attention_gate(attn_out, enriched))
        # Final gate skips over the whole attention block back to the LSTM-stage output.
        return self.output_gate(x, temporal), attn
