"""Risk configuration: GARCH volatility, tail-risk measures and portfolio limits.

Config sections (`core.settings.Section`: frozen, strict, unknown keys refused) under
``[risk]`` in config.toml.
Limits are in weight units (fractions of equity) and daily loss fractions for VaR/CVaR.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from core.settings import Section

__all__ = ["GarchConfig", "RiskConfig", "VaRConfig"]


class GarchConfig(Section):
    """Per-asset volatility forecasts (``[risk.garch]``)."""

    flavour: Literal["garch", "gjr", "egarch"] = "garch"
    distribution: Literal["normal", "t"] = "normal"
    window: int = Field(1000, ge=50, description="trading days fed to each fit")
    min_obs: int = Field(250, ge=50, description="fewer finite returns: EWMA instead")
    refit_every: int = Field(
        1, ge=1, description="construct() calls between full refits; filter in between"
    )
    refit_at: Literal["decision", "after_decision"] = Field(
        "decision",
        description="when a due refit runs: in the decision, or in the `refit` job after it "
        "(the decision filters with parameters fitted on the previous decision's data)",
    )
    warm_start: bool = Field(
        False, description="start each refit from the previous params (skips arch's grid)"
    )
    n_jobs: int = Field(1, ge=1, description="worker processes for the fits")
    ewma_lambda: float = Field(0.94, gt=0, lt=1)
    max_vol_ratio: float = Field(
        10.0, gt=1, description="forecast/sample vol outside [1/x, x]: estimate replaced"
    )

    @model_validator(mode="after")
    def _min_obs_fits_window(self) -> GarchConfig:
        if self.min_obs > self.window:
            raise ValueError("min_obs: must be <= window")
        return self


class VaRConfig(Section):
    """One-day VaR / CVaR estimation (``[risk.var]``)."""

    method: Literal["historical", "parametric", "monte_carlo"] = "historical"
    confidence: float = Field(0.95, gt=0.5, lt=1)
    lookback: int = Field(500, ge=20, description="trading days of history (historical)")
    n_sims: int = Field(10_000, ge=100, description="Monte Carlo scenarios")
    seed: int = Field(0, ge=0, description="Monte Carlo seed: same inputs, same answer")


class RiskConfig(Section):
    """Portfolio limits (``[risk]``)."""

    garch: GarchConfig = GarchConfig()
    var: VaRConfig = VaRConfig()
    target_vol: float = Field(0.15, gt=0, description="annualised forecast vol ceiling")
    max_gross: float = Field(1.0, gt=0, description="sum of weights; 1.0 = no leverage")
    max_weight: float = Field(0.25, gt=0, le=1, description="per-asset cap")
    max_var: float | None = Field(0.025, gt=0, description="one-day VaR ceiling; false: off")
    max_cvar: float | None = Field(None, gt=0, description="one-day CVaR ceiling; false: off")
    min_trade: float = Field(0.001, ge=0, description="smaller per-asset changes are skipped")
    rebalance_band: float = Field(
        0.0, ge=0, description="no trade at all while every change is below it"
    )
    periods_per_year: int = Field(252, gt=0)
    vol_source: Literal["garch", "model", "blend"] = Field(
        "garch", description="per-asset vol: GARCH, the model's rv median, or a variance blend"
    )
    vol_blend: float = Field(
        0.5, ge=0, le=1, description="blend: the model's weight on the variance (1 - it: GARCH's)"
    )

    @field_validator("max_var", "max_cvar", mode="before")
    @classmethod
    def _false_is_off(cls, value: object) -> object:
        # TOML has no null: `max_var = false` is how a config file switches a limit off.
        return None if value is False else value
