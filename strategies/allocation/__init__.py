"""Allocation: HRP and mean-variance base weights (pypfopt), input screening, forecast tilt.

Names load on first use (PEP 562): reading config needs no pypfopt, cvxpy or arch.
"""

from __future__ import annotations

from core.lazy import lazy_exports

_HOME = {
    "AllocationConfig": "strategies.allocation.config",
    "HRPAllocator": "strategies.allocation._hrp",
    "HRPConfig": "strategies.allocation.config",
    "MeanVarianceAllocator": "strategies.allocation._mean_variance",
    "MeanVarianceConfig": "strategies.allocation.config",
    "ScreenedReturns": "strategies.allocation._screen",
    "TiltConfig": "strategies.allocation.config",
    "TiltResult": "strategies.allocation._tilt",
    "clean_returns": "strategies.allocation._screen",
    "estimate_covariance": "strategies.allocation._covariance",
    "forecast_tilt": "strategies.allocation._tilt",
    "risk_adjusted_median": "strategies.allocation._tilt",
    "screen_returns": "strategies.allocation._screen",
}

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


__getattr__ = lazy_exports(__name__, _HOME, globals())
