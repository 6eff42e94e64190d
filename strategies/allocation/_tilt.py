"""Forecast tilt: lean base weights towards assets with a better risk-adjusted median."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["TiltResult", "forecast_tilt", "risk_adjusted_median"]

# Phi^-1(0.9): (q90 - q10) / (2 * 1.2816) is the sigma of a normal with those quantiles.
_Z90 = 1.2815515655446004


@dataclass(frozen=True, slots=True)
class TiltResult:
    """Tilted weights (N,), the multiplier per asset (1 = neutral) and why any was neutral."""

    weights: pd.Series
    multipliers: pd.Series
    neutral: dict[str, str] = field(default_factory=dict)


def risk_adjusted_median(forecasts: pd.DataFrame) -> pd.Series:
    """``q50 / ((q90 - q10) / (2 Phi^-1(0.9)))`` per row; NaN where the quantiles are unusable
    (missing, non-finite, or crossing: q10 < q50 < q90 must hold)."""
    return pd.Series(_scores(forecasts), index=forecasts.index)


def _scores(forecasts: pd.DataFrame) -> np.ndarray:
    """`risk_adjusted_median` as an array (N,)."""
    q10, q50, q90 = (forecasts[c].to_numpy(dtype=float) for c in ("q10", "q50", "q90"))
    ok = np.isfinite(q10) & np.isfinite(q50) & np.isfinite(q90) & (q10 < q50) & (q50 < q90)
    with np.errstate(divide="ignore", invalid="ignore"):  # the unusable rows become NaN
        return np.where(ok, q50 / ((q90 - q10) / (2.0 * _Z90)), np.nan)


def forecast_tilt(
    weights: pd.Series, forecasts: pd.DataFrame | None, *, strength: float, cap: float
) -> TiltResult:
    """Tilt `weights` (N,) by per-symbol quantile `forecasts` (rows: symbols, q10/q50/q90).

    ``w_i * exp(strength * clip(score_i, -cap, cap))`` renormalised to the original total,
    with score the risk-adjusted median. No forecast frame, or no usable row for a symbol,
    gives multiplier 1 for it.
    """
    multipliers = np.ones(len(weights))
    neutral: dict[str, str] = {}
    if forecasts is None or strength == 0 or weights.empty:
        return TiltResult(weights.copy(), pd.Series(multipliers, index=weights.index), neutral)
    missing = [c for c in ("q10", "q50", "q90") if c not in forecasts.columns]
    if missing:
        reason = f"forecast_columns_missing ({', '.join(missing)})"
        return TiltResult(
            weights.copy(), pd.Series(multipliers, index=weights.index), dict.fromkeys(map(str, weights.index), reason)
        )
    forecasts = forecasts[~forecasts.index.duplicated(keep="last")]
    scores = _scores(forecasts.reindex(weights.index))
    for symbol, score in zip(weights.index, scores, strict=True):
        if symbol not in forecasts.index:
            neutral[str(symbol)] = "no_forecast"
        elif not np.isfinite(score):
            neutral[str(symbol)] = "forecast_unusable (non-finite or crossing quantiles)"
    usable = ~np.isnan(scores)
    multipliers[usable] = np.exp(strength * np.clip(scores[usable], -cap, cap))
    base = weights.to_numpy(dtype=float)
    tilted = base * multipliers
    total, new_total = float(base.sum()), float(tilted.sum())
    if new_total > 0:
        tilted = tilted * (total / new_total)
    return TiltResult(pd.Series(tilted, index=weights.index), pd.Series(multipliers, index=weights.index), neutral)
