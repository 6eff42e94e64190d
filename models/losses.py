"""Quantile (pinball) loss, non-crossing quantile outputs and dtype-safe attention masks.

Pure tensor functions: no state, no I/O.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["causal_mask", "masked_fill_min", "monotone_quantiles", "pinball_loss"]


def pinball_loss(
    pred: torch.Tensor, target: torch.Tensor, quantiles: torch.Tensor | tuple[float, ...]
) -> torch.Tensor:
    """Mean pinball loss over every element.

    pred: (..., Q) quantile forecasts; target: (...) observed values; quantiles: (Q,) levels.
    Computed in float32 even under bf16 autocast, because the per-element losses are small
    and a bf16 mean over a large batch loses most of its digits.
    """
    q = torch.as_tensor(quantiles, dtype=torch.float32, device=pred.device)
    err = target.float().unsqueeze(-1) - pred.float()
    return torch.maximum(q * err, (q - 1.0) * err).mean()


def monotone_quantiles(raw: torch.Tensor) -> torch.Tensor:
    """Map unconstrained head outputs to non-crossing quantiles.

    raw: (..., Q). Output (..., Q) with out[..., 0] = raw[..., 0] and each next quantile the
    previous plus softplus(raw[..., i]) > 0, so quantiles never cross by construction (no
    sort needed, gradients flow to every output).
    """
    if raw.shape[-1] == 1:
        return raw
    steps = F.softplus(raw[..., 1:])
    return torch.cat([raw[..., :1], raw[..., :1] + torch.cumsum(steps, dim=-1)], dim=-1)


def causal_mask(
    size: int, device: torch.device | None = None, queries: int | None = None
) -> torch.Tensor:
    """(size, size) bool mask, True where position i must not see position j > i.

    With `queries`, only the last `queries` positions ask: (queries, size), row r standing
    for position size - queries + r (the TFT's decoder-only attention)."""
    mask = torch.ones(size, size, dtype=torch.bool, device=device).triu(1)
    return mask if queries is None else mask[size - queries :]


def masked_fill_min(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Fill masked attention scores with the dtype's most negative finite value.

    A literal like -1e9 overflows to -inf in fp16 (max 65504) and a fully masked row then
    softmaxes to NaN; finfo(dtype).min stays finite in fp32, bf16 and fp16 alike.
    """
    return scores.masked_fill(mask, torch.finfo(scores.dtype).min)
