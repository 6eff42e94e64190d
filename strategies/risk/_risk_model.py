"""Forecast risk of a long-only book: GARCH vols joined with a correlation estimate."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from strategies.risk._measures import (
    TailRisk,
    historical_scenarios,
    monte_carlo_scenarios,
    parametric_var_cvar,
    scenario_var_cvar,
)
from strategies.risk.config import VaRConfig

__all__ = ["RiskModel", "build_risk_model", "correlation"]


def correlation(returns: np.ndarray) -> np.ndarray:
    """Sample correlation of complete rows, shape (N, N) from (T, N).

    A column without variation gets zero correlation with the others (it carries no
    co-movement information) instead of NaN; the diagonal is exactly 1.
    """
    x = np.asarray(returns, dtype=float)
    x = x - x.mean(axis=0)
    std = np.sqrt((x**2).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(std > 0, x / std, 0.0)
    corr = np.clip(z.T @ z, -1.0, 1.0)
    np.fill_diagonal(corr, 1.0)
    return corr


@dataclass(frozen=True, slots=True)
class RiskModel:
    """What the limit step needs to price a weight vector.

    cov: (N, N) one-day forecast covariance, ``diag(vol) corr diag(vol)``.
    mean: (N,) one-day mean returns (sample), used by the parametric VaR.
    scenarios: (S, N) return scenarios for historical / Monte Carlo VaR; None: parametric.
    """

    cov: np.ndarray
    mean: np.ndarray
    scenarios: np.ndarray | None
    confidence: float
    periods_per_year: int

    def vol(self, weights: np.ndarray) -> float:
        """Annualised forecast volatility of `weights` (shape (N,))."""
        return float(np.sqrt(max(weights @ self.cov @ weights, 0.0) * self.periods_per_year))

    def tail(self, weights: np.ndarray) -> TailRisk:
        """One-day VaR and CVaR of `weights` (shape (N,))."""
        if self.scenarios is None:
            daily_vol = np.sqrt(max(weights @ self.cov @ weights, 0.0))
            return parametric_var_cvar(float(weights @ self.mean), daily_vol, self.confidence)
        if self.scenarios.shape[0] == 0:
            return TailRisk(0.0, 0.0)
        return scenario_var_cvar(self.scenarios, weights, self.confidence)


def build_risk_model(
    daily_vol: np.ndarray,
    window: np.ndarray,
    history: np.ndarray,
    var: VaRConfig,
    periods_per_year: int = 252,
) -> RiskModel:
    """Risk model from per-asset one-day vols and past returns.

    daily_vol: (N,) decimal one-day vol forecasts. window: (T, N) complete returns for the
    correlation and mean. history: (H, N) returns for historical scenarios (NaN rows dropped).
    `var` picks the VaR method and its settings.
    """
    corr = correlation(window)
    cov = daily_vol[:, None] * corr * daily_vol[None, :]
    mean = np.asarray(window, dtype=float).mean(axis=0)
    if var.method == "historical":
        scenarios = historical_scenarios(history, var.lookback)
    elif var.method == "monte_carlo":
        scenarios = monte_carlo_scenarios(mean, cov, var.n_sims, var.seed)
    else:
        scenarios = None
    return RiskModel(cov, mean, scenarios, var.confidence, periods_per_year)
