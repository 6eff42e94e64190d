"""The Models and Sentiment pages, over tables that other parts of tradingd add.

``models`` (version, family, status, metrics, reason, created_at, activated_at),
``forecasts`` (ts, symbol, target, quantile levels and values, model version) and a
``sentiment`` table or view are optional: a page whose table is absent says so in one
line. Forecast quantiles are read in any of three shapes (long ``quantile``/``value``
rows, JSON lists of levels and values, or ``p10``/``q50``-style columns).
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard import charts
from dashboard.data import RunData
from dashboard.views import Performance, model_events

__all__ = ["forecast_quantiles", "models_page", "sentiment_page"]

_WIDE = re.compile(r"^[pq](\d{1,2})$")


def _json_list(value: object) -> list[float]:
    if isinstance(value, str):
        value = json.loads(value)
    return [float(v) for v in value] if isinstance(value, list | tuple) else []


def forecast_quantiles(forecasts: pd.DataFrame) -> pd.DataFrame:
    """Long rows (ts, symbol, target, quantile, value) from whichever shape the table has."""
    cols = set(forecasts.columns)
    base = [c for c in ("ts", "symbol", "target") if c in cols]
    if {"quantile", "value"} <= cols:
        return forecasts[[*base, "quantile", "value"]]
    if {"levels", "quantiles"} <= cols:  # tradingd's own table (state/migrations.py, v6)
        levels, values = "levels", "quantiles"
    else:
        levels = next((c for c in ("quantile_levels", "quantiles", "levels") if c in cols), None)
        values = next((c for c in ("quantile_values", "values", "forecast") if c in cols), None)
    rows = []
    if levels and values:
        for record in forecasts.to_dict("records"):
            for q, v in zip(_json_list(record[levels]), _json_list(record[values]), strict=False):
                rows.append({**{c: record[c] for c in base}, "quantile": q, "value": v})
    else:
        wide = {c: int(_WIDE.match(c).group(1)) / 100 for c in cols if _WIDE.match(c)}
        for record in forecasts.to_dict("records"):
            rows += [{**{c: record[c] for c in base}, "quantile": q, "value": record[c]} for c, q in wide.items()]
    return pd.DataFrame(rows, columns=[*base, "quantile", "value"])


def _fan(long: pd.DataFrame) -> pd.DataFrame | None:
    """ts x {0.1, 0.5, 0.9}: the levels nearest to P10, P50 and P90."""
    table = long.pivot_table(index="ts", columns="quantile", values="value", aggfunc="last").sort_index()
    if table.shape[1] < 3:
        return None
    levels = np.asarray(table.columns, dtype=float)
    picked = {q: table.columns[int(np.abs(levels - q).argmin())] for q in (0.1, 0.5, 0.9)}
    return pd.DataFrame({q: table[c] for q, c in picked.items()})


def _realised(perf: Performance, symbol: str, target: str, index: pd.Index) -> pd.Series | None:
    """The return that followed each forecast time, over the horizon in the target's name
    (``return_5d`` -> 5 marks; one mark when it names none), from the run's closes."""
    if perf.closes is None or symbol not in perf.closes:
        return None
    found = re.search(r"(\d+)", target or "")
    horizon = int(found.group(1)) if found else 1
    close = perf.closes[symbol]
    forward = close.shift(-horizon) / close - 1.0
    if "log" in (target or ""):
        forward = np.log1p(forward)
    return forward.reindex(forward.index.union(index)).ffill().loc[index]


def models_page(run: RunData, perf: Performance) -> None:
    if run.models is None:
        st.info("No model data yet: this database has no `models` table.")
        return
    st.subheader("Model versions")
    if run.models.empty:
        st.caption("No model versions recorded.")
    else:
        st.dataframe(run.models, hide_index=True)
        events = model_events(run.models)
        if events is not None and len(run.equity):
            st.plotly_chart(charts.equity_figure(perf.equity, perf.drawdown, events=events), key="models_equity")
    if run.forecasts is None or run.forecasts.empty:
        st.caption("No forecasts recorded.")
        return
    long = forecast_quantiles(run.forecasts)
    if long.empty or not {"ts", "symbol"} <= set(long.columns):
        st.caption("The forecasts table has no quantile columns this page can read.")
        return
    symbols = sorted(long["symbol"].dropna().unique()) if "symbol" in long else []
    targets = sorted(long["target"].dropna().unique()) if "target" in long else [""]
    left, right = st.columns(2)
    symbol = left.selectbox("symbol", symbols, key="fan_symbol")
    target = right.selectbox("target", targets, key="fan_target")
    rows = long[(long["symbol"] == symbol) & ((long["target"] == target) if "target" in long else True)]
    fan = _fan(rows)
    if fan is None:
        st.caption("Fewer than three quantile levels: no fan to draw.")
        return
    st.plotly_chart(charts.fan_figure(fan, _realised(perf, symbol, target, fan.index), symbol), key="fan_chart")


def _pick(columns: list[str], names: tuple[str, ...]) -> str | None:
    return next((c for c in names if c in columns), None)


def sentiment_page(run: RunData, perf: Performance) -> None:
    frame = run.sentiment
    if frame is None:
        st.info("No sentiment data yet: this database has no `sentiment` table.")
        return
    if frame.empty:
        st.caption("No sentiment scores recorded.")
        return
    columns = list(frame.columns)
    when = _pick(columns, ("ts", "day", "date", "available_at"))
    score = _pick(columns, ("score", "sentiment", "mean_score"))
    symbol = _pick(columns, ("symbol", "ticker"))
    if when is None or score is None or symbol is None:
        st.dataframe(frame, hide_index=True)
        return
    stamps = pd.to_datetime(frame[when], utc=True, errors="coerce", format="mixed")
    daily = (
        frame.assign(day=stamps.dt.tz_convert(None).dt.normalize())
        .pivot_table(index="day", columns=symbol, values=score, aggfunc="mean")
        .sort_index()
    )
    fig = go.Figure([go.Scatter(x=daily.index, y=daily[s], name=str(s), mode="lines+markers") for s in daily.columns])
    fig.update_layout(title="Daily sentiment score per symbol", template=charts.TEMPLATE, height=420)
    st.plotly_chart(fig, key="sentiment_chart")
    text = _pick(columns, ("text", "title", "headline", "body"))
    if text is None:
        return
    recent = frame[stamps >= stamps.max() - pd.Timedelta(days=30)]
    shown = [c for c in (when, symbol, score, text) if c]
    left, right = st.columns(2)
    left.caption("Most positive (last 30 days)")
    left.dataframe(recent.nlargest(5, score)[shown], hide_index=True)
    right.caption("Most negative (last 30 days)")
    right.dataframe(recent.nsmallest(5, score)[shown], hide_index=True)
