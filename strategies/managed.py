"""The default strategy: HRP (or mean-variance) with a forecast tilt, under risk limits.

Each rebalance hands the trailing returns, the weights now held and the newest model
forecast (if any) to ``PortfolioConstructor`` (``strategies.portfolio``): allocation,
tilt, caps, vol targeting (GARCH, the model's vol forecast or a blend:
``risk.vol_source``), VaR/CVaR limits, trade filters. The decision's risk numbers become
a ``RiskAssessed`` event, so the ``risk`` table says why the portfolio looks as it does.
Without a model the tilt is neutral and the vol is GARCH's: the strategy needs none.
"""

from __future__ import annotations

import math

import pandas as pd

from core.events import RiskAssessment
from strategies.allocation.config import AllocationConfig
from strategies.base import Strategy, Weights
from strategies.portfolio import Decision, PortfolioConstructor
from strategies.portfolio_config import PortfolioConfig
from strategies.risk.config import RiskConfig
from strategies.view import MarketView

__all__ = ["ManagedPortfolio"]


class ManagedPortfolio(Strategy):
    """``strategy.name = "portfolio"``: ``[allocation]`` under ``[risk]``."""

    name = "portfolio"

    def __init__(self, allocation: AllocationConfig, risk: RiskConfig) -> None:
        self.config = PortfolioConfig(allocation=allocation, risk=risk)
        self.constructor = PortfolioConstructor(self.config)
        self.window = max(allocation.lookback, risk.garch.window, risk.var.lookback)
        self.warmup_bars = allocation.min_history + 1
        self.refits_after_decision = risk.garch.refit_at == "after_decision"
        self._decision: Decision | None = None

    def history_needs(self) -> dict[str, int]:
        """Bars each window reads (a window of n returns needs n + 1 closes)."""
        alloc, risk = self.config.allocation, self.config.risk
        return {
            "allocation.lookback": alloc.lookback + 1,
            "risk.garch.window": risk.garch.window + 1,
            "risk.var.lookback": risk.var.lookback + 1,
        }

    def target_weights(self, view: MarketView) -> Weights | None:
        returns = view.returns(self.window)
        if returns.empty:
            return None
        decision = self.constructor.construct(
            returns, view.current_weights(), view.forecast_frame(), as_of=pd.Timestamp(view.now),
            vol_forecasts=view.vol_forecast_frame(),
        )
        self._decision = decision
        return decision.weights

    def last_assessment(self) -> RiskAssessment | None:
        decision, self._decision = self._decision, None
        if decision is None:
            return None
        risk = self.config.risk
        return RiskAssessment(
            vol=decision.vol,
            var=decision.var,
            cvar=decision.cvar,
            var_method=risk.var.method,
            confidence=risk.var.confidence,
            scale=decision.scale,
            bound=decision.bound,
            gross=float(decision.weights.sum()),
            limits={
                "target_vol": risk.target_vol,
                "max_var": risk.max_var,
                "max_cvar": risk.max_cvar,
                "max_gross": risk.max_gross,
                "max_weight": risk.max_weight,
                "min_trade": risk.min_trade,
                "rebalance_band": risk.rebalance_band,
                "allocation": self.config.allocation.method,
                "garch": f"{risk.garch.flavour}/{risk.garch.distribution}",
                "vol_source": risk.vol_source if risk.vol_source != "blend" else f"blend/{risk.vol_blend:g}",
            },
            weights={str(s): float(w) for s, w in decision.weights.items()},
            diagnostics=_records(decision.diagnostics),
            notes=tuple(str(n) for n in decision.notes),
        )

    def after_decision(self) -> str | None:
        return self.constructor.refit()

    def close(self) -> None:
        self.constructor.close()


def _records(frame: pd.DataFrame) -> dict[str, dict[str, object]]:
    """{symbol: {column: value}} of a diagnostics frame, with None for a missing number
    (JSON has no NaN)."""
    columns = {
        name: [None if isinstance(v, float) and math.isnan(v) else v for v in frame[name].tolist()]
        for name in frame.columns
    }
    return {str(s): {name: values[i] for name, values in columns.items()} for i, s in enumerate(frame.index)}
