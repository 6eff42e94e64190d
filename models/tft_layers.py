"""Building blocks of the Temporal Fusion Transformer (Lim et al., 2021, section 4).

Shapes use B = batch, T = time steps, M = number of variables, D = hidden size.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from models.losses import masked_fill_min

__all__ = [
    "GateAddNorm",
    "GatedLinearUnit",
    "GatedResidualNetwork",
    "InterpretableMultiHeadAttention",
    "PerVariableGRN",
    "VariableEmbedding",
    "VariableSelectionNetwork",
]


class GatedLinearUnit(nn.Module):
    """GLU(x) = sigmoid(W4 x + b4) * (W5 x + b5): lets the network suppress a whole block."""

    def __init__(self, d_in: int, d_out: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.gate = nn.Linear(d_in, d_out)
        self.value = nn.Linear(d_in, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dropout(x)
        return torch.sigmoid(self.gate(x)) * self.value(x)


class GateAddNorm(nn.Module):
    """LayerNorm(skip + GLU(x)): the paper's gated skip connection."""

    def __init__(self, d_in: int, d_out: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.glu = GatedLinearUnit(d_in, d_out, dropout)
        self.norm = nn.LayerNorm(d_out)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.norm(skip + self.glu(x))


class GatedResidualNetwork(nn.Module):
    """GRN(a, c) = LayerNorm(skip(a) + GLU(W1 ELU(W2 a + W3 c + b2) + b1)).

    a: (..., d_in); optional context c: (..., d_context) broadcastable to a's leading dims.
    Returns (..., d_out).
    """

    def __init__(
        self,
        d_in: int,
        d_hidden: int,
        d_out: int | None = None,
        dropout: float = 0.0,
        d_context: int | None = None,
    ) -> None:
        super().__init__()
        d_out = d_out or d_in
        self.skip = nn.Linear(d_in, d_out) if d_in != d_out else nn.Identity()
        self.fc_in = nn.Linear(d_in, d_hidden)
        self.fc_context = nn.Linear(d_context, d_hidden, bias=False) if d_context else None
        self.fc_hidden = nn.Linear(d_hidden, d_hidden)
        self.gate_norm = GateAddNorm(d_hidden, d_out, dropout)

    def forward(self, a: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        hidden = self.fc_in(a)
        if context is not None and self.fc_context is not None:
            hidden = hidden + self.fc_context(context)
        hidden = self.fc_hidden(F.elu(hidden))
        return self.gate_norm(hidden, self.skip(a))


class VariableEmbedding(nn.Module):
    """Per-variable linear projection of M real inputs: (..., M) -> (..., M, D).

    Equivalent to M separate nn.Linear(1, D) but one batched op.
    """

    def __init__(self, n_vars: int, d_model: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_vars, d_model) / math.sqrt(d_model))
        self.bias = nn.Parameter(torch.zeros(n_vars, d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(-1) * self.weight + self.bias


class PerVariableGRN(nn.Module):
    """M independent GRNs (no context, d_in = d_out = D), one per variable, evaluated as
    batched matmuls instead of M small modules: same maths, far fewer kernel launches.

    x: (..., M, D) -> (..., M, D); variable j only ever uses its own weights.
    """

    def __init__(self, n_vars: int, d_model: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.d_model = d_model
        scale = 1.0 / math.sqrt(d_model)

        def weight() -> nn.Parameter:
            return nn.Parameter(torch.empty(n_vars, d_model, d_model).uniform_(-scale, scale))

        self.w_in, self.w_hidden, self.w_gate, self.w_value = (weight() for _ in range(4))
        self.b_in, self.b_hidden, self.b_gate, self.b_value = (
            nn.Parameter(torch.zeros(n_vars, d_model)) for _ in range(4)
        )
        self.norm_weight = nn.Parameter(torch.ones(n_vars, d_model))
        self.norm_bias = nn.Parameter(torch.zeros(n_vars, d_model))
        self.dropout = nn.Dropout(dropout)

    @staticmethod
    def _linear(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """(..., M, D) -> (..., M, E) with variable j using w[j] (M, D, E).

        Laid out as one (M, N, D) @ (M, D, E) bmm: a broadcast `x.unsqueeze(-2) @ w` would
        materialise w once per row and was ~20x slower on CPU."""
        lead, (m, d) = x.shape[:-2], x.shape[-2:]
        out = torch.bmm(x.reshape(-1, m, d).transpose(0, 1), w).transpose(0, 1)
        return out.reshape(*lead, m, w.shape[-1]) + b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self._linear(
            F.elu(self._linear(x, self.w_in, self.b_in)), self.w_hidden, self.b_hidden
        )
        hidden = self.dropout(hidden)
        glu = torch.sigmoid(self._linear(hidden, self.w_gate, self.b_gate)) * self._linear(
            hidden, self.w_value, self.b_value
        )
        normed = F.layer_norm(x + glu, (self.d_model,))
        return normed * self.norm_weight + self.norm_bias


class VariableSelectionNetwork(nn.Module):
    """Softmax weights over M embedded variables from a GRN of their concatenation (with an
    optional static context), applied to each variable's own GRN output.

    x: (..., M, D); context: (..., d_context) or None.
    Returns (selected (..., D), weights (..., M) summing to 1 over M).
    """

    def __init__(self, n_vars: int, d_model: int, dropout: float, d_context: int | None) -> None:
        super().__init__()
        self.n_vars = n_vars
        self.selector = GatedResidualNetwork(
            n_vars * d_model, d_model, n_vars, dropout, d_context=d_context
        )
        self.var_grns = PerVariableGRN(n_vars, d_model, dropout)

    def forward(
        self, x: torch.Tensor, context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        flat = x.flatten(start_dim=-2)
        weights = torch.softmax(self.selector(flat, context), dim=-1)
        processed = self.var_grns(x)
        return (weights.unsqueeze(-1) * processed).sum(dim=-2), weights


class InterpretableMultiHeadAttention(nn.Module):
    """Multi-head attention with separate Q/K projections per head and ONE value projection
    shared by all heads; head outputs are averaged (not concatenated), so the averaged
    attention matrix is a faithful importance pattern over time (paper, eq. 14–16).

    q, k, v: (B, T, D); mask: (T, T) bool, True = blocked.
    Returns (out (B, T, D), attention (B, H, T, T)).
    """

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.d_head = d_model // n_heads
        self.q_proj = nn.ModuleList(nn.Linear(d_model, self.d_head) for _ in range(n_heads))
        self.k_proj = nn.ModuleList(nn.Linear(d_model, self.d_head) for _ in range(n_heads))
        self.v_proj = nn.Linear(d_model, self.d_head)
        self.out_proj = nn.Linear(self.d_head, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        value = self.v_proj(v)
        heads, attns = [], []
        for q_proj, k_proj in zip(self.q_proj, self.k_proj, strict=True):
            scores = q_proj(q) @ k_proj(k).transpose(-2, -1) / math.sqrt(self.d_head)
            if mask is not None:
                scores = masked_fill_min(scores, mask)
            attn = self.dropout(torch.softmax(scores, dim=-1))
            heads.append(attn @ value)
            attns.append(attn)
        out = self.out_proj(torch.stack(heads, 0).mean(0))
        return self.dropout(out), torch.stack(attns, 1)
