"""Risk: GARCH/EWMA volatility, VaR/CVaR, and the limits that scale a target book."""

from strategies.risk._ewma import ewma_variance
from strategies.risk._garch import GarchFit, GarchSpec, filter_garch, fit_garch
from strategies.risk._limits import (
    Limits,
    ScaledWeights,
    apply_trade_filters,
    cap_weights,
    clamp_to_caps,
    scale_to_limits,
    violations,
)
from strategies.risk._measures import (
    TailRisk,
    historical_scenarios,
    monte_carlo_scenarios,
    parametric_var_cvar,
    scenario_var_cvar,
)
from strategies.risk._risk_model import RiskModel, build_risk_model, correlation
from strategies.risk._volatility import GarchVolatility, VolatilityForecast
from strategies.risk.config import GarchConfig, RiskConfig, VaRConfig

__all__ = [
    "GarchConfig",
    "GarchFit",
    "GarchSpec",
    "GarchVolatility",
    "Limits",
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
