"""Long-only mean-variance through pypfopt's ``EfficientFrontier`` (cvxpy underneath)."""

from __future__ import annotations

from collections.abc import Mapping

import cvxpy as cp
import numpy as np
import pandas as pd
from pypfopt import EfficientFrontier, expected_returns, objective_functions

from strategies.allocation._covariance import CovarianceMethod, estimate_covariance

__all__ = ["MeanVarianceAllocator"]


class MeanVarianceAllocator:
    """Mean-variance weights with per-asset bounds, sector limits and turnover control.

    Parameters
    ----------
    objective : "max_sharpe" | "min_volatility" | "efficient_risk" | "efficient_return".
    target_volatility, target_return : annualised targets for the efficient_* objectives.
    weight_bounds : (lower, upper) for every asset; `asset_bounds` overrides per symbol.
    max_weight : extra cap on every upper bound (the risk limit, so the optimiser sees it).
    sector_map, sector_lower, sector_upper : pypfopt sector constraints.
    turnover_penalty : k in the objective term ``k * |w - w_current|_1``.
    turnover_limit : constraint ``|w - w_current|_1 <= limit``.

    Attributes
    ----------
    weights_ : pd.Series, shape (N,), sum 1, in the column order of the fitted returns.
    """

    def __init__(
        self,
        objective: str = "min_volatility",
        *,
        covariance: CovarianceMethod = "sample",
        target_volatility: float | None = None,
        target_return: float | None = None,
        risk_free_rate: float = 0.0,
        weight_bounds: tuple[float, float] = (0.0, 1.0),
        asset_bounds: Mapping[str, tuple[float, float]] | None = None,
        max_weight: float = 1.0,
        sector_map: Mapping[str, str] | None = None,
        sector_lower: Mapping[str, float] | None = None,
        sector_upper: Mapping[str, float] | None = None,
        turnover_penalty: float = 0.0,
        turnover_limit: float | None = None,
        frequency: int = 252,
    ):
        self.objective = objective
        self.covariance = covariance
        self.target_volatility = target_volatility
        self.target_return = target_return
        self.risk_free_rate = risk_free_rate
        self.weight_bounds = weight_bounds
        self.asset_bounds = asset_bounds
        self.max_weight = max_weight
        self.sector_map = sector_map
        self.sector_lower = sector_lower
        self.sector_upper = sector_upper
        self.turnover_penalty = turnover_penalty
        self.turnover_limit = turnover_limit
        self.frequency = frequency

    def bounds_for(self, symbols: list[str]) -> list[tuple[float, float]]:
        """Per-symbol (lower, upper), the upper one capped at `max_weight`."""
        overrides = self.asset_bounds or {}
        out = []
        for s in symbols:
            lower, upper = overrides.get(s, self.weight_bounds)
            out.append((lower, min(upper, self.max_weight)))
        return out

    def fit(
        self, returns: pd.DataFrame, current_weights: pd.Series | None = None
    ) -> MeanVarianceAllocator:
        """Fit on complete daily returns (T x N). Raises pypfopt/cvxpy errors when the
        problem is infeasible or the solver fails; the caller decides the fallback."""
        symbols = list(returns.columns)
        bounds = self.bounds_for(symbols)
        if sum(upper for _, upper in bounds) < 1.0 or sum(lo for lo, _ in bounds) > 1.0:
            raise ValueError("weight bounds cannot sum to 1")
        mu = expected_returns.mean_historical_return(
            returns, returns_data=True, frequency=self.frequency
        )
        cov = estimate_covariance(returns, self.covariance, self.frequency)
        ef = EfficientFrontier(mu, cov, weight_bounds=bounds)
        if self.sector_map:
            ef.add_sector_constraints(
                dict(self.sector_map), dict(self.sector_lower or {}), dict(self.sector_upper or {})
            )
        previous = _full_investment(current_weights, symbols)
        if previous is not None and self.turnover_penalty > 0:
            ef.add_objective(
                objective_functions.transaction_cost, w_prev=previous, k=self.turnover_penalty
            )
        if previous is not None and self.turnover_limit is not None:
            limit = self.turnover_limit
            ef.add_constraint(lambda w: cp.norm(w - previous, 1) <= limit)
        if self.objective == "max_sharpe":
            ef.max_sharpe(risk_free_rate=self.risk_free_rate)
        elif self.objective == "min_volatility":
            ef.min_volatility()
        elif self.objective == "efficient_risk":
            ef.efficient_risk(self.target_volatility)
        else:
            ef.efficient_return(float(self.target_return))
        weights = pd.Series(ef.weights, index=symbols, dtype=float).clip(lower=0.0)
        if not np.isfinite(weights.to_numpy()).all() or weights.sum() <= 0:
            raise ValueError("mean-variance produced no usable weights")
        self.weights_ = weights / weights.sum()
        return self


def _full_investment(current: pd.Series | None, symbols: list[str]) -> np.ndarray | None:
    """Current weights on `symbols`, rescaled to sum 1 so a vol-target scale-down or cash
    held for risk reasons does not count as turnover; None when nothing is held (the first
    allocation is not turnover to control)."""
    if current is None:
        return None
    w = current.reindex(symbols).fillna(0.0).clip(lower=0.0).to_numpy(dtype=float)
    total = w.sum()
    return w / total if total > 0 else None
