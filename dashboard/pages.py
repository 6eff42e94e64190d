"""The dashboard's trading pages: Overview, Positions, Risk, Orders and fills, Jobs and health.

Each page is a function of the run's data and its derived ``Performance``; it draws with
Streamlit and reads nothing itself. A section without data says so in one line.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from daemon.status import pid_alive
from dashboard import charts
from dashboard.data import RunData
from dashboard.learning import model_events
from dashboard.views import Performance

__all__ = ["jobs_page", "orders_page", "overview_page", "positions_page", "risk_page"]


def overview_page(run: RunData, perf: Performance) -> None:
    s = run.summary
    last = run.equity.iloc[-1] if len(run.equity) else None
    top, bottom = st.columns(4), st.columns(4)
    top[0].metric("Equity", f"{s.final_equity:,.2f}")
    top[1].metric("Cash", f"{last['cash']:,.2f}" if last is not None else "-")
    top[2].metric("Gross exposure", f"{last['gross'] / last['equity']:.1%}" if last is not None and last["equity"] else "-")
    top[3].metric("Day return", f"{perf.returns.iloc[-1]:+.2%}" if len(perf.returns) else "-")
    bottom[0].metric("Total return", f"{s.total_return:+.2%}")
    bottom[1].metric("Sharpe", f"{s.sharpe:.2f}")
    bottom[2].metric("Max drawdown", f"{s.max_drawdown:.2%}")
    bottom[3].metric("CAGR", f"{s.cagr:+.2%}")
    if last is None:
        st.info("No marks yet: the run has not priced its book.")
        return
    st.caption(f"{s.marks} marks, {str(s.start)[:10]} .. {str(s.end)[:10]}; last mark {run.equity.index[-1]}")
    if perf.benchmark is None:
        st.caption("No benchmark: the run's price source cannot be read here.")
    st.plotly_chart(
        charts.equity_figure(perf.equity, perf.drawdown, perf.benchmark, perf.benchmark_drawdown,
                             model_events(run)),
        key="equity_chart",
    )


def _actual_after(run: RunData, perf: Performance, decided: pd.Timestamp) -> pd.Series | None:
    """Held weights at the first mark after the decision's fills (after the decision if none)."""
    if perf.weights is None or perf.weights.empty:
        return None
    ids = run.orders.loc[run.orders["ts"] == decided, "order_id"]
    filled = run.fills.loc[run.fills["order_id"].isin(ids), "ts"]
    after = filled.max() if len(filled) else decided
    later = perf.weights.index[perf.weights.index >= after]
    return perf.weights.loc[later[0]] if len(later) else None


def positions_page(run: RunData, perf: Performance) -> None:
    st.subheader("Current holdings")
    if run.positions.empty:
        st.info("No open positions.")
    else:
        held = run.positions.copy()
        equity = float(run.equity["equity"].iloc[-1]) if len(run.equity) else float("nan")
        held["weight"] = held["market_value"] / equity
        st.dataframe(held, hide_index=True, column_config={"weight": st.column_config.NumberColumn(format="percent")})
    if perf.weights is not None and not perf.weights.empty:
        st.plotly_chart(charts.weights_figure(perf.weights, "Weights held over time"), key="weights_chart")
    elif not run.targets.empty:
        targets = run.targets.pivot_table(index="ts", columns="symbol", values="weight", aggfunc="last")
        st.plotly_chart(charts.weights_figure(targets, "Target weights at each rebalance"), key="weights_chart")
    if run.targets.empty:
        st.info("No rebalances yet.")
        return
    st.subheader("Target vs actual at each rebalance")
    decisions = sorted(run.targets["ts"].unique(), reverse=True)
    decided = st.selectbox("rebalance", decisions, format_func=lambda t: str(t)[:16], key="rebalance")
    target = run.targets.loc[run.targets["ts"] == decided].set_index("symbol")["weight"]
    actual = _actual_after(run, perf, pd.Timestamp(decided))
    frame = pd.DataFrame({"target": target})
    if actual is not None:
        frame["actual"] = actual.reindex(frame.index.union(actual.index)).fillna(0.0)
        frame = frame.fillna(0.0)
        st.caption(f"sum |target - actual| = {(frame['target'] - frame['actual']).abs().sum():.2%}")
    fig = go.Figure([go.Bar(x=frame.index, y=frame[c], name=c) for c in frame.columns])
    fig.update_layout(barmode="group", template=charts.TEMPLATE, height=380, yaxis={"tickformat": ".0%"})
    st.plotly_chart(fig, key="target_actual_chart")


