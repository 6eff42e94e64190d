"""The Sentiment page on a real run's lake: texts scored by `tradingd sentiment backfill`
(VADER), the daily scores and the extremes the sentiment service stored."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from dashboard_testkit import figures, numbers, show, start, traces, tradingd, utc
from numpy.testing import assert_allclose

from state.lake import Lake

pytestmark = pytest.mark.slow


def daily_from_lake(root, column: str) -> pd.DataFrame:
    """The service's ``sentiment_daily`` rows as (UTC day x symbol), read straight from the lake."""
    rows = Lake(root).read("sentiment_daily", as_of=pd.Timestamp.now(tz="UTC"))
    assert set(rows["model"]) == {"vader"}
    return rows.pivot_table(index="ts", columns="symbol", values=column).sort_index()


class TestSentimentPage:
    @pytest.mark.parametrize("column", ["mean_score", "decayed_score"])
    def test_the_daily_score_per_symbol_is_what_the_service_stored(self, sentiment_run, monkeypatch, column) -> None:
        db, _, lake = sentiment_run
        app = show(start(monkeypatch, "--db", str(db)), "Sentiment")
        app.radio(key="sentiment_score").set_value(column).run()
        expected = daily_from_lake(lake, column)
        assert list(expected.columns) == ["AAPL", "MSFT", "XOM"] and len(expected) == 6
        lines = traces(figures(app)["Daily sentiment score per symbol"])
        assert list(lines) == list(expected.columns)
        for symbol, line in lines.items():
            assert [utc(x) for x in line["x"]] == list(expected.index)
            assert_allclose(numbers(line["y"]), expected[symbol].to_numpy())
        assert any(str(lake) in c.value and c.value.startswith("vader scores") for c in app.caption)

    def test_the_extremes_are_those_of_tradingd_sentiment_top(self, sentiment_run, monkeypatch) -> None:
        db, _, lake = sentiment_run
        home = lake.parents[1]
        top = json.loads(tradingd("sentiment", "top", "--days", "100000", "--json", "--config",
                                  str(home / "config.toml"), cwd=home).stdout)
        app = show(start(monkeypatch, "--db", str(db)), "Sentiment")
        positive, negative = app.dataframe[0].value, app.dataframe[1].value
        assert top["model"] == "vader"
        assert list(positive["snippet"]) == [r["snippet"] for r in top["most positive"]]
        assert list(negative["snippet"]) == [r["snippet"] for r in top["most negative"]]
        assert_allclose(positive["score"], [r["score"] for r in top["most positive"]])
        assert positive["score"].iloc[0] > 0.5 > -0.5 > negative["score"].iloc[0]

    def test_the_texts_narrow_to_one_symbol(self, sentiment_run, monkeypatch) -> None:
        db, _, _ = sentiment_run
        app = show(start(monkeypatch, "--db", str(db)), "Sentiment")
        app.selectbox(key="sentiment_symbol").set_value("AAPL").run()
        positive, negative = app.dataframe[0].value, app.dataframe[1].value
        assert all("AAPL" in s.split() for s in [*positive["symbols"], *negative["symbols"]])
        assert all("soar" in s for s in positive["snippet"])
        assert all("lawsuit" in s for s in negative["snippet"])
