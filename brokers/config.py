"""Paper broker settings (the ``[broker]`` table of config.toml)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from core.settings import Section

__all__ = ["BrokerConfig"]


class BrokerConfig(Section):
    """How paper orders fill and what they cost.

    ``fill``: ``next_bar`` fills an order on the bar after the decision (its open, or its
    close when the data has no open); ``same_close`` fills at the decision bar's close
    (only sensible when decisions are made after the close, as the W1 benchmark does).
    """

    fill: Literal["next_bar", "same_close"] = "next_bar"
    commission_bps: float = Field(default=1.0, ge=0, le=1000)
    min_commission: float = Field(default=1.0, ge=0)
    slippage_bps: float = Field(default=1.0, ge=0, le=1000)
    participation: float = Field(default=0.10, gt=0, le=1.0)
    impact_coef: float = Field(default=0.0, ge=0)
    impact_window: int = Field(default=20, ge=2)
    fractional: bool = False
    max_gross: float = Field(default=1.0, gt=0, le=1.0)
    min_order_value: float = Field(default=0.0, ge=0)

    def history_needs(self) -> dict[str, int]:
        """Bars the broker reads back: the impact estimate's volatility and volume window."""
        return {"broker.impact_window": self.impact_window + 1}
