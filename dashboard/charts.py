"""Plotly figures shared by the dashboard pages and the HTML report (frames in, figures out)."""

from __future__ import annotations

import json

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = [
    "bound_figure",
    "costs_figure",
    "equity_figure",
    "fan_figure",
    "garch_figure",
    "monthly_heatmap",
    "risk_figure",
    "rolling_figure",
    "weights_figure",
]

TEMPLATE = "plotly_white"
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
BOUNDS = ["none", "target_vol", "max_var", "max_cvar", "max_gross"]


def _layout(fig: go.Figure, title: str, height: int = 420, *, side_legend: bool = False) -> go.Figure:
    """Common layout; ``side_legend`` for many series (one per symbol), listed on the right."""
    legend = (
        {"orientation": "v", "y": 1, "yanchor": "top", "x": 1.01, "xanchor": "left"}
        if side_legend
        else {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1, "xanchor": "right"}
    )
    fig.update_layout(title=title, template=TEMPLATE, height=height, legend=legend,
                      margin={"l": 60, "r": 20, "t": 60, "b": 40})
    return fig


def equity_figure(
    equity: pd.Series,
    drawdown: pd.Series,
    benchmark: pd.Series | None = None,
    benchmark_drawdown: pd.Series | None = None,
    events: pd.DataFrame | None = None,
) -> go.Figure:
    """Equity (and the benchmark) above, drawdowns below; ``events`` (ts, label) are
    drawn as markers on the equity line (model swaps and rejections)."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.04)
    fig.add_trace(go.Scatter(x=equity.index, y=equity, name="equity", line={"color": "#1f77b4"}), 1, 1)
    if benchmark is not None and not benchmark.empty:
        fig.add_trace(
            go.Scatter(x=benchmark.index, y=benchmark, name="equal-weight buy and hold",
                       line={"color": "#7f7f7f", "dash": "dot"}), 1, 1,
        )
    fig.add_trace(
        go.Scatter(x=drawdown.index, y=drawdown, name="drawdown", fill="tozeroy", line={"color": "#d62728"}), 2, 1
    )
    if benchmark_drawdown is not None and not benchmark_drawdown.empty:
        fig.add_trace(
            go.Scatter(x=benchmark_drawdown.index, y=benchmark_drawdown, name="benchmark drawdown",
                       line={"color": "#7f7f7f", "dash": "dot"}), 2, 1,
        )
    if events is not None and not events.empty:
        at = equity.reindex(equity.index.union(events["ts"])).ffill().loc[events["ts"]]
        fig.add_trace(
            go.Scatter(x=events["ts"], y=at.to_numpy(), mode="markers", name="models",
                       text=events["label"], marker={"symbol": "diamond", "size": 10, "color": events["color"]}),
            1, 1,
        )
    fig.update_yaxes(title_text="equity", row=1, col=1)
    fig.update_yaxes(title_text="drawdown", tickformat=".0%", row=2, col=1)
    return _layout(fig, "Equity and drawdown", 520)


def monthly_heatmap(table: pd.DataFrame) -> go.Figure:
    """Monthly returns (years x 12) as a red-green heatmap with the values written in."""
    values = table.to_numpy(float)
    text = [[("" if pd.isna(v) else f"{v:+.1%}") for v in row] for row in values]
    limit = float(pd.Series(values.ravel()).abs().max()) if table.size else 0.0
    fig = go.Figure(
        go.Heatmap(z=values, x=MONTHS, y=[str(y) for y in table.index], text=text, texttemplate="%{text}",
                   colorscale="RdYlGn", zmid=0.0, zmin=-limit or None, zmax=limit or None,
                   colorbar={"tickformat": ".0%"})
    )
    fig.update_yaxes(autorange="reversed", type="category")
    return _layout(fig, "Monthly returns", max(220, 60 + 32 * len(table)))


def rolling_figure(rolling: pd.DataFrame, window_label: str = "6-month") -> go.Figure:
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.06)
    fig.add_trace(go.Scatter(x=rolling.index, y=rolling["sharpe"], name=f"{window_label} Sharpe"), 1, 1)
    fig.add_trace(go.Scatter(x=rolling.index, y=rolling["volatility"], name=f"{window_label} volatility"), 2, 1)
    fig.update_yaxes(title_text="Sharpe", row=1, col=1)
    fig.update_yaxes(title_text="vol (ann.)", tickformat=".0%", row=2, col=1)
    return _layout(fig, f"Rolling {window_label} Sharpe and volatility", 460)


def costs_figure(trading: pd.DataFrame) -> go.Figure:
    """Monthly turnover (bars, left) and costs paid (lines, right)."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Bar(x=trading.index, y=trading["turnover"], name="turnover", marker_color="#aec7e8"))
    fig.add_trace(go.Scatter(x=trading.index, y=trading["commission"], name="commission"), secondary_y=True)
    fig.add_trace(go.Scatter(x=trading.index, y=trading["slippage"], name="slippage and impact"), secondary_y=True)
    fig.update_yaxes(title_text="turnover (x mean equity)", tickformat=".0%", secondary_y=False)
    fig.update_yaxes(title_text="costs", secondary_y=True)
    return _layout(fig, "Turnover and costs per month")


