"""EWMA (RiskMetrics) variance: the fallback when a GARCH estimate cannot be trusted."""

from __future__ import annotations

import numpy as np

__all__ = ["ewma_variance"]


def ewma_variance(returns: np.ndarray, lam: float = 0.94) -> np.ndarray:
    """One-step-ahead EWMA variance per column, zero mean as in RiskMetrics.

    ``sigma2 = sum_k lam**k r[T-1-k]**2 / sum_k lam**k`` over the finite observations of each
    column: weights decay with the row position, and missing days drop out of both sums
    instead of counting as zero returns, so gaps and short histories do not bias it down.

    returns: shape (T, N) or (T,), any unit; NaN/inf mean missing.
    Returns shape (N,) (or a 0-d array for 1-D input); NaN where a column has no finite value.
    """
    x = np.asarray(returns, dtype=float)
    one_dim = x.ndim == 1
    x = x.reshape(x.shape[0], -1)
    finite = np.isfinite(x)
    # Weight by position counted back from the last row: the newest row weighs most.
    weights = lam ** np.arange(x.shape[0] - 1, -1, -1, dtype=float)[:, None] * finite
    total = weights.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = (weights * np.where(finite, x, 0.0) ** 2).sum(axis=0) / total
    var[total == 0] = np.nan
    return var[0] if one_dim else var
