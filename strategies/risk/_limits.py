"""Portfolio limits: per-asset caps, exposure scaling to vol/VaR/CVaR/gross, trade filters.

Pure functions over weight vectors of shape (N,) aligned with a `RiskModel`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.events import Bound
from strategies.risk._risk_model import RiskModel

__all__ = [
    "Limits",
    "ScaledWeights",
    "apply_trade_filters",
    "cap_weights",
    "clamp_to_caps",
    "scale_to_limits",
    "violations",
]

# Scaling multiplies by slightly less than the exact ratio so that rounding in the
# product can never leave a limit exceeded by one ulp.
_MARGIN = 1e-12
# A limit whose scale is this close to 1 is reported as not binding.
_BINDING = 1e-9


@dataclass(frozen=True, slots=True)
class Limits:
    """Ceilings on a long-only book; None switches a tail limit off."""

    target_vol: float
    max_gross: float
    max_weight: float
    max_var: float | None = None
    max_cvar: float | None = None


@dataclass(frozen=True, slots=True)
class ScaledWeights:
    """Weights after scaling (N,), the scale applied and the limit that set it."""

    weights: np.ndarray
    scale: float
    bound: Bound


def cap_weights(weights: np.ndarray, cap: float) -> np.ndarray:
    """Cap each weight at `cap` and hand the excess to the uncapped ones, pro rata.

    The total is kept when ``N * cap >= total``; otherwise every positive weight ends at the
    cap and the rest stays in cash. Zero weights stay zero.
    """
    w = np.clip(np.asarray(weights, dtype=float), 0.0, None)
    for _ in range(w.shape[0]):
        over = w > cap
        if not over.any():
            break
        excess = float((w[over] - cap).sum())
        w[over] = cap
        free = (w > 0) & (w < cap)
        if not free.any():
            break
        w[free] += excess * (w[free] / w[free].sum())  # share first: no underflow
    return np.minimum(w, cap)


def clamp_to_caps(weights: np.ndarray, max_weight: float, max_gross: float) -> np.ndarray:
    """Last line of defence: finite, >= 0, <= max_weight, sum <= max_gross, exactly."""
    w = np.nan_to_num(np.asarray(weights, dtype=float), nan=0.0, posinf=0.0, neginf=0.0)
    w = np.clip(w, 0.0, max_weight)
    total = w.sum()
    if total > max_gross:
        w = w * (max_gross / total * (1.0 - _MARGIN))
    while w.sum() > max_gross:  # pragma: no cover - only on adversarial rounding
        w = np.nextafter(w, 0.0)
    return w


def _limit_scales(weights: np.ndarray, model: RiskModel, limits: Limits) -> dict[Bound, float]:
    """How far each limit lets the exposure scale (inf: not constraining)."""
    scales: dict[Bound, float] = {"target_vol": np.inf, "max_var": np.inf, "max_cvar": np.inf, "max_gross": np.inf}
    vol = model.vol(weights)
    if vol > 0:
        scales["target_vol"] = limits.target_vol / vol
    if limits.max_var is not None or limits.max_cvar is not None:
        tail = model.tail(weights)
        if limits.max_var is not None and tail.var > 0:
            scales["max_var"] = limits.max_var / tail.var
        if limits.max_cvar is not None and tail.cvar > 0:
            scales["max_cvar"] = limits.max_cvar / tail.cvar
    gross = float(weights.sum())
    if gross > 0:
        scales["max_gross"] = limits.max_gross / gross
    return scales


def scale_to_limits(weights: np.ndarray, model: RiskModel, limits: Limits) -> ScaledWeights:
    """Scale `weights` down (never up) until every limit holds.

    Vol, VaR, CVaR and gross are all positively homogeneous, so the largest admissible
    scale is the smallest ratio limit/measure, capped at 1.
    """
    w = np.asarray(weights, dtype=float)
    scales = _limit_scales(w, model, limits)
    bound, scale = min(scales.items(), key=lambda item: item[1])
    if scale >= 1.0:
        return ScaledWeights(w.copy(), 1.0, "none")
    scale *= 1.0 - _MARGIN
    return ScaledWeights(w * scale, float(scale), bound if scale < 1.0 - _BINDING else "none")


def violations(weights: np.ndarray, model: RiskModel, limits: Limits) -> list[str]:
    """Names of the limits `weights` breaks (empty when all hold)."""
    w = np.asarray(weights, dtype=float)
    broken = []
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        return ["finite_long_only"]
    if np.any(w > limits.max_weight):
        broken.append("max_weight")
    if w.sum() > limits.max_gross:
        broken.append("max_gross")
    if model.vol(w) > limits.target_vol + 1e-9:
        broken.append("target_vol")
    if limits.max_var is not None or limits.max_cvar is not None:
        tail = model.tail(w)
        if limits.max_var is not None and tail.var > limits.max_var * (1 + 1e-9):
            broken.append("max_var")
        if limits.max_cvar is not None and tail.cvar > limits.max_cvar * (1 + 1e-9):
            broken.append("max_cvar")
    return broken


def apply_trade_filters(
    target: np.ndarray,
    current: np.ndarray,
    *,
    min_trade: float,
    band: float = 0.0,
    forced: np.ndarray | None = None,
    skip_small_sells: bool = True,
) -> np.ndarray:
    """Keep current weights where trading is not worth it.

    * rebalance band: while every change is below `band`, nothing trades at all;
    * minimum trade: a single change below `min_trade` is skipped; with
      `skip_small_sells` False only small buys are skipped, so no kept weight exceeds its
      target (the fallback when keeping small sells would break a risk limit).
    Entries marked in `forced` (shape (N,) bool, e.g. excluded assets) always trade.
    """
    target = np.asarray(target, dtype=float)
    current = np.asarray(current, dtype=float)
    forced = np.zeros(target.shape, dtype=bool) if forced is None else forced
    change = np.abs(target - current)
    if band > 0 and np.all(change[~forced] < band):
        return np.where(forced, target, current)
    skip = ~forced & (change < min_trade)
    if not skip_small_sells:
        skip &= current <= target
    return np.where(skip, current, target)
