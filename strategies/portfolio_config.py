"""The portfolio-construction config: ``[allocation]`` and ``[risk]`` together.

`load_portfolio_config` validates a plain mapping (e.g. the parsed TOML) once and reports
every problem as one ``dotted.key: message`` line of a `core.settings.ConfigError`
(``risk.target_vol: must be > 0``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import model_validator

from core.settings import Section, validate
from strategies.allocation.config import AllocationConfig
from strategies.risk.config import RiskConfig

__all__ = ["PortfolioConfig", "check_history_covers_garch", "load_portfolio_config"]


def check_history_covers_garch(allocation: AllocationConfig, risk: RiskConfig) -> None:
    """The GARCH window must hold the allocation lookback. One rule for `PortfolioConfig`
    and the daemon's root config, where ``[allocation]`` and ``[risk]`` are top-level."""
    if risk.garch.window < allocation.lookback:
        raise ValueError("risk.garch.window: must be >= allocation.lookback")


class PortfolioConfig(Section):
    """Allocation and risk settings for `PortfolioConstructor`."""

    allocation: AllocationConfig = AllocationConfig()
    risk: RiskConfig = RiskConfig()

    @model_validator(mode="after")
    def _history_covers_garch(self) -> PortfolioConfig:
        check_history_covers_garch(self.allocation, self.risk)
        return self


def load_portfolio_config(data: Mapping[str, Any] | None = None) -> PortfolioConfig:
    """Validate `data` ({"allocation": {...}, "risk": {...}}); defaults fill what is absent.

    Raises `core.settings.ConfigError`, one ``key: message`` line per problem.
    """
    return validate(PortfolioConfig, data or {})
