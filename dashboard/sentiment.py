"""The Sentiment page: the daily score per symbol and the extreme texts, from the run's lake.

The sentiment service (``daemon.sentiment``) stores one row per scored text in the lake's
``sentiment`` dataset and per symbol and UTC day in ``sentiment_daily``; SQLite keeps only
the latest day (``sentiment_latest``). The page reads the lake (``dashboard.lake``) over
the run's dates, as known now, and one model's scores at a time: the model of the newest
row unless the reader picks another. The extremes are ``tradingd sentiment top``'s
(``daemon.sentiment.top_texts``).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from daemon.sentiment import top_texts
from dashboard import charts
from dashboard.data import RunData
from dashboard.lake import lake_candidates, run_lake
from dashboard.views import Performance
from state.lake import Lake

__all__ = ["RunSentiment", "daily_scores", "read_sentiment", "sentiment_page"]

LEAD = pd.Timedelta(days=30)  # daily scores shown before the run's first mark
SCORES = {"mean_score": "mean score of the day's texts", "decayed_score": "exponentially decayed score"}
TEXT_COLUMNS = ["ts", "source", "symbols", "score", "label", "snippet"]


@dataclass(frozen=True)
class RunSentiment:
    """The lake's daily sentiment rows over a run's dates (``sentiment_daily`` columns:
    symbol, ts (the UTC day), available_at, model, mean_score, count, ..., decayed_score)."""

    lake: Lake
    daily: pd.DataFrame
    start: pd.Timestamp
    end: pd.Timestamp

    @property
    def models(self) -> list[str]:
        """The models with scores, the one of the newest row first."""
        newest = self.daily.sort_values("available_at", kind="stable")["model"].iloc[::-1]
        return list(dict.fromkeys(newest))


def _window(run: RunData, now: pd.Timestamp) -> tuple[pd.Timestamp, pd.Timestamp]:
    """From a month before the first mark to the last (to now while the run is running)."""
    if run.equity.empty:
        return now - pd.Timedelta(days=90), now
    first, last = run.equity.index[0], run.equity.index[-1]
    return first - LEAD, (max(now, last) if run.run.get("status") == "running" else last)


def read_sentiment(run: RunData, now: pd.Timestamp | None = None) -> RunSentiment | str:
    """The run's daily sentiment, or why there is none (one line)."""
    now = now or pd.Timestamp.now(tz="UTC")
    lake = run_lake(run)
    if lake is None:
        return f"no lake for this run (looked in {', '.join(map(str, lake_candidates(run)))})"
    start, end = _window(run, now)
    symbols = run.config.get("market", {}).get("symbols") or None
    daily = lake.read("sentiment_daily", symbols, start, end, as_of=now)
    if daily.empty:
        return f"the lake at {lake.root} has no daily scores from {start:%Y-%m-%d} to {end:%Y-%m-%d}"
    return RunSentiment(lake, daily, start, end)


def daily_scores(daily: pd.DataFrame, model: str, column: str = "mean_score") -> pd.DataFrame:
    """One model's ``column`` as a table (UTC day x symbol); NaN on days without texts."""
    mine = daily[daily["model"] == model]
    table = mine.pivot_table(index="ts", columns="symbol", values=column, aggfunc="last").sort_index()
    table.columns.name = None
    return table


def _figure(table: pd.DataFrame, label: str) -> go.Figure:
    fig = go.Figure([go.Scatter(x=table.index, y=table[s], name=str(s), mode="lines+markers", connectgaps=False)
                     for s in table.columns])
    fig.update_yaxes(title_text=label)
    fig.update_layout(title="Daily sentiment score per symbol", template=charts.TEMPLATE, height=440,
                      legend={"orientation": "v", "y": 1, "yanchor": "top", "x": 1.01, "xanchor": "left"})
    return fig


def sentiment_page(run: RunData, perf: Performance) -> None:
    found = read_sentiment(run)
    if isinstance(found, str):
        st.info(f"No sentiment data yet: {found}.")
        return
    left, right = st.columns(2)
    model = left.selectbox("model", found.models, key="sentiment_model")
    column = right.radio("score", list(SCORES), format_func=SCORES.get, horizontal=True, key="sentiment_score")
    table = daily_scores(found.daily, model, column)
    st.caption(f"{model} scores from {found.lake.root}, {found.start:%Y-%m-%d} .. {found.end:%Y-%m-%d}")
    st.plotly_chart(_figure(table, SCORES[column]), key="sentiment_chart")
    left, right = st.columns(2)
    symbol = left.selectbox("texts about", ["every symbol", *table.columns], key="sentiment_symbol")
    days = right.select_slider("over the last", [7, 30, 90, 365], value=30, format_func=lambda d: f"{d} days",
                               key="sentiment_days")
    top = top_texts(found.lake, found.end - pd.Timedelta(days=days), found.end,
                    as_of=pd.Timestamp.now(tz="UTC"), symbol=None if symbol == "every symbol" else symbol,
                    model=model)
    if top.positive.empty:
        st.caption(f"No scored texts in the {days} days to {found.end:%Y-%m-%d}.")
        return
    left, right = st.columns(2)
    left.caption(f"Most positive, {days} days to {found.end:%Y-%m-%d}")
    left.dataframe(top.positive[TEXT_COLUMNS], hide_index=True)
    right.caption(f"Most negative, {days} days to {found.end:%Y-%m-%d}")
    right.dataframe(top.negative[TEXT_COLUMNS], hide_index=True)
