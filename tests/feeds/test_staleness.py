"""The freshness check the rebalance job gates trading on."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from daemon.feeds.staleness import check_freshness

NOW = pd.Timestamp("2024-08-05T13:00Z")  # a Monday morning in New York


class TestCheckFreshness:
    def test_fridays_close_is_fresh_on_monday_within_four_days(self) -> None:
        latest = {"AAPL": pd.Timestamp("2024-08-02T20:00Z"), "MSFT": pd.Timestamp("2024-08-02T20:00Z")}

        freshness = check_freshness(latest, NOW, timedelta(days=4))

        assert freshness.fresh and freshness.reason is None and freshness.stale == ()
        assert freshness.age == timedelta(days=2, hours=17)

    def test_old_data_is_not_fresh_and_says_why_and_which_keys(self) -> None:
        latest = {"AAPL": pd.Timestamp("2024-07-26T20:00Z"), "MSFT": None}

        freshness = check_freshness(latest, NOW, timedelta(days=4))

        assert not freshness.fresh and freshness.stale == ("AAPL", "MSFT")
        assert "is 9 days 17:00:00 old (max_staleness 4 days" in freshness.reason

    def test_one_stale_symbol_is_listed_while_the_market_data_stays_fresh(self) -> None:
        latest = {"AAPL": pd.Timestamp("2024-08-02T20:00Z"), "TWTR": pd.Timestamp("2022-10-27T20:00Z")}

        freshness = check_freshness(latest, NOW, timedelta(days=4))

        assert freshness.fresh and freshness.stale == ("TWTR",)

    def test_no_data_at_all_is_not_fresh(self) -> None:
        assert check_freshness({}, NOW, timedelta(days=4)).reason == "no data"

    def test_a_timestamp_after_now_is_refused_as_look_ahead(self) -> None:
        with pytest.raises(ValueError, match="look-ahead"):
            check_freshness({"AAPL": NOW + timedelta(hours=1)}, NOW, timedelta(days=4))
