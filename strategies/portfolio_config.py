"""The portfolio-construction config: ``[allocation]`` and ``[risk]`` together.

`load_portfolio_config` validates a plain mapping (e.g. the parsed TOML) once and reports
every problem as ``dotted.key: message`` (``risk.target_vol: must be > 0``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from core.settings import format_validation_error
from strategies.allocation.config import AllocationConfig
from strategies.risk.config import RiskConfig

__all__ = [
    "PortfolioConfig",
    "PortfolioConfigError",
    "load_portfolio_config",
]


class PortfolioConfig(BaseModel):
    """Allocation and risk settings for `PortfolioConstructor`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    allocation: AllocationConfig = AllocationConfig()
    risk: RiskConfig = RiskConfig()

    @model_validator(mode="after")
    def _history_covers_garch(self) -> PortfolioConfig:
        if self.risk.garch.window < self.allocation.lookback:
            raise ValueError("risk.garch.window: must be >= allocation.lookback")
        return self


class PortfolioConfigError(ValueError):
    """Invalid portfolio config; ``str()`` lists one ``key: message`` per line."""


def load_portfolio_config(data: Mapping[str, Any] | None = None) -> PortfolioConfig:
    """Validate `data` ({"allocation": {...}, "risk": {...}}); defaults fill what is absent."""
    try:
        return PortfolioConfig.model_validate(dict(data or {}))
    except ValidationError as exc:
        raise PortfolioConfigError("\n".join(format_validation_error(exc))) from exc
