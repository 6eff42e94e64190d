"""Hierarchical Risk Parity, pypfopt's ``HRPOpt`` algorithm on arrays.

The clustering is pypfopt's: a scipy linkage of the ``sqrt((1 - corr) / 2)`` distance,
its leaves in left-to-right order (scipy's public ``leaves_list``, the order pypfopt's
quasi-diagonalisation walks). The recursive bisection is the same arithmetic as
``HRPOpt.optimize``, written over a numpy covariance instead of pandas ``.loc`` slices:
on 20 assets that is ~1.5 ms instead of ~90 ms per rebalance, with the same weights
(tests compare against ``HRPOpt`` called directly, the oracle).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.cluster.hierarchy as sch
import scipy.spatial.distance as ssd
from pypfopt import risk_models

from strategies.allocation._covariance import CovarianceMethod, estimate_covariance

__all__ = ["LINKAGE_METHODS", "HRPAllocator", "hrp_weights"]

# scipy.cluster.hierarchy.linkage's methods (its docs list them; scipy keeps no public tuple).
LINKAGE_METHODS = ("single", "complete", "average", "weighted", "centroid", "median", "ward")


def _cluster_variance(cov: np.ndarray, items: np.ndarray) -> float:
    """Variance of the inverse-variance portfolio of `items`."""
    sub = cov[np.ix_(items, items)]
    inv = 1.0 / np.diag(sub)
    inv /= inv.sum()
    return float(np.linalg.multi_dot((inv, sub, inv)))


def hrp_weights(cov: np.ndarray, corr: np.ndarray, linkage: str = "single"):
    """HRP weights, shape (N,), summing to 1, and the linkage matrix (N - 1, 4).

    cov, corr: (N, N) with N >= 2 and a positive diagonal of `cov`.
    """
    if linkage not in LINKAGE_METHODS:
        raise ValueError(f"unknown linkage method {linkage!r}")
    distance = np.sqrt(np.clip((1.0 - corr) / 2.0, a_min=0.0, a_max=1.0))
    link = sch.linkage(ssd.squareform(distance, checks=False), linkage)
    order = sch.leaves_list(link)
    weights = np.ones(cov.shape[0])
    clusters = [order]
    while clusters:
        clusters = [
            c[j:k]
            for c in clusters
            for j, k in ((0, len(c) // 2), (len(c) // 2, len(c)))
            if len(c) > 1
        ]
        for i in range(0, len(clusters), 2):
            first, second = clusters[i], clusters[i + 1]
            first_var = _cluster_variance(cov, first)
            second_var = _cluster_variance(cov, second)
            alpha = 1 - first_var / (first_var + second_var)
            weights[first] *= alpha
            weights[second] *= 1 - alpha
    return weights, link


class HRPAllocator:
    """Long-only, fully invested HRP weights.

    Parameters
    ----------
    linkage : scipy linkage method for the clustering (pypfopt's default is "single").
    covariance : "sample" reproduces ``HRPOpt(returns=...)``; "ledoit_wolf" reproduces
        ``HRPOpt(cov_matrix=<pypfopt Ledoit-Wolf>)``, including pypfopt's rounding of the
        correlation to 6 decimals on that path.

    Attributes
    ----------
    weights_ : pd.Series, shape (N,), in the column order of the fitted returns, sum 1.
    clusters_ : linkage matrix, shape (N - 1, 4); None for a single asset.
    """

    def __init__(self, linkage: str = "single", covariance: CovarianceMethod = "sample"):
        self.linkage = linkage
        self.covariance = covariance

    def fit(self, returns: pd.DataFrame) -> HRPAllocator:
        """Fit on complete daily returns (T x N, no NaN, no constant column)."""
        symbols = list(returns.columns)
        if len(symbols) == 1:
            # scipy cannot cluster one item; all of the budget goes to it.
            self.weights_ = pd.Series(1.0, index=symbols)
            self.clusters_ = None
            return self
        if self.covariance == "sample":
            cov = np.cov(returns.to_numpy(dtype=float), rowvar=False)
            std = np.sqrt(np.diag(cov))
            corr = cov / np.outer(std, std)
        else:
            cov_frame = estimate_covariance(returns, self.covariance)
            cov = cov_frame.to_numpy()
            corr = risk_models.cov_to_corr(cov_frame).round(6).to_numpy()
        weights, link = hrp_weights(cov, corr, self.linkage)
        if not np.all(np.isfinite(weights)):
            raise ValueError("HRP produced non-finite weights")
        self.weights_ = pd.Series(weights, index=symbols)
        self.clusters_ = link
        return self