def risk_page(run: RunData, perf: Performance) -> None:
    if run.risk.empty:
        st.info("No risk decisions in this run (the `portfolio` strategy records one per rebalance).")
        return
    latest = run.risk.iloc[-1]
    limits = json.loads(latest["limits"]) if latest["limits"] else {}
    cols = st.columns(5)
    cols[0].metric("Forecast vol", f"{latest['vol']:.2%}", help=f"target {limits.get('target_vol')}")
    cols[1].metric("VaR (1 day)", f"{latest['var']:.2%}", help=f"limit {limits.get('max_var')}")
    cols[2].metric("CVaR (1 day)", f"{latest['cvar']:.2%}", help=f"limit {limits.get('max_cvar')}")
    cols[3].metric("Scale", f"x{latest['scale']:.3f}")
    cols[4].metric("Bound by", str(latest["bound"]))
    st.plotly_chart(charts.risk_figure(run.risk), key="risk_chart")
    st.plotly_chart(charts.bound_figure(run.risk), key="bound_chart")
    st.plotly_chart(charts.garch_figure(run.risk), key="garch_chart")
    st.caption("Limits in force at the latest decision")
    st.json(limits, expanded=False)


def orders_page(run: RunData, perf: Performance) -> None:
    if run.orders.empty:
        st.info("No orders in this run yet.")
        return
    left, middle, right = st.columns(3)
    symbols = left.multiselect("symbol", sorted(run.orders["symbol"].unique()), key="order_symbols")
    statuses = middle.multiselect("status", sorted(run.orders["status"].unique()), key="order_status")
    sides = right.multiselect("side", sorted(run.orders["side"].unique()), key="order_sides")
    orders = run.orders
    for column, chosen in (("symbol", symbols), ("status", statuses), ("side", sides)):
        if chosen:
            orders = orders[orders[column].isin(chosen)]
    st.caption(f"{len(orders)} of {len(run.orders)} orders")
    st.dataframe(orders.sort_values("ts", ascending=False), hide_index=True, key="orders_table")
    fills = run.fills if not symbols else run.fills[run.fills["symbol"].isin(symbols)]
    st.subheader("Fills")
    st.dataframe(fills.sort_values("ts", ascending=False), hide_index=True, key="fills_table")
    if not perf.trading.empty:
        st.plotly_chart(charts.costs_figure(perf.trading), key="costs_chart")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:,.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:,.0f} min"
    return f"{seconds / 3600:,.1f} h" if seconds < 172_800 else f"{seconds / 86400:,.1f} days"


def _age(value: object) -> str:
    if value is None or pd.isna(value):
        return "-"
    return _duration((datetime.now(UTC) - pd.Timestamp(value).to_pydatetime()).total_seconds())


def jobs_page(run: RunData, perf: Performance) -> None:
    info = run.run
    alive = info["status"] == "running" and pid_alive(info.get("pid"))
    heartbeat = pd.to_datetime(info.get("heartbeat_at"), utc=True) if info.get("heartbeat_at") else None
    last_bar = run.equity.index[-1] if len(run.equity) else None
    last_event = pd.to_datetime(info.get("last_event_at"), utc=True) if info.get("last_event_at") else None
    cols = st.columns(4)
    cols[0].metric("Run status", f"{info['status']}" + (" (process alive)" if alive else ""))
    cols[1].metric("Heartbeat age", _age(heartbeat))
    cols[2].metric("Latest bar", f"{last_bar:%Y-%m-%d}" if last_bar is not None else "-",
                   help=f"{last_bar} (UTC); {_age(last_bar)} ago by the wall clock")
    freshness = (last_event - last_bar).total_seconds() if last_event is not None and last_bar is not None else None
    cols[3].metric("Feed lag (run clock)", _duration(freshness) if freshness is not None else "-",
                   help="the run's clock at its last event minus the latest priced bar")
    if run.jobs.empty:
        st.info("No job runs recorded (a backtest records failures and decisions only).")
        return
    st.subheader("Latest run of each job")
    st.dataframe(run.jobs.groupby("job").tail(1).sort_values("fired_at", ascending=False), hide_index=True)
    failed = run.jobs[run.jobs["status"] == "failed"]
    st.subheader("Failures")
    if failed.empty:
        st.caption("No failures.")
    else:
        st.dataframe(failed.sort_values("fired_at", ascending=False)[["job", "fired_at", "error", "detail"]],
                     hide_index=True)
    st.subheader("Recent job runs")
    st.dataframe(run.jobs.sort_values("id", ascending=False).head(50), hide_index=True)
