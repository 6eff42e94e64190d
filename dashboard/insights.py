"""The Models page: versions with status, their swaps on the equity timeline, forecast fans.

The versions and events come from ``dashboard.learning`` (the run's forecasts and retrain
jobs, and the ``models`` table). A run with none of them says so in one line. Forecast
quantiles are read in any of three shapes (long ``quantile``/``value`` rows, JSON lists
of levels and values as tradingd writes them, or ``p10``/``q50``-style columns); what
happened after each forecast is tradingd's own target (``models.features.build_targets``)
on the run's closes.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import charts
from dashboard.data import RunData
from dashboard.learning import model_events, model_versions
from dashboard.views import Performance
from models.features import build_targets

__all__ = ["forecast_quantiles", "models_page", "realised_targets"]

_WIDE = re.compile(r"^[pq](\d{1,2})$")
_TARGET = re.compile(r"^(ret|rv)_(\d+)$")  # models.features.target_names


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


def realised_targets(closes: pd.DataFrame, symbol: str, target: str) -> pd.Series | None:
    """What a forecast of ``target`` made on each day turned out to be, from the closes
    (marks x symbols, UTC): tradingd's ``ret_H`` (log return over the next H sessions) and
    ``rv_H`` (realised daily volatility over them), as the training labels are built;
    indexed by each day's last mark. ``None`` for a target of another name or a symbol
    without closes; NaN where the run did not see the future."""
    found = _TARGET.match(target or "")
    if found is None or symbol not in closes:
        return None
    kind, horizon = found.group(1), int(found.group(2))
    marks = closes.index.to_series()
    last_of_day = marks.groupby(marks.index.normalize()).last()
    sessions = closes.loc[last_of_day.to_numpy(), [symbol]].astype(float)
    labels = build_targets(sessions, (horizon,) if kind == "ret" else (), horizon if kind == "rv" else None)
    return pd.Series(labels[:, 0, 0].astype(float), index=sessions.index)


def _realised(perf: Performance, symbol: str, target: str, index: pd.Index) -> pd.Series | None:
    """``realised_targets`` at each forecast time: the mark at or before it."""
    if perf.closes is None:
        return None
    realised = realised_targets(perf.closes, symbol, target)
    if realised is None:
        return None
    return realised.reindex(index, method="ffill")  # the last mark's label, NaN kept: no future filled in


def models_page(run: RunData, perf: Performance) -> None:
    versions = model_versions(run)
    if versions is None:
        st.info("No model data yet: this run published and served no model, and the models table is empty.")
        return
    st.subheader("Model versions")
    st.dataframe(versions, hide_index=True)
    events = model_events(run)
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
