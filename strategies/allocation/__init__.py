"""Allocation: HRP and mean-variance base weights (pypfopt), input screening, forecast tilt."""

from strategies.allocation._covariance import estimate_covariance
from strategies.allocation._hrp import HRPAllocator
from strategies.allocation._mean_variance import MeanVarianceAllocator
from strategies.allocation._screen import ScreenedReturns, clean_returns, screen_returns
from strategies.allocation._tilt import TiltResult, forecast_tilt, risk_adjusted_median
from strategies.allocation.config import (
    AllocationConfig,
    HRPConfig,
    MeanVarianceConfig,
    TiltConfig,
)

__all__ = [
    "AllocationConfig",
    "HRPAllocator",
    "HRPConfig",
    "MeanVarianceAllocator",
    "MeanVarianceConfig",
    "ScreenedReturns",
    "TiltConfig",
    "TiltResult",
    "clean_returns",
    "estimate_covariance",
    "forecast_tilt",
    "risk_adjusted_median",
    "screen_returns",
]