def weights_figure(weights: pd.DataFrame, title: str = "Weights over time") -> go.Figure:
    """Stacked areas, one per symbol (n x symbols, fractions of equity)."""
    fig = go.Figure()
    for symbol in weights.columns:
        fig.add_trace(go.Scatter(x=weights.index, y=weights[symbol], name=str(symbol), stackgroup="w", mode="lines",
                                 line={"width": 0.5}))
    fig.update_yaxes(tickformat=".0%")
    return _layout(fig, title, 460, side_legend=True)


def _limits(risk: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame([json.loads(v) if v else {} for v in risk["limits"]], index=risk["ts"])


def risk_figure(risk: pd.DataFrame) -> go.Figure:
    """Forecast vol against its target, one-day VaR and CVaR against their limits."""
    limits = _limits(risk)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=("forecast volatility (annualised)", "one-day VaR and CVaR"))
    fig.add_trace(go.Scatter(x=risk["ts"], y=risk["vol"], name="forecast vol", mode="lines+markers"), 1, 1)
    for key, name, row in (("target_vol", "target vol", 1), ("max_var", "VaR limit", 2), ("max_cvar", "CVaR limit", 2)):
        if key in limits and pd.to_numeric(limits[key], errors="coerce").notna().any():
            fig.add_trace(go.Scatter(x=limits.index, y=pd.to_numeric(limits[key], errors="coerce"), name=name,
                                     line={"dash": "dash", "shape": "hv"}), row, 1)
    fig.add_trace(go.Scatter(x=risk["ts"], y=risk["var"], name="VaR", mode="lines+markers"), 2, 1)
    fig.add_trace(go.Scatter(x=risk["ts"], y=risk["cvar"], name="CVaR", mode="lines+markers"), 2, 1)
    fig.update_yaxes(tickformat=".1%")
    return _layout(fig, "Risk against its limits", 520)


def bound_figure(risk: pd.DataFrame) -> go.Figure:
    """Which limit bound at each decision (markers by name) and the exposure scale applied."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, row_heights=[0.45, 0.55])
    # plotly reads the category "none" as no value: say it in words
    bound = risk["bound"].fillna("none").replace({"none": "no limit"})
    fig.add_trace(go.Scatter(x=risk["ts"], y=bound, mode="markers", name="limit that bound",
                             marker={"size": 9, "symbol": "square"}), 1, 1)
    fig.add_trace(go.Scatter(x=risk["ts"], y=risk["scale"], name="exposure scale", line={"shape": "hv"}), 2, 1)
    order = ["no limit", *BOUNDS[1:]]
    seen = [b for b in order if b in set(bound)] + sorted(set(bound) - set(order))
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=seen, row=1, col=1)
    fig.update_yaxes(title_text="scale", row=2, col=1)
    return _layout(fig, "Risk limits bound over time", 420)


def garch_figure(risk: pd.DataFrame) -> go.Figure:
    """Per-asset GARCH vol forecasts at each decision (from ``risk.diagnostics``)."""
    rows = {}
    for ts, blob in zip(risk["ts"], risk["diagnostics"], strict=True):
        diagnostics = json.loads(blob) if blob else {}
        rows[ts] = {s: (d or {}).get("garch_vol") for s, d in diagnostics.items()}
    vols = pd.DataFrame.from_dict(rows, orient="index").astype(float)
    fig = go.Figure([go.Scatter(x=vols.index, y=vols[s], name=str(s), mode="lines") for s in vols.columns])
    fig.update_yaxes(tickformat=".0%")
    return _layout(fig, "GARCH volatility per asset (annualised)", 460, side_legend=True)


def fan_figure(quantiles: pd.DataFrame, realised: pd.Series | None, symbol: str) -> go.Figure:
    """P10-P90 band with the P50 line (``quantiles``: ts index, columns 0.1/0.5/0.9),
    and what happened (``realised``, same units) where known."""
    low, mid, high = (quantiles[q] for q in (0.1, 0.5, 0.9))
    fig = go.Figure(
        [
            go.Scatter(x=quantiles.index, y=high, line={"width": 0}, name="P90", showlegend=False),
            go.Scatter(x=quantiles.index, y=low, fill="tonexty", line={"width": 0}, name="P10-P90",
                       fillcolor="rgba(31,119,180,0.25)"),
            go.Scatter(x=quantiles.index, y=mid, name="P50", line={"color": "#1f77b4"}),
        ]
    )
    if realised is not None and not realised.dropna().empty:
        fig.add_trace(go.Scatter(x=realised.index, y=realised, name="realised", mode="markers",
                                 marker={"color": "#000", "size": 5}))
    return _layout(fig, f"Forecast fan: {symbol}", 380)
