"""One-day VaR and CVaR of a long-only portfolio: historical, parametric normal, Monte Carlo.

All three are positively homogeneous in the weights (``VaR(s w) = s VaR(w)`` for s >= 0),
which is what lets the limit step meet a VaR/CVaR ceiling with one exact scale instead of a
search. Losses are positive numbers (0.02 = a 2% one-day loss).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm
from skfolio.measures import cvar, value_at_risk

__all__ = [
    "TailRisk",
    "historical_scenarios",
    "monte_carlo_scenarios",
    "parametric_var_cvar",
    "scenario_var_cvar",
]


@dataclass(frozen=True, slots=True)
class TailRisk:
    """VaR and CVaR (positive losses) at one confidence level."""

    var: float
    cvar: float


def scenario_var_cvar(scenarios: np.ndarray, weights: np.ndarray, confidence: float) -> TailRisk:
    """Empirical VaR/CVaR of ``scenarios @ weights``.

    scenarios: shape (S, N) asset returns (history or simulation); weights: shape (N,).
    Order statistics follow skfolio's definitions (VaR is the (k+1)-th largest loss, CVaR
    the mean of the k largest, k = (1 - confidence) S).
    """
    portfolio = scenarios @ weights
    return TailRisk(
        var=float(value_at_risk(portfolio, beta=confidence)),
        cvar=float(cvar(portfolio, beta=confidence)),
    )


def parametric_var_cvar(mean: float, vol: float, confidence: float) -> TailRisk:
    """Normal VaR/CVaR of a one-day return with `mean` and `vol` (daily, decimal).

    ``VaR = z vol - mean`` and ``CVaR = vol phi(z) / (1 - c) - mean`` with ``z = Phi^-1(c)``.
    """
    z = norm.ppf(confidence)
    return TailRisk(
        var=float(z * vol - mean),
        cvar=float(vol * norm.pdf(z) / (1.0 - confidence) - mean),
    )


def historical_scenarios(returns: np.ndarray, lookback: int) -> np.ndarray:
    """The last `lookback` complete rows of `returns` (shape (T, N)) as scenarios (S, N)."""
    x = np.asarray(returns, dtype=float)[-lookback:]
    return x[np.isfinite(x).all(axis=1)]


def monte_carlo_scenarios(mean: np.ndarray, cov: np.ndarray, n_sims: int, seed: int) -> np.ndarray:
    """Seeded multivariate-normal draws, shape (n_sims, N), from mean (N,) and cov (N, N).

    A symmetric square root (eigh) tolerates the singular covariances that duplicated or
    perfectly correlated assets produce, where a Cholesky factorisation fails.
    """
    vals, vecs = np.linalg.eigh(cov)
    root = vecs * np.sqrt(np.clip(vals, 0.0, None))
    z = np.random.default_rng(seed).standard_normal((n_sims, len(mean)))
    return mean + z @ root.T
