"""Allocation: HRP and mean-variance against pypfopt called directly, screening, tilt."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from portfolio_testkit import sp500_returns, synthetic_returns
from pydantic import ValidationError
from pypfopt import EfficientFrontier, HRPOpt, expected_returns, risk_models

from strategies.allocation import (
    AllocationConfig,
    HRPAllocator,
    MeanVarianceAllocator,
    MeanVarianceConfig,
    clean_returns,
    estimate_covariance,
    forecast_tilt,
    risk_adjusted_median,
    screen_returns,
)
from strategies.allocation._hrp import LINKAGE_METHODS


def _window(start: int = 5000, length: int = 252, n_assets: int = 20) -> pd.DataFrame:
    return sp500_returns().iloc[start : start + length, :n_assets]


class TestHRPAllocator:
    @pytest.mark.parametrize("linkage", LINKAGE_METHODS)
    def test_weights_equal_pypfopt_hrpopt_on_the_same_window(self, linkage):
        for start in (1000, 5000, 7800):
            window = _window(start)
            expected = pd.Series(HRPOpt(returns=window).optimize(linkage_method=linkage))

            weights = HRPAllocator(linkage).fit(window).weights_

            assert list(weights.index) == list(window.columns)
            assert_allclose(weights.to_numpy(), expected[window.columns].to_numpy(), atol=1e-12)

    def test_ledoit_wolf_weights_equal_pypfopt_given_the_shrunk_covariance(self):
        window = _window(3000, 126)
        cov = risk_models.CovarianceShrinkage(window, returns_data=True).ledoit_wolf()
        expected = pd.Series(HRPOpt(cov_matrix=cov).optimize())

        weights = HRPAllocator(covariance="ledoit_wolf").fit(window).weights_

        assert_allclose(weights.to_numpy(), expected[window.columns].to_numpy(), atol=1e-12)

    def test_weights_are_positive_and_fully_invested(self):
        weights = HRPAllocator().fit(_window()).weights_

        assert (weights > 0).all()
        assert_allclose(weights.sum(), 1.0)

    def test_a_single_asset_gets_the_whole_budget(self):
        allocator = HRPAllocator().fit(_window(n_assets=1))

        assert_allclose(allocator.weights_.to_numpy(), [1.0])
        assert allocator.clusters_ is None

    def test_duplicated_assets_share_their_cluster_weight(self):
        window = _window(n_assets=3)
        window = window.assign(COPY=window.iloc[:, 0])  # singular covariance

        weights = HRPAllocator().fit(window).weights_

        assert np.isfinite(weights).all()
        assert_allclose(weights.iloc[0], weights["COPY"])

    def test_unknown_linkage_is_rejected(self):
        with pytest.raises(ValueError, match="unknown linkage"):
            HRPAllocator("nearest").fit(_window())


class TestEstimateCovariance:
    def test_is_pypfopts_annualised_estimate(self):
        window = _window(n_assets=5)

        assert_allclose(
            estimate_covariance(window, "sample"), risk_models.sample_cov(window, returns_data=True)
        )
        assert_allclose(
            estimate_covariance(window, "ledoit_wolf"),
            risk_models.CovarianceShrinkage(window, returns_data=True).ledoit_wolf(),
        )


class TestMeanVarianceAllocator:
    def test_min_volatility_equals_pypfopt_efficient_frontier(self):
        window = _window(n_assets=8)
        ef = EfficientFrontier(
            expected_returns.mean_historical_return(window, returns_data=True),
            risk_models.sample_cov(window, returns_data=True),
        )
        expected = pd.Series(ef.min_volatility())

        weights = MeanVarianceAllocator("min_volatility").fit(window).weights_

        assert_allclose(weights.to_numpy(), expected[window.columns].to_numpy(), atol=1e-6)

    @pytest.mark.parametrize(
        "objective, target",
        [
            ("max_sharpe", {}),
            ("efficient_risk", {"target_volatility": 0.25}),
            ("efficient_return", {"target_return": 0.10}),
        ],
    )
    def test_objectives_respect_per_asset_bounds_and_the_max_weight_cap(self, objective, target):
        window = _window(2000, 504, 10)
        allocator = MeanVarianceAllocator(
            objective, max_weight=0.3, asset_bounds={"AAPL": (0.05, 0.1)}, **target
        ).fit(window)
        w = allocator.weights_

        assert_allclose(w.sum(), 1.0)
        assert w.max() <= 0.3 + 1e-6 and w.min() >= 0
        assert 0.05 - 1e-6 <= w["AAPL"] <= 0.1 + 1e-6

    def test_sector_limits_hold(self):
        window = _window(n_assets=6)
        sectors = {
            "AAPL": "tech",
            "AMD": "tech",
            "BAC": "fin",
            "BBY": "retail",
            "CVX": "energy",
            "GE": "industrial",
        }
        w = (
            MeanVarianceAllocator(
                "min_volatility",
                sector_map=sectors,
                sector_upper={"tech": 0.1},
                sector_lower={"fin": 0.3},
            )
            .fit(window)
            .weights_
        )

        assert w["AAPL"] + w["AMD"] <= 0.1 + 1e-6
        assert w["BAC"] >= 0.3 - 1e-6

    def test_turnover_limit_keeps_the_book_near_current_weights(self):
        window = _window(n_assets=6)
        current = pd.Series(1 / 6, index=window.columns) * 0.5  # scaled down by a vol target
        free = MeanVarianceAllocator("min_volatility").fit(window, current).weights_
        limited = (
            MeanVarianceAllocator("min_volatility", turnover_limit=0.2)
            .fit(window, current)
            .weights_
        )

        assert (free - 1 / 6).abs().sum() > 0.2
        assert (limited - 1 / 6).abs().sum() <= 0.2 + 1e-6

    def test_turnover_penalty_trades_less_than_no_penalty(self):
        window = _window(n_assets=6)
        current = pd.Series(1 / 6, index=window.columns)
        free = MeanVarianceAllocator("min_volatility").fit(window, current).weights_
        penalised = (
            MeanVarianceAllocator("min_volatility", turnover_penalty=0.05)
            .fit(window, current)
            .weights_
        )

        assert (penalised - current).abs().sum() < (free - current).abs().sum() - 0.01

    def test_turnover_control_is_skipped_when_nothing_is_held(self):
        window = _window(n_assets=6)

        w = (
            MeanVarianceAllocator("min_volatility", turnover_limit=0.01)
            .fit(window, pd.Series(dtype=float))
            .weights_
        )

        assert_allclose(
            w.to_numpy(), MeanVarianceAllocator().fit(window).weights_.to_numpy(), atol=1e-6
        )

    def test_bounds_that_cannot_sum_to_one_raise(self):
        with pytest.raises(ValueError, match="cannot sum to 1"):
            MeanVarianceAllocator(max_weight=0.1).fit(_window(n_assets=5))


class TestScreenReturns:
    def test_inf_and_impossible_returns_become_missing(self):
        raw = pd.DataFrame({"A": [0.01, np.inf, -1.0, -1.5, 0.02]})

        cleaned = clean_returns(raw)

        assert_allclose(cleaned["A"].to_numpy(), [0.01, np.nan, np.nan, np.nan, 0.02])

    def test_short_history_and_constant_assets_are_excluded_with_reasons(self):
        returns = synthetic_returns(300, 3).assign(NEW=np.nan, FLAT=0.0)
        returns.iloc[-50:, returns.columns.get_loc("NEW")] = 0.01 * np.sin(np.arange(50))

        screened = screen_returns(returns, lookback=252, min_history=126, min_daily_vol=1e-8)

        assert screened.symbols == ["S0", "S1", "S2"]
        assert screened.excluded == {
            "NEW": "too_short_history (50 < 126 returns)",
            "FLAT": "constant_price (no return variation)",
        }
        assert screened.window.shape == (252, 3)

    def test_gappy_asset_goes_when_complete_rows_run_short(self):
        returns = synthetic_returns(252, 3)
        values = returns.to_numpy(copy=True)
        values[::2, 2] = np.nan  # half of S2 missing: 126 finite values, but gaps everywhere
        values[1::4, 1] = np.nan
        returns = pd.DataFrame(values, index=returns.index, columns=returns.columns)

        screened = screen_returns(returns, lookback=252, min_history=126, min_daily_vol=0.0)

        assert screened.symbols == ["S0", "S1"]
        assert screened.excluded["S2"].startswith("gaps_shrink_common_window")
        assert not screened.window.isna().any().any()


class TestForecastTilt:
    def setup_method(self):
        self.weights = pd.Series([0.5, 0.3, 0.2], index=["A", "B", "C"])

    def test_no_forecasts_or_zero_strength_is_neutral(self):
        forecasts = pd.DataFrame(
            {"q10": [-0.02] * 3, "q50": [0.01] * 3, "q90": [0.03] * 3}, index=["A", "B", "C"]
        )

        for tilt in (
            forecast_tilt(self.weights, None, strength=0.5, cap=2),
            forecast_tilt(self.weights, forecasts, strength=0.0, cap=2),
        ):
            pd.testing.assert_series_equal(tilt.weights, self.weights)
            assert_allclose(tilt.multipliers.to_numpy(), 1.0)

    def test_tilt_follows_the_documented_formula(self):
        forecasts = pd.DataFrame(
            {"q10": [-0.02, -0.03, 0.0], "q50": [0.01, -0.005, 0.045], "q90": [0.03, 0.02, 0.05]},
            index=["A", "B", "C"],
        )
        sigma = (forecasts.q90 - forecasts.q10) / (2 * 1.2815515655446004)
        score = (forecasts.q50 / sigma).clip(-2, 2)
        raw = self.weights * np.exp(0.25 * score)

        tilt = forecast_tilt(self.weights, forecasts, strength=0.25, cap=2)

        assert_allclose(tilt.weights.to_numpy(), (raw / raw.sum()).to_numpy())
        assert_allclose(tilt.multipliers.to_numpy(), np.exp(0.25 * score).to_numpy())
        assert_allclose(risk_adjusted_median(forecasts)["C"], 0.045 / sigma["C"])
        assert score["C"] == 2  # capped

    def test_unusable_or_missing_forecasts_are_neutral_and_reported(self):
        forecasts = pd.DataFrame(
            {"q10": [0.02, -0.01], "q50": [0.01, 0.0], "q90": [0.03, np.nan]}, index=["A", "B"]
        )

        tilt = forecast_tilt(self.weights, forecasts, strength=0.5, cap=2)

        assert_allclose(tilt.multipliers.to_numpy(), 1.0)
        assert tilt.neutral == {
            "A": "forecast_unusable (non-finite or crossing quantiles)",
            "B": "forecast_unusable (non-finite or crossing quantiles)",
            "C": "no_forecast",
        }

    def test_total_is_preserved_when_weights_hold_cash(self):
        forecasts = pd.DataFrame({"q10": [-0.01], "q50": [0.02], "q90": [0.03]}, index=["A"])

        tilt = forecast_tilt(self.weights * 0.6, forecasts, strength=1.0, cap=2)

        assert_allclose(tilt.weights.sum(), 0.6)
        assert tilt.weights["A"] > 0.3


class TestAllocationConfig:
    def test_defaults(self):
        cfg = AllocationConfig()

        assert (cfg.method, cfg.covariance, cfg.lookback, cfg.hrp.linkage) == (
            "hrp",
            "sample",
            252,
            "single",
        )
        assert (cfg.tilt.strength, cfg.tilt.cap) == (0.25, 2.0)

    @pytest.mark.parametrize(
        "settings, message",
        [
            (
                {"objective": "efficient_risk"},
                "target_volatility: required by objective efficient_risk",
            ),
            (
                {"objective": "max_sharpe", "turnover_limit": 0.5},
                "not supported with objective max_sharpe",
            ),
            ({"sector_upper": {"tech": 0.2}}, "sector_upper.tech: unknown sector"),
            ({"weight_bounds": (0.5, 0.2)}, "weight_bounds: must satisfy 0 <= lower <= upper <= 1"),
        ],
    )
    def test_inconsistent_mean_variance_settings_are_rejected(self, settings, message):
        with pytest.raises(ValidationError, match=message):
            MeanVarianceConfig(**settings)
