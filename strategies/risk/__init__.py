"""Risk: GARCH/EWMA or model volatility, VaR/CVaR, and the limits that scale a target book.

Names load on first use (PEP 562): reading config needs no pypfopt, cvxpy or arch.
"""

from __future__ import annotations

from core.lazy import lazy_exports

_HOME = {
    "GarchConfig": "strategies.risk.config",
    "NO_MODEL_FORECAST": "strategies.risk._vol_source",
    "GarchFit": "strategies.risk._garch",
    "GarchSpec": "strategies.risk._garch",
    "GarchVolatility": "strategies.risk._volatility",
    "Limits": "strategies.risk._limits",
    "RiskConfig": "strategies.risk.config",
    "RiskModel": "strategies.risk._risk_model",
    "ScaledWeights": "strategies.risk._limits",
    "TailRisk": "strategies.risk._measures",
    "VaRConfig": "strategies.risk.config",
    "VolatilityForecast": "strategies.risk._volatility",
    "apply_trade_filters": "strategies.risk._limits",
    "build_risk_model": "strategies.risk._risk_model",
    "cap_weights": "strategies.risk._limits",
    "clamp_to_caps": "strategies.risk._limits",
    "combine_vol": "strategies.risk._vol_source",
    "correlation": "strategies.risk._risk_model",
    "ewma_variance": "strategies.risk._ewma",
    "filter_garch": "strategies.risk._garch",
    "fit_garch": "strategies.risk._garch",
    "historical_scenarios": "strategies.risk._measures",
    "monte_carlo_scenarios": "strategies.risk._measures",
    "parametric_var_cvar": "strategies.risk._measures",
    "scale_to_limits": "strategies.risk._limits",
    "scenario_var_cvar": "strategies.risk._measures",
    "violations": "strategies.risk._limits",
}

__all__ = [
    "GarchConfig",
    "GarchFit",
    "GarchSpec",
    "GarchVolatility",
    "Limits",
    "NO_MODEL_FORECAST",
    "RiskConfig",
    "RiskModel",
    "ScaledWeights",
    "TailRisk",
    "VaRConfig",
    "VolatilityForecast",
    "apply_trade_filters",
    "build_risk_model",
    "cap_weights",
    "clamp_to_caps",
    "combine_vol",
    "correlation",
    "ewma_variance",
    "filter_garch",
    "fit_garch",
    "historical_scenarios",
    "monte_carlo_scenarios",
    "parametric_var_cvar",
    "scale_to_limits",
    "scenario_var_cvar",
    "violations",
]


__getattr__ = lazy_exports(__name__, _HOME, globals())
