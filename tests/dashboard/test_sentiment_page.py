"""The Sentiment page on a real run's lake (conftest's ``learning_run``): texts scored by
`tradingd sentiment backfill` (VADER), the daily scores and the extremes the sentiment
service stored."""

from __future__ import annotations

import pandas as pd
import pytest
from dashboard_testkit import figures, numbers, query, show, start, traces, utc
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
    def test_the_daily_score_per_symbol_is_what_the_service_stored(self, learning_run, monkeypatch, column) -> None:
        db, _, lake = learning_run
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

    def test_the_extremes_are_the_highest_and_lowest_scores_of_the_last_30_days(self, learning_run, monkeypatch) -> None:
        db, run_id, lake = learning_run
        ((last_mark,),) = query(db, "select max(ts) from equity where run_id = ?", run_id)
        end = pd.Timestamp(last_mark)
        scored = Lake(lake).read("sentiment", start=end - pd.Timedelta(days=30), end=end, as_of=pd.Timestamp.now(tz="UTC"))
        assert len(scored) == 36 and set(scored["model"]) == {"vader"}
        app = show(start(monkeypatch, "--db", str(db)), "Sentiment")
        positive, negative = app.dataframe[0].value, app.dataframe[1].value
        ranked = scored.sort_values("score")
        assert_allclose(positive["score"], ranked["score"].iloc[::-1].head(5))
        assert_allclose(negative["score"], ranked["score"].head(5))
        headline = lambda snippet: snippet.rsplit(" (day", 1)[0]  # noqa: E731
        assert {headline(s) for s in positive["snippet"]} == {headline(s) for s in ranked["snippet"].iloc[::-1].head(5)}
        assert {headline(s) for s in negative["snippet"]} == {headline(s) for s in ranked["snippet"].head(5)}
        assert positive["score"].iloc[0] > 0.5 > -0.5 > negative["score"].iloc[0]

    def test_the_texts_narrow_to_one_symbol(self, learning_run, monkeypatch) -> None:
        db, _, _ = learning_run
        app = show(start(monkeypatch, "--db", str(db)), "Sentiment")
        app.selectbox(key="sentiment_symbol").set_value("AAPL").run()
        positive, negative = app.dataframe[0].value, app.dataframe[1].value
        assert all("AAPL" in s.split() for s in [*positive["symbols"], *negative["symbols"]])
        assert all("soar" in s for s in positive["snippet"])
        assert all("lawsuit" in s for s in negative["snippet"])
