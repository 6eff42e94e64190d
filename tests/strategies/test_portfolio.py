"""PortfolioConstructor end to end on real data, fallbacks, state, and the config loader."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from portfolio_testkit import sp500_returns, synthetic_returns
from pypfopt import HRPOpt
from structlog.testing import capture_logs

from core.settings import ConfigError
from strategies.allocation import MeanVarianceAllocator
from strategies.portfolio import LookAheadError, PortfolioConstructor
from strategies.portfolio_config import load_portfolio_config
from strategies.risk import GarchSpec, GarchVolatility

CRISIS = pd.Timestamp("2008-10-31")
EMPTY = pd.Series(dtype=float)


def _returns(as_of: pd.Timestamp = CRISIS, n_assets: int = 20) -> pd.DataFrame:
    return sp500_returns().loc[:as_of].iloc[:, :n_assets]


def _failing(tasks):
    return ["RuntimeError: no fit today" for _ in tasks]


def _constructor(**sections) -> PortfolioConstructor:
    return PortfolioConstructor(load_portfolio_config(sections))


class TestPortfolioConstructor:
    def test_default_decision_is_built_from_pypfopt_and_arch_results(self):
        returns = _returns()
        decision = PortfolioConstructor().construct(returns, EMPTY, None, CRISIS)
        diag = decision.diagnostics

        hrp = pd.Series(HRPOpt(returns=returns.iloc[-252:]).optimize())[returns.columns]
        assert_allclose(diag["base_weight"].to_numpy(dtype=float), hrp.to_numpy(), atol=1e-12)
        for symbol in ("AAPL", "XOM"):
            res = GarchSpec().model(100 * returns[symbol].iloc[-1000:].to_numpy()).fit(disp="off")
            variance = res.forecast(horizon=1, reindex=False).variance.to_numpy()[-1, 0]
            assert_allclose(
                diag.loc[symbol, "garch_vol"], np.sqrt(variance * 252) / 100, rtol=1e-12
            )
        assert set(diag["vol_source"]) == {"garch_fit"}
        # October 2008: forecast vol is far above 15%, so the vol target sets the scale.
        assert decision.bound == "target_vol" and decision.scale < 0.6
        traded = decision.weights > 0
        assert_allclose(decision.weights[traded], (hrp * decision.scale)[traded], rtol=1e-9)
        assert decision.vol <= 0.15 + 1e-9 and decision.var <= 0.025
        assert decision.weights.sum() <= 1.0 and decision.weights.max() <= 0.25

    def test_vol_and_tail_risk_are_those_of_the_final_weights(self):
        returns = _returns()
        decision = PortfolioConstructor().construct(returns, EMPTY, None, CRISIS)
        w = decision.weights.to_numpy()
        daily = decision.diagnostics["garch_vol"].to_numpy(dtype=float) / np.sqrt(252)
        cov = np.outer(daily, daily) * returns.iloc[-252:].corr().to_numpy()
        portfolio = returns.iloc[-500:].to_numpy() @ w
        losses = np.sort(-portfolio)[::-1]
        k = int(0.05 * len(portfolio))

        assert_allclose(decision.vol, np.sqrt(w @ cov @ w * 252), rtol=1e-10)
        assert_allclose(decision.var, losses[k], rtol=1e-12)
        assert_allclose(decision.cvar, losses[:k].mean(), rtol=1e-12)

    def test_returns_after_the_decision_time_are_refused(self):
        with pytest.raises(LookAheadError, match="after as_of"):
            PortfolioConstructor().construct(_returns(), EMPTY, None, CRISIS - pd.Timedelta(days=1))

    def test_there_is_one_look_ahead_error_for_views_and_inputs(self):
        from strategies import view

        assert LookAheadError is view.LookAheadError

    def test_unsorted_returns_and_repeated_symbols_are_refused(self):
        with pytest.raises(ValueError, match="increasing and unique"):
            PortfolioConstructor().construct(_returns().iloc[::-1], EMPTY, None, CRISIS)
        twice = _returns(n_assets=2).iloc[:, [0, 0, 1]]
        with pytest.raises(ValueError, match="columns must be unique"):
            PortfolioConstructor().construct(twice, EMPTY, None, CRISIS)

    def test_earlier_decisions_do_not_depend_on_later_data(self):
        dates = pd.to_datetime(["2005-01-31", "2005-02-28", "2005-03-31"])
        real = sp500_returns().iloc[:, :5]
        altered = real.copy()
        altered.loc["2005-03-01":] *= -3.0  # a different future after the second decision

        first, second = (_constructor(risk={"garch": {"refit_every": 2}}) for _ in range(2))
        for as_of in dates[:2]:
            a = first.construct(real.loc[:as_of], EMPTY, None, as_of)
            b = second.construct(altered.loc[:as_of], EMPTY, None, as_of)
            pd.testing.assert_series_equal(a.weights, b.weights)
        a = first.construct(real.loc[: dates[2]], EMPTY, None, dates[2])
        b = second.construct(altered.loc[: dates[2]], EMPTY, None, dates[2])
        assert not np.allclose(a.weights, b.weights)

    def test_state_is_dropped_when_the_decision_time_moves_back(self):
        constructor = _constructor(risk={"garch": {"refit_every": 12}})
        early, late = pd.Timestamp("2004-06-30"), pd.Timestamp("2006-06-30")
        returns = sp500_returns().iloc[:, :4]
        constructor.construct(returns.loc[:late], EMPTY, None, late)

        again = constructor.construct(returns.loc[:early], EMPTY, None, early)
        fresh = _constructor(risk={"garch": {"refit_every": 12}}).construct(
            returns.loc[:early], EMPTY, None, early
        )

        assert any(n.event == "state_reset" for n in again.notes)
        pd.testing.assert_series_equal(again.weights, fresh.weights)
        assert set(again.diagnostics["vol_source"]) == {"garch_fit"}

    def test_excluded_and_unknown_held_symbols_are_sold_and_explained(self):
        returns = _returns(n_assets=5).assign(NEW=np.nan)
        returns.iloc[-30:, -1] = 0.01
        current = pd.Series({"AAPL": 0.2, "NEW": 0.1, "DELISTED": 0.0005})

        decision = PortfolioConstructor().construct(returns, current, None, CRISIS)

        assert decision.weights["NEW"] == 0 and decision.weights["DELISTED"] == 0
        events = {(n.event, n.symbol) for n in decision.notes}
        assert ("asset_excluded", "NEW") in events
        assert decision.diagnostics.loc["NEW", "excluded"].startswith("too_short_history")

    def test_invalid_current_weights_are_traded_to_target(self):
        returns = _returns(n_assets=4)
        target = PortfolioConstructor().construct(returns, EMPTY, None, CRISIS).weights
        current = target.copy()
        current.iloc[0], current.iloc[1] = np.nan, -0.0002  # off by less than min_trade

        decision = PortfolioConstructor().construct(returns, current, None, CRISIS)

        assert_allclose(decision.weights.to_numpy(), target.to_numpy())

    def test_small_changes_are_not_traded_while_limits_hold(self):
        returns = _returns(pd.Timestamp("2005-06-30"), 6)
        loose = {"target_vol": 0.5, "max_var": 0.1}
        first = _constructor(risk=loose).construct(
            returns.iloc[:-1], EMPTY, None, returns.index[-2]
        )
        banded = _constructor(risk={**loose, "rebalance_band": 0.05}).construct(
            returns, first.weights, None, returns.index[-1]
        )
        free = _constructor(risk={**loose, "min_trade": 0.0}).construct(
            returns, first.weights, None, returns.index[-1]
        )

        pd.testing.assert_series_equal(banded.weights, first.weights)
        assert not np.allclose(free.weights, first.weights)

    def test_limits_outrank_the_trade_filters(self):
        returns = _returns()
        target = PortfolioConstructor().construct(returns, EMPTY, None, CRISIS).weights
        current = target + 0.0009  # every kept weight would push vol over the target

        decision = PortfolioConstructor().construct(returns, current, None, CRISIS)

        assert any(n.event == "trade_filter_relaxed" for n in decision.notes)
        assert decision.vol <= 0.15 + 1e-9
        assert (decision.weights <= target + 1e-12).all()

    def test_forecasts_tilt_the_book_and_their_absence_is_neutral(self):
        returns = _returns(n_assets=6)
        forecasts = pd.DataFrame({"q10": -0.03, "q50": 0.0, "q90": 0.03}, index=returns.columns)
        forecasts.loc["AAPL", "q50"] = 0.02
        plain = PortfolioConstructor().construct(returns, EMPTY, None, CRISIS)
        tilted = PortfolioConstructor().construct(returns, EMPTY, forecasts, CRISIS)

        assert_allclose(plain.diagnostics["tilt"].to_numpy(dtype=float), 1.0)
        assert tilted.diagnostics.loc["AAPL", "tilt"] > 1.0
        share = lambda d: d.weights["AAPL"] / d.weights.sum()
        assert share(tilted) > share(plain)

    def test_mean_variance_is_used_when_configured(self):
        returns = _returns(n_assets=6)
        decision = _constructor(allocation={"method": "mean_variance"}).construct(
            returns, EMPTY, None, CRISIS
        )
        expected = (
            MeanVarianceAllocator("min_volatility", max_weight=0.25)
            .fit(returns.iloc[-252:])
            .weights_
        )

        assert_allclose(
            decision.diagnostics["base_weight"].to_numpy(dtype=float),
            expected.to_numpy(),
            atol=1e-8,
        )

    def test_failed_mean_variance_falls_back_to_hrp_and_says_so(self):
        returns = _returns(n_assets=6)
        config = {
            "method": "mean_variance",
            "mean_variance": {"objective": "efficient_return", "target_return": 50.0},
        }

        decision = _constructor(allocation=config).construct(returns, EMPTY, None, CRISIS)

        hrp = pd.Series(HRPOpt(returns=returns.iloc[-252:]).optimize())[returns.columns]
        assert_allclose(decision.diagnostics["base_weight"].to_numpy(dtype=float), hrp.to_numpy())
        assert any(n.event == "allocation_fallback" for n in decision.notes)

    @pytest.mark.parametrize("method", ["parametric", "monte_carlo"])
    def test_other_var_methods_keep_var_under_its_limit(self, method):
        config = {"max_var": 0.01, "var": {"method": method, "n_sims": 5000}}
        returns = _returns(n_assets=6)
        decision = _constructor(risk=config).construct(returns, EMPTY, None, CRISIS)
        again = _constructor(risk=config).construct(returns, EMPTY, None, CRISIS)

        assert decision.bound == "max_var"
        assert decision.var <= 0.01 * (1 + 1e-9)
        assert_allclose(decision.var, again.var)

    def test_garch_failure_is_logged_and_the_book_stays_within_limits(self):
        returns = _returns(n_assets=4)
        constructor = PortfolioConstructor(volatility=GarchVolatility(fit_many=_failing))

        with capture_logs() as logs:
            decision = constructor.construct(returns, EMPTY, None, CRISIS)

        replaced = [e for e in logs if e["event"] == "estimate_replaced"]
        assert {e["symbol"] for e in replaced} == set(returns.columns)
        assert "garch_failed (RuntimeError: no fit today)" in replaced[0]["detail"]
        assert set(decision.diagnostics["vol_source"]) == {"ewma"}
        assert decision.vol <= 0.15 + 1e-9
        assert any(e["event"] == "portfolio_constructed" for e in logs)

    def test_an_asset_without_any_vol_estimate_is_not_held(self):
        class NoVolForAAPL(GarchVolatility):
            def forecast(self, returns):
                result = super().forecast(returns)
                result.vol["AAPL"] = np.nan
                return result

        returns = _returns(n_assets=4)
        decision = PortfolioConstructor(volatility=NoVolForAAPL()).construct(
            returns, EMPTY, None, CRISIS
        )

        assert decision.weights["AAPL"] == 0 and decision.weights.sum() > 0
        assert decision.diagnostics.loc["AAPL", "excluded"] == "no usable vol estimate"
        assert np.isfinite(decision.vol) and decision.vol <= 0.15 + 1e-9

    def test_no_investable_asset_gives_an_all_cash_decision(self):
        returns = synthetic_returns(40, 3)
        current = pd.Series({"S0": 0.5})

        decision = PortfolioConstructor().construct(returns, current, None, returns.index[-1])

        assert (decision.weights == 0).all() and decision.bound == "none"
        assert any(n.event == "no_investable_assets" for n in decision.notes)


class TestPortfolioConfig:
    @pytest.mark.parametrize(
        "data, line",
        [
            ({"risk": {"target_vol": 0}}, "risk.target_vol: must be > 0"),
            (
                {"risk": {"garch": {"flavor": "gjr"}}},
                "risk.garch.flavor: unknown key; did you mean 'flavour'?",
            ),
            (
                {"risk": {"garch": {"window": 300, "min_obs": 400}}},
                "risk.garch.min_obs: must be <= window",
            ),
            (
                {"risk": {"garch": {"window": 200, "min_obs": 100}}},
                "risk.garch.window: must be >= allocation.lookback",
            ),
            (
                {"allocation": {"mean_variance": {"objective": "efficient_risk"}}},
                "allocation.mean_variance.target_volatility: required by objective efficient_risk",
            ),
            (
                {
                    "allocation": {
                        "mean_variance": {"sector_map": {"A": "x"}, "sector_upper": {"x": 2}}
                    }
                },
                "allocation.mean_variance.sector_upper.x: must be within [0, 1]",
            ),
        ],
    )
    def test_errors_name_the_dotted_key(self, data, line):
        with pytest.raises(ConfigError) as info:
            load_portfolio_config(data)

        assert line in str(info.value).splitlines()

    def test_every_problem_is_reported(self):
        with pytest.raises(ConfigError) as info:
            load_portfolio_config({"risk": {"target_vol": -1, "max_weight": 2}})

        assert str(info.value).splitlines() == [
            "risk.target_vol: must be > 0",
            "risk.max_weight: must be <= 1",
        ]

    def test_empty_mapping_gives_the_defaults(self):
        cfg = load_portfolio_config({})

        assert cfg.allocation.method == "hrp" and cfg.risk.target_vol == 0.15
