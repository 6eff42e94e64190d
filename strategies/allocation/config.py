"""Allocation configuration (``[allocation]`` in config.toml): HRP, mean-variance, tilt.

Config sections (`core.settings.Section`: frozen, strict, unknown keys refused). Weights
are fractions of equity; returns and volatilities for mean-variance targets are annualised
(252 periods a year).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from core.settings import Section

__all__ = ["AllocationConfig", "HRPConfig", "MeanVarianceConfig", "TiltConfig"]

Bounds = tuple[float, float]


def _check_bounds(name: str, bounds: Bounds) -> None:
    lower, upper = bounds
    if not 0.0 <= lower <= upper <= 1.0:
        raise ValueError(f"{name}: must satisfy 0 <= lower <= upper <= 1 (long-only)")


class HRPConfig(Section):
    """Hierarchical Risk Parity through pypfopt ``HRPOpt`` (``[allocation.hrp]``)."""

    linkage: Literal["single", "complete", "average", "weighted", "centroid", "median", "ward"] = (
        "single"
    )


class MeanVarianceConfig(Section):
    """Mean-variance through pypfopt ``EfficientFrontier`` (``[allocation.mean_variance]``).

    Expected returns are pypfopt's compounded historical means of the lookback window.
    Turnover is L1 distance to the current weights rescaled to full investment.
    """

    objective: Literal["max_sharpe", "min_volatility", "efficient_risk", "efficient_return"] = (
        "min_volatility"
    )
    target_volatility: float | None = Field(None, gt=0, description="efficient_risk, annual")
    target_return: float | None = Field(None, description="efficient_return, annual")
    risk_free_rate: float = 0.0
    weight_bounds: Bounds = (0.0, 1.0)
    asset_bounds: dict[str, Bounds] = Field(default_factory=dict)
    sector_map: dict[str, str] = Field(default_factory=dict)
    sector_lower: dict[str, float] = Field(default_factory=dict)
    sector_upper: dict[str, float] = Field(default_factory=dict)
    turnover_penalty: float = Field(0.0, ge=0, description="k in k * |w - w_current|_1")
    turnover_limit: float | None = Field(None, gt=0, le=2, description="|w - w_current|_1 cap")

    @model_validator(mode="after")
    def _consistent(self) -> MeanVarianceConfig:
        _check_bounds("weight_bounds", self.weight_bounds)
        for symbol, bounds in self.asset_bounds.items():
            _check_bounds(f"asset_bounds.{symbol}", bounds)
        if self.objective == "efficient_risk" and self.target_volatility is None:
            raise ValueError("target_volatility: required by objective efficient_risk")
        if self.objective == "efficient_return" and self.target_return is None:
            raise ValueError("target_return: required by objective efficient_return")
        if self.objective == "max_sharpe" and (
            self.turnover_penalty > 0 or self.turnover_limit is not None
        ):
            # pypfopt's max_sharpe rescales the weight variable, which turns an L1 distance
            # to fixed current weights into a different (wrong) constraint.
            raise ValueError("turnover_penalty: not supported with objective max_sharpe")
        sectors = set(self.sector_map.values())
        for key in ("sector_lower", "sector_upper"):
            for sector, value in getattr(self, key).items():
                if sector not in sectors:
                    raise ValueError(f"{key}.{sector}: unknown sector (not in sector_map)")
                if not 0.0 <= value <= 1.0:
                    raise ValueError(f"{key}.{sector}: must be within [0, 1]")
        for sector, low in self.sector_lower.items():
            if low > self.sector_upper.get(sector, 1.0):
                raise ValueError(f"sector_lower.{sector}: must be <= sector_upper")
        return self


class TiltConfig(Section):
    """Forecast tilt of HRP weights (``[allocation.tilt]``).

    ``score = q50 / ((q90 - q10) / (2 * 1.2816))``, clipped to ``[-cap, cap]``;
    ``w_i <- w_i * exp(strength * score_i)``, renormalised to the untilted total.
    strength = 0, or no forecast for a symbol, is neutral.
    """

    strength: float = Field(0.25, ge=0)
    cap: float = Field(2.0, gt=0)


class AllocationConfig(Section):
    """Which allocator, on which window, with which covariance (``[allocation]``)."""

    method: Literal["hrp", "mean_variance"] = "hrp"
    covariance: Literal["sample", "ledoit_wolf"] = "sample"
    lookback: int = Field(252, ge=20, description="trading days of returns for allocation")
    min_history: int = Field(126, ge=10, description="fewer finite returns: asset excluded")
    min_daily_vol: float = Field(1e-8, ge=0, description="flatter assets are excluded")
    hrp: HRPConfig = HRPConfig()
    mean_variance: MeanVarianceConfig = MeanVarianceConfig()
    tilt: TiltConfig = TiltConfig()

    @model_validator(mode="after")
    def _history_fits_lookback(self) -> AllocationConfig:
        if self.min_history > self.lookback:
            raise ValueError("min_history: must be <= lookback")
        return self
