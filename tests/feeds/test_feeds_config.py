"""The [feeds] config sections: defaults from the documented limits, errors that name keys."""

from __future__ import annotations

import pytest
from numpy.testing import assert_allclose
from pydantic import ValidationError

from daemon.feeds.config import FeedsConfig


def error_locations(table: dict) -> list[tuple[str, ...]]:
    with pytest.raises(ValidationError) as error:
        FeedsConfig.model_validate(table)
    return [tuple(str(part) for part in e["loc"]) for e in error.value.errors()]


class TestFeedsConfig:
    def test_defaults_follow_each_sources_documented_limits(self) -> None:
        config = FeedsConfig()

        assert_allclose(
            [
                config.yahoo.rate_limit.rate_per_s,
                config.fmp.rate_limit.rate_per_s,
                config.newsapi.rate_limit.rate_per_s,
            ],
            [2000 / 3600, 250 / 86400, 100 / 86400],
        )
        assert_allclose(config.reddit.rate_limit.rate_per_s, 1.0)
        assert config.fred.offline and config.fred.series == ("DCOILWTICO", "CPILFESL", "AAA", "BAA")
        assert config.reddit.subreddits == ("wallstreetbets", "investing")

    def test_toml_lists_and_dates_are_accepted(self) -> None:
        config = FeedsConfig.model_validate(
            {
                "fred": {"offline": False, "series": ["DFF", "DGS10"], "history_start": "1990-01-02"},
                "fmp": {"periods": ["annual"]},
            }
        )

        assert config.fred.series == ("DFF", "DGS10") and config.fred.history_start.year == 1990
        assert config.fmp.periods == ("annual",)

    @pytest.mark.parametrize(
        ("table", "location"),
        [
            ({"fmp": {"rate_limit": {"requests": 0, "per": "day"}}}, ("fmp", "rate_limit", "requests")),
            ({"newsapi": {"base_url": "ftp://example.org"}}, ("newsapi", "base_url")),
            ({"reddit": {"subredits": ["stocks"]}}, ("reddit", "subredits")),
            ({"fred": {"series": ["DFF"]}}, ("fred", "series")),
            ({"yahoo": {"rate_limit": {"requests": 5, "per": "hour", "burst": 9}}}, ("yahoo", "rate_limit", "burst")),
            ({"fmp": {"statements": ["cashflows"]}}, ("fmp", "statements", "0")),
        ],
    )
    def test_an_invalid_value_is_reported_at_its_key(self, table: dict, location: tuple[str, ...]) -> None:
        assert error_locations(table) == [location]

    def test_sections_are_frozen(self) -> None:
        with pytest.raises(ValidationError):
            FeedsConfig().fmp.page_size = 5  # type: ignore[misc]
