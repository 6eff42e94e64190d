"""The portfolio-construction config: ``[allocation]`` and ``[risk]`` together.

`load_portfolio_config` validates a plain mapping (e.g. the parsed TOML) once and reports
every problem as ``dotted.key: message`` (``risk.target_vol: must be > 0``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from strategies.allocation.config import AllocationConfig
from strategies.risk.config import RiskConfig

__all__ = [
    "PortfolioConfig",
    "PortfolioConfigError",
    "format_validation_error",
    "load_portfolio_config",
]

_COMPARISONS = {
    "greater_than": ("gt", ">"),
    "greater_than_equal": ("ge", ">="),
    "less_than": ("lt", "<"),
    "less_than_equal": ("le", "<="),
}


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


def format_validation_error(exc: ValidationError, prefix: str = "") -> list[str]:
    """``dotted.key: message`` lines for a pydantic error, keys as written in TOML.

    A validator message that starts with ``key:`` (or ``dotted.key:``) names a key relative
    to the model that raised it, so it is appended to the location.
    """
    lines = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        kind, ctx = err["type"], err.get("ctx") or {}
        if kind in _COMPARISONS:
            name, op = _COMPARISONS[kind]
            bound = ctx[name]
            message = (
                f"must be {op} {bound:g}" if isinstance(bound, float) else f"must be {op} {bound}"
            )
        elif kind == "extra_forbidden":
            message = "unknown key"
        elif kind == "missing":
            message = "required"
        else:
            message = str(err["msg"]).removeprefix("Value error, ")
            head, sep, rest = message.partition(": ")
            if sep and " " not in head:
                loc, message = [*loc, *head.split(".")], rest
        lines.append(f"{'.'.join([prefix, *loc] if prefix else loc)}: {message}")
    return lines


def load_portfolio_config(data: Mapping[str, Any] | None = None) -> PortfolioConfig:
    """Validate `data` ({"allocation": {...}, "risk": {...}}); defaults fill what is absent."""
    try:
        return PortfolioConfig.model_validate(dict(data or {}))
    except ValidationError as exc:
        raise PortfolioConfigError("\n".join(format_validation_error(exc))) from exc
