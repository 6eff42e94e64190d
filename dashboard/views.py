"""What the pages and the report derive from a run: one computation, two renderers."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from dashboard import metrics
from dashboard.data import RunData
from dashboard.prices import run_closes

__all__ = ["Performance", "model_events", "performance"]

ROLLING_WINDOW = 126  # six months of trading days


@dataclass(frozen=True)
class Performance:
    """Series over the run's marks (n,) and the tables built from them.

    ``closes``, ``benchmark``, ``benchmark_drawdown`` and ``weights`` are ``None`` when the
    run's price source cannot be read here (see ``dashboard.prices``).
    """

    equity: pd.Series
    returns: pd.Series
    drawdown: pd.Series
    closes: pd.DataFrame | None
    benchmark: pd.Series | None
    benchmark_drawdown: pd.Series | None
    weights: pd.DataFrame | None
    monthly: pd.DataFrame
    rolling: pd.DataFrame
    trading: pd.DataFrame


def performance(run: RunData) -> Performance:
    equity = run.equity["equity"].astype(float)
    cash = run.start_cash
    returns = metrics.daily_returns(equity, cash)
    closes = run_closes(run)
    benchmark = benchmark_drawdown = weights = None
    if closes is not None:
        benchmark = metrics.equal_weight_benchmark(closes, cash)
        benchmark_drawdown = metrics.drawdown(benchmark, cash)
        shares = metrics.holdings(run.fills, run.adjustments, equity.index)
        weights = metrics.weights_over_time(shares, closes, equity)
    return Performance(
        equity=equity,
        returns=returns,
        drawdown=metrics.drawdown(equity, cash),
        closes=closes,
        benchmark=benchmark,
        benchmark_drawdown=benchmark_drawdown,
        weights=weights,
        monthly=metrics.monthly_returns(equity, cash) if len(equity) else pd.DataFrame(),
        rolling=metrics.rolling_sharpe_vol(returns, ROLLING_WINDOW),
        trading=metrics.trading_by_month(run.fills, equity) if len(equity) else pd.DataFrame(),
    )


def model_events(models: pd.DataFrame | None) -> pd.DataFrame | None:
    """Swaps (``activated_at``) and rejections (``created_at`` of rejected versions) as
    (ts, label, color) rows for the equity timeline; ``None`` without a models table."""
    if models is None or models.empty:
        return None
    rows = []
    for m in models.to_dict("records"):
        activated = m.get("activated_at")
        if activated is not None and not pd.isna(activated):
            rows.append({"ts": activated, "label": f"swap to {m.get('version')}", "color": "#2ca02c"})
        if m.get("status") == "rejected" and m.get("created_at") is not None and not pd.isna(m["created_at"]):
            reason = m.get("reason") or ""
            rows.append({"ts": m["created_at"], "label": f"rejected {m.get('version')}: {reason}", "color": "#d62728"})
    return pd.DataFrame(rows).sort_values("ts") if rows else None
