"""Building blocks of the Temporal Fusion Transformer (Lim et al., 2021, section 4).

Shapes use B = batch, T = time steps, N = B * T rows, M = number of variables, D = hidden
size and d_var = `hidden_continuous_size`, the narrow per-variable width.
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
    "VariableMeanSkip",
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
    Returns (..., d_out). `skip` replaces the default skip (a linear map when d_in != d_out).
    """

    def __init__(
        self,
        d_in: int,
        d_hidden: int,
        d_out: int | None = None,
        dropout: float = 0.0,
        d_context: int | None = None,
        skip: nn.Module | None = None,
    ) -> None:
        super().__init__()
        d_out = d_out or d_in
        if skip is None:
            skip = nn.Linear(d_in, d_out) if d_in != d_out else nn.Identity()
        self.skip = skip
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
    """Per-variable linear projection of M real inputs to d_var = `hidden_continuous_size`
    each, laid out variable-major for `PerVariableGRN`: (B, T, M) -> (M, B * T, d_var).

    Equivalent to M separate nn.Linear(1, d_var) but one broadcast op. d_var is much narrower
    than the model width, so no (B, T, M, D) tensor is ever built.
    """

    def __init__(self, n_vars: int, d_var: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_vars, 1, d_var) / math.sqrt(d_var))
        self.bias = nn.Parameter(torch.zeros(n_vars, 1, d_var))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        columns = x.reshape(-1, x.shape[-1]).T.unsqueeze(-1)  # (M, N, 1)
        return torch.addcmul(self.bias, columns, self.weight)


class PerVariableGRN(nn.Module):
    """M independent GRNs (no context, d_in = d_hidden = d_out = d), one per variable, as
    batched matmuls instead of M small modules: same maths, far fewer kernel launches.

    x: (M, N, d) variable-major -> (M, N, d); variable j only ever uses its own weights.
    """

    def __init__(self, n_vars: int, d: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.d = d
        scale = 1.0 / math.sqrt(d)

        def weight() -> nn.Parameter:
            return nn.Parameter(torch.empty(n_vars, d, d).uniform_(-scale, scale))

        self.w_in, self.w_hidden, self.w_gate, self.w_value = (weight() for _ in range(4))
        self.b_in, self.b_hidden, self.b_gate, self.b_value = (
            nn.Parameter(torch.zeros(n_vars, 1, d)) for _ in range(4)
        )
        self.norm_weight = nn.Parameter(torch.ones(n_vars, 1, d))
        self.norm_bias = nn.Parameter(torch.zeros(n_vars, 1, d))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = F.elu(torch.baddbmm(self.b_in, x, self.w_in))
        hidden = self.dropout(torch.baddbmm(self.b_hidden, hidden, self.w_hidden))
        gate = torch.sigmoid(torch.baddbmm(self.b_gate, hidden, self.w_gate))
        glu = gate * torch.baddbmm(self.b_value, hidden, self.w_value)
        normed = F.layer_norm(x + glu, (self.d,))
        return torch.addcmul(self.norm_bias, normed, self.norm_weight)


class VariableMeanSkip(nn.Module):
    """Weight-free skip for the selection GRN: (..., M * d) -> (..., M), each variable's mean."""

    def __init__(self, n_vars: int) -> None:
        super().__init__()
        self.n_vars = n_vars

    def forward(self, flat: torch.Tensor) -> torch.Tensor:
        return flat.unflatten(-1, (self.n_vars, -1)).mean(-1)


class VariableSelectionNetwork(nn.Module):
    """Softmax weights over M variables from a GRN of their concatenated embeddings (with an
    optional static context), applied to each variable's own GRN output.

    Each variable is processed at its narrow width d_var and widened to D by its own linear
    map U_j after weighting: sum_j v_j (U_j g_j + c_j) is the paper's weighted sum of
    per-variable outputs, computed as one (N, M * d_var) @ (M * d_var, D) matmul, so the
    (B, T, M, D) stack of widened variables is never built. The selection GRN has hidden
    width min(D, M) and a weight-free skip (per-variable mean), as in the reference code.

    x: (M, B * T, d_var) from `VariableEmbedding`; lead = (B, T);
    context: (B, 1, d_context) or None.
    Returns (selected (B, T, D), weights (B, T, M) summing to 1 over M).
    """

    def __init__(
        self, n_vars: int, d_var: int, d_model: int, dropout: float, d_context: int | None
    ) -> None:
        super().__init__()
        self.n_vars = n_vars
        self.selector = (
            GatedResidualNetwork(
                n_vars * d_var,
                min(d_model, n_vars),
                n_vars,
                dropout,
                d_context=d_context,
                skip=VariableMeanSkip(n_vars),
            )
            if n_vars > 1
            else None  # one variable: its weight is 1, nothing to select
        )
        self.var_grns = PerVariableGRN(n_vars, d_var, dropout)
        bound = 1 / math.sqrt(d_var)  # nn.Linear's init for one variable's d_var inputs
        self.widen = nn.Parameter(torch.empty(n_vars * d_var, d_model).uniform_(-bound, bound))
        self.widen_bias = nn.Parameter(torch.zeros(n_vars, d_model))

    def forward(
        self, x: torch.Tensor, lead: tuple[int, ...], context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        m, n, d_var = x.shape
        if self.selector is None:
            weights = x.new_ones(*lead, 1)
        else:
            flat = x.permute(1, 0, 2).reshape(*lead, m * d_var)
            weights = torch.softmax(self.selector(flat, context), dim=-1)
        rows = weights.reshape(n, m)
        weighted = self.var_grns(x) * rows.T.unsqueeze(-1)  # (M, N, d_var)
        mixed = weighted.permute(1, 0, 2).reshape(n, m * d_var)
        selected = torch.addmm(rows @ self.widen_bias, mixed, self.widen)
        return selected.reshape(*lead, selected.shape[-1]), weights


class InterpretableMultiHeadAttention(nn.Module):
    """Multi-head attention with separate Q/K projections per head and ONE value projection
    shared by all heads; head outputs are averaged (not concatenated), so the averaged
    attention matrix is a faithful importance pattern over time (paper, eq. 14–16).

    q: (B, T_q, D) (the TFT sends only its decoder positions); k, v: (B, T, D);
    mask: (T_q, T) bool, True = blocked.
    Returns (out (B, T_q, D), attention (B, H, T_q, T), rows summing to 1).
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
