"""``risk.vol_source``: the risk model on GARCH's vols, the model's rv median, or a blend."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from portfolio_testkit import sp500_returns

from core.settings import ConfigError
from strategies.portfolio import PortfolioConstructor
from strategies.portfolio_config import load_portfolio_config
from strategies.risk import NO_MODEL_FORECAST, VolatilityForecast, combine_vol

CRISIS = pd.Timestamp("2008-10-31")
EMPTY = pd.Series(dtype=float)
SYMBOLS = ["A", "B", "C"]


def _garch() -> VolatilityForecast:
    return VolatilityForecast(
        vol=pd.Series([0.01, 0.02, 0.015], index=SYMBOLS),
        source=pd.Series(["garch_fit", "garch_filter", "ewma"], index=SYMBOLS, dtype=object),
        fallback={"C": "too_short_for_garch (100 < 250 obs)"},
    )


SAMPLE = pd.Series([0.012, 0.018, 0.015], index=SYMBOLS)


class TestCombineVol:
    def test_model_uses_the_forecast_median_and_keeps_garch_where_there_is_none(self):
        model = pd.Series({"A": 0.02, "C": 0.03})  # no forecast for B
        out = combine_vol(_garch(), model, SAMPLE, source="model")
        assert_allclose(out.vol.to_numpy(), [0.02, 0.02, 0.03])
        assert list(out.source) == ["model", "garch_filter", "model"]
        assert out.fallback["B"] == NO_MODEL_FORECAST
        assert out.fallback["C"] == "too_short_for_garch (100 < 250 obs)"  # GARCH's own note stays

    def test_blend_mixes_variances_and_lies_between_the_two(self):
        model = pd.Series({"A": 0.02, "B": 0.01, "C": 0.015})
        out = combine_vol(_garch(), model, SAMPLE, source="blend", blend=0.25)
        expected = np.sqrt(0.25 * np.array([0.02, 0.01, 0.015]) ** 2 + 0.75 * np.array([0.01, 0.02, 0.015]) ** 2)
        assert_allclose(out.vol.to_numpy(), expected, rtol=1e-12)
        assert out.vol["A"] == pytest.approx(np.sqrt(1.75e-4))  # sqrt(0.25 * 4e-4 + 0.75 * 1e-4)
        assert 0.01 < out.vol["A"] < 0.02 and 0.01 < out.vol["B"] < 0.02
        assert set(out.source) == {"blend"}

    def test_the_blend_weight_runs_from_garch_to_the_model(self):
        model = pd.Series({"A": 0.02, "B": 0.01, "C": 0.03})
        assert_allclose(combine_vol(_garch(), model, SAMPLE, source="blend", blend=0.0).vol, _garch().vol)
        assert_allclose(combine_vol(_garch(), model, SAMPLE, source="blend", blend=1.0).vol, model[SYMBOLS])

    def test_unusable_forecasts_fall_back_to_garch_each_with_its_reason(self):
        model = pd.Series({"A": np.nan, "B": -0.01, "C": 0.0001})  # C: 0.0001 / 0.015 < 1/10
        out = combine_vol(_garch(), model, SAMPLE, source="model", max_ratio=10.0)
        assert_allclose(out.vol, _garch().vol)
        assert list(out.source) == ["garch_fit", "garch_filter", "ewma"]
        assert out.fallback["A"] == NO_MODEL_FORECAST
        assert out.fallback["B"].startswith("model_vol_nonpositive")
        assert out.fallback["C"].startswith("too_short_for_garch") and "model_vol_implausible" in out.fallback["C"]

    def test_no_forecast_at_all_is_garch_everywhere(self):
        out = combine_vol(_garch(), None, SAMPLE, source="blend")
        assert_allclose(out.vol, _garch().vol)
        assert {out.fallback[s].split("; ")[-1] for s in SYMBOLS} == {NO_MODEL_FORECAST}

    def test_garch_source_is_garch_itself(self):
        garch = _garch()
        assert combine_vol(garch, pd.Series({"A": 0.5}), SAMPLE, source="garch") is garch
        assert combine_vol(garch, pd.Series({"A": 0.5}), None, source="garch") is garch

    def test_the_model_source_needs_sample_vols_to_check_the_model_against(self):
        with pytest.raises(ValueError, match="sample vols"):
            combine_vol(_garch(), pd.Series({"A": 0.01}), None, source="model")


def _decide(source: str, model_vol: pd.Series | None = None, **risk):
    returns = sp500_returns().loc[:CRISIS].iloc[:, :8]
    config = load_portfolio_config({"risk": {"max_var": False, "vol_source": source, **risk}})
    frame = None if model_vol is None else pd.DataFrame({"q10": model_vol / 2, "q50": model_vol, "q90": model_vol * 2})
    return PortfolioConstructor(config).construct(returns, EMPTY, None, CRISIS, vol_forecasts=frame)


@pytest.fixture(scope="module")
def garch_decision():
    return _decide("garch")


class TestDecisionVolSource:
    def test_a_model_decision_prices_risk_with_the_forecast_vol(self, garch_decision):
        # October 2008: the 15 % target binds. A model forecasting twice GARCH's vol for
        # every asset doubles the book's forecast vol, so the exposure is exactly halved.
        daily_garch = garch_decision.diagnostics["garch_vol"] / np.sqrt(252)
        decision = _decide("model", 2 * daily_garch)
        assert garch_decision.bound == decision.bound == "target_vol"
        assert decision.scale == pytest.approx(garch_decision.scale / 2, rel=1e-9)
        assert decision.vol == pytest.approx(0.15, rel=1e-9)
        diag = decision.diagnostics
        assert_allclose(diag["risk_vol"], 2 * garch_decision.diagnostics["garch_vol"], rtol=1e-12)
        assert_allclose(diag["model_vol"], diag["risk_vol"], rtol=1e-12)
        assert_allclose(diag["garch_vol"], garch_decision.diagnostics["garch_vol"], rtol=1e-12)
        assert set(diag["vol_source"]) == {"model"} and set(diag["fallback"]) == {""}

    def test_a_blend_decision_lies_between_garch_and_the_model(self, garch_decision):
        daily_garch = garch_decision.diagnostics["garch_vol"] / np.sqrt(252)
        decision = _decide("blend", 2 * daily_garch, vol_blend=0.5)
        # Every variance is 0.5 * 4 + 0.5 * 1 = 2.5 times GARCH's: the scale is 1 / sqrt(2.5).
        assert decision.scale == pytest.approx(garch_decision.scale / np.sqrt(2.5), rel=1e-9)
        assert garch_decision.scale / 2 < decision.scale < garch_decision.scale
        assert set(decision.diagnostics["vol_source"]) == {"blend"}

    def test_a_missing_forecast_falls_back_to_garch_for_that_symbol_with_a_reason(self, garch_decision):
        daily_garch = garch_decision.diagnostics["garch_vol"] / np.sqrt(252)
        forecast = (2 * daily_garch).drop("AAPL")
        decision = _decide("model", forecast)
        diag = decision.diagnostics
        assert diag.loc["AAPL", "risk_vol"] == pytest.approx(diag.loc["AAPL", "garch_vol"], rel=1e-12)
        assert diag.loc["AAPL", "vol_source"] == "garch_fit" and diag.loc["AAPL", "fallback"] == NO_MODEL_FORECAST
        assert np.isnan(diag.loc["AAPL", "model_vol"])
        others = diag.index != "AAPL"
        assert set(diag.loc[others, "vol_source"]) == {"model"}
        assert [n.symbol for n in decision.notes if n.event == "vol_source_fallback"] == ["AAPL"]
        assert garch_decision.scale / 2 < decision.scale < garch_decision.scale

    def test_without_any_forecast_the_model_source_decides_as_garch_and_says_so(self, garch_decision):
        decision = _decide("model", None)
        assert decision.scale == pytest.approx(garch_decision.scale, rel=1e-12)
        assert_allclose(decision.weights, garch_decision.weights, rtol=1e-12)
        assert [str(n) for n in decision.notes if n.event == "vol_source_fallback"] == [
            f"vol_source_fallback: {NO_MODEL_FORECAST}"
        ]

    def test_the_garch_source_ignores_model_forecasts(self, garch_decision):
        daily_garch = garch_decision.diagnostics["garch_vol"] / np.sqrt(252)
        decision = _decide("garch", 2 * daily_garch)
        assert decision.scale == pytest.approx(garch_decision.scale, rel=1e-12)
        assert set(decision.diagnostics["vol_source"]) == {"garch_fit"}

    def test_config_names_a_bad_source_or_blend_weight(self):
        with pytest.raises(ConfigError, match="risk.vol_source"):
            load_portfolio_config({"risk": {"vol_source": "lstm"}})
        with pytest.raises(ConfigError, match="risk.vol_blend"):
            load_portfolio_config({"risk": {"vol_blend": 1.5}})


@pytest.mark.slow
class TestPointInTime:
    def test_only_a_vol_forecast_received_by_the_decision_time_is_used(self) -> None:
        from core.bus import EventBus
        from core.clock import ReplayClock
        from core.events import ForecastReady, RiskAssessed, freeze
        from daemon.feeds.bundled import BundledPrices
        from strategies.allocation.config import AllocationConfig
        from strategies.managed import ManagedPortfolio
        from strategies.risk.config import RiskConfig
        from strategies.runner import StrategyRunner

        prices = BundledPrices("skfolio_sp500", timezone="America/New_York", close_time=time(16))
        first = prices.index_of(datetime(2012, 1, 3).date())
        bars = prices.history(first - 300, first + 1)
        decided_at = bars[-1].ts + timedelta(minutes=45)

        def decide(made_at: datetime | None) -> RiskAssessed:
            clock = ReplayClock(bars[0].ts)
            bus = EventBus()
            risk = RiskConfig(max_var=None, target_vol=0.05, vol_source="model")
            runner = StrategyRunner(
                ManagedPortfolio(AllocationConfig(), risk), clock=clock, frequency="monthly",
                timezone="America/New_York",
            )
            runner.attach(bus)
            for bar in bars:
                clock.advance_to(bar.ts)
                bus.publish(bar)
                bus.drain()
            clock.advance_to(decided_at)
            if made_at is not None:
                n = len(prices.symbols)
                vol = freeze(np.tile([0.02, 0.03, 0.045], (n, 1)))  # daily rv_20 quantiles
                bus.publish(ForecastReady(
                    ts=made_at, symbols=prices.symbols, levels=(0.1, 0.5, 0.9), quantiles=freeze(np.zeros((n, 3))),
                    horizon=20, model="test", vol=vol, vol_horizon=20,
                ))
                bus.drain()
            events, _ = runner.decide()
            return events[0]

        before = decide(decided_at - timedelta(minutes=5)).assessment
        stamped_later = decide(decided_at + timedelta(minutes=5)).assessment
        none = decide(None).assessment
        assert {d["vol_source"] for d in before.diagnostics.values()} == {"model"}
        assert all(d["risk_vol"] == pytest.approx(0.03 * np.sqrt(252)) for d in before.diagnostics.values())
        # A forecast stamped after the decision is not used, even though it is on the bus.
        for late in (stamped_later, none):
            assert {d["vol_source"] for d in late.diagnostics.values()} <= {"garch_fit", "garch_filter", "ewma"}
            assert all(d["fallback"] == NO_MODEL_FORECAST for d in late.diagnostics.values())
            assert late.scale == pytest.approx(none.scale, rel=1e-12)
        assert before.limits["vol_source"] == "model"
