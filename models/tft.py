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
    attention: torch.Tensor  # (B, H, K, S): decoder queries over all positions, causal
    past_weights: torch.Tensor  # (B, L, F_past), rows sum to 1
    future_weights: torch.Tensor  # (B, K, F_future), rows sum to 1
    static_weights: torch.Tensor  # (B, 1): one static variable (the symbol)
    temporal: torch.Tensor  # (B, S, D) gated LSTM-stage output: attention keys and values


class TemporalFusionTransformer(nn.Module):
    """`hidden_continuous_size` is the per-variable width (the paper's and the reference
    implementation's narrow real-input embeddings): variables are embedded, gated and
    weighted at that width and widened to `hidden_size` only after selection. Attention and
    everything after it run on the K decoder positions only, as in the paper (eq. 14+)."""

    def __init__(
        self,
        dims: ModelDims,
        hidden_size: int = 64,
        num_heads: int = 4,
        lstm_layers: int = 2,
        dropout: float = 0.1,
        hidden_continuous_size: int = 8,
    ) -> None:
        super().__init__()
        d, d_var = hidden_size, hidden_continuous_size
        self.grad_checkpointing = False
        # Input embeddings: categorical static, narrow per-variable projections for reals.
        self.symbol_embedding = nn.Embedding(dims.n_symbols + 1, d)
        self.past_embedding = VariableEmbedding(dims.n_past, d_var)
        self.future_embedding = VariableEmbedding(dims.n_future, d_var)
        # Variable selection (static has no context; temporal ones use c_s).
        self.static_vsn = VariableSelectionNetwork(1, d, d, dropout, d_context=None)
        self.past_vsn = VariableSelectionNetwork(dims.n_past, d_var, d, dropout, d_context=d)
        self.future_vsn = VariableSelectionNetwork(dims.n_future, d_var, d, dropout, d_context=d)
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
        self,
        past: torch.Tensor,
        future: torch.Tensor,
        static: torch.Tensor,
        selected_past: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        return self.forward_with_interpretation(past, future, static, selected_past).quantiles

    def select_past(
        self, past: torch.Tensor, static: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The per-time-step stage: embedding and variable selection of the observed inputs,
        (B, T, F_past) -> (selected (B, T, D), weights (B, T, F_past)). Row t depends only on
        past[:, t] and the symbol, so a server may compute it once per bar and pass it back
        as `selected_past` (`models.forecaster.SelectedPastMemo`)."""
        static_emb, _ = self._static_selection(static)
        return self._select_past(past, self.static_contexts[0](static_emb))

    def forward_with_interpretation(
        self,
        past: torch.Tensor,
        future: torch.Tensor,
        static: torch.Tensor,
        selected_past: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> TFTOutput:
        """`selected_past`: `select_past(past, static)` computed beforehand, or None."""
        n_layers = self.encoder.num_layers
        b, n_future = past.shape[0], future.shape[1]
        static_emb, static_w = self._static_selection(static)
        c_s, c_e, c_h, c_c = (grn(static_emb) for grn in self.static_contexts)

        past_sel, past_w = self._select_past(past, c_s) if selected_past is None else selected_past
        fut_sel, fut_w = self.future_vsn(
            self.future_embedding(future), (b, n_future), c_s.unsqueeze(1)
        )

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
            x, attn = checkpoint(
                self._attention_block, temporal, c_e, n_future, use_reentrant=False
            )
        else:
            x, attn = self._attention_block(temporal, c_e, n_future)
        raw = self.head(x)
        return TFTOutput(monotone_quantiles(raw), attn, past_w, fut_w, static_w, temporal)

    def _select_past(self, past: torch.Tensor, c_s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`select_past` given the static selection context c_s (B, D)."""
        return self.past_vsn(self.past_embedding(past), past.shape[:2], c_s.unsqueeze(1))

    def _static_selection(self, static: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B,) symbol ids -> (static embedding (B, D), its selection weight (B, 1))."""
        symbol = self.symbol_embedding(static).unsqueeze(0)  # (1 variable, B, D)
        return self.static_vsn(symbol, (static.shape[0],))

    def _attention_block(
        self, temporal: torch.Tensor, c_e: torch.Tensor, n_queries: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Static enrichment, causal interpretable attention with the last `n_queries`
        (decoder) positions as queries, position-wise GRN on those positions only.
        temporal: (B, S, D), c_e: (B, D) -> ((B, K, D), (B, H, K, S))."""
        enriched = self.enrichment(temporal, c_e.unsqueeze(1))
        queries = enriched[:, -n_queries:]
        mask = causal_mask(temporal.shape[1], temporal.device, queries=n_queries)
        attn_out, attn = self.attention(queries, enriched, enriched, mask)
        x = self.positionwise(self.attention_gate(attn_out, queries))
        # Final gate skips over the whole attention block back to the LSTM-stage output.
        return self.output_gate(x, temporal[:, -n_queries:]), attn
