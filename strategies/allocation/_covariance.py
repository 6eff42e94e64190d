"""Covariance estimates through pypfopt's risk_models."""

from __future__ import annotations

from typing import Literal

import pandas as pd
from pypfopt import risk_models

__all__ = ["estimate_covariance"]

CovarianceMethod = Literal["sample", "ledoit_wolf"]


def estimate_covariance(
    returns: pd.DataFrame, method: CovarianceMethod = "sample", frequency: int = 252
) -> pd.DataFrame:
    """Annualised covariance (N x N) of complete daily returns (T x N).

    ``sample`` is ``risk_models.sample_cov``; ``ledoit_wolf`` is pypfopt's
    ``CovarianceShrinkage(...).ledoit_wolf()`` (constant-variance target), which stays well
    conditioned when T is small relative to N.
    """
    if method == "ledoit_wolf":
        shrinkage = risk_models.CovarianceShrinkage(returns, returns_data=True, frequency=frequency)
        return shrinkage.ledoit_wolf()
    return risk_models.sample_cov(returns, returns_data=True, frequency=frequency)
