"""Shared inputs for the allocation, risk and portfolio tests."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
from skfolio.datasets import load_sp500_dataset


@lru_cache(maxsize=1)
def sp500_returns() -> pd.DataFrame:
    """Simple daily returns of skfolio's bundled S&P 500 set (8312 x 20, 1990-2022)."""
    prices = load_sp500_dataset()
    return prices.pct_change().iloc[1:]


def synthetic_returns(n_obs: int, n_assets: int, seed: int = 0) -> pd.DataFrame:
    """Correlated daily returns (~1.3% vol) on a business-day index ending 2020-12-31."""
    rng = np.random.default_rng(seed)
    common = rng.standard_normal((n_obs, 1))
    values = 0.01 * (0.6 * common + 0.8 * rng.standard_normal((n_obs, n_assets)))
    index = pd.bdate_range(end="2020-12-31", periods=n_obs)
    return pd.DataFrame(values, index=index, columns=[f"S{i}" for i in range(n_assets)])
