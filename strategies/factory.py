"""``build_strategy``: the strategy that ``[strategy]`` names, with its tables' parameters.

Its own module so that the interface (``strategies.base``) and the strategies built on it
(``strategies.managed``) do not import each other.
"""

from __future__ import annotations

from strategies.allocation.config import AllocationConfig
from strategies.base import HRP, InverseVol, Strategy
from strategies.config import StrategyConfig
from strategies.managed import ManagedPortfolio
from strategies.risk.config import RiskConfig

__all__ = ["build_strategy"]


def build_strategy(
    config: StrategyConfig, allocation: AllocationConfig | None = None, risk: RiskConfig | None = None
) -> Strategy:
    """The strategy named by ``strategy.name``, with its tables' parameters."""
    if config.name == "portfolio":
        return ManagedPortfolio(allocation or AllocationConfig(), risk or RiskConfig())
    if config.name == "inverse_vol":
        return InverseVol(config.inverse_vol.lookback, config.inverse_vol.vol_floor)
    if config.name == "hrp":
        return HRP(config.hrp.lookback, config.hrp.linkage)
    raise ValueError(f"strategy.name: unknown strategy {config.name!r}")
