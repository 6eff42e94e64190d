"""Strategy settings (the ``[strategy]`` table of config.toml)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from core.settings import Section

__all__ = ["HRPConfig", "InverseVolConfig", "StrategyConfig"]


class HRPConfig(Section):
    """``[strategy.hrp]``: pypfopt HRPOpt on trailing returns."""

    lookback: int = Field(default=252, ge=20)
    linkage: Literal["single", "complete", "average", "ward"] = "single"


class InverseVolConfig(Section):
    """``[strategy.inverse_vol]``: weights proportional to 1 / trailing return std."""

    lookback: int = Field(default=60, ge=2)
    vol_floor: float = Field(default=1e-4, gt=0)


class StrategyConfig(Section):
    """Which strategy trades and how often it may rebalance.

    ``portfolio`` (the default) is the full construction: ``[allocation]`` (HRP or
    mean-variance, forecast tilt) under ``[risk]`` (GARCH vol target, VaR/CVaR limits,
    caps, trade filters). ``hrp`` and ``inverse_vol`` are plain allocators without risk
    limits, configured by ``[strategy.hrp]`` and ``[strategy.inverse_vol]``.

    ``rebalance``: the strategy decides on the first bar of each new period (day, week,
    month, quarter) seen by the ``rebalance`` job; a period missed while the daemon was
    down is caught up on the next run of the job.
    """

    name: Literal["portfolio", "hrp", "inverse_vol"] = "portfolio"
    rebalance: Literal["daily", "weekly", "monthly", "quarterly"] = "monthly"
    hrp: HRPConfig = HRPConfig()
    inverse_vol: InverseVolConfig = InverseVolConfig()
