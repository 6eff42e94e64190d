"""Risk components: GARCH against arch itself, EWMA, VaR/CVaR, limits, trade filters."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose
from portfolio_testkit import sp500_returns, synthetic_returns
from pydantic import ValidationError
from scipy.stats import norm
from skfolio.measures import cvar, value_at_risk

from strategies.risk import (
    GarchConfig,
    GarchSpec,
    GarchVolatility,
    Limits,
    RiskConfig,
    RiskModel,
    VaRConfig,
    apply_trade_filters,
    build_risk_model,
    cap_weights,
    clamp_to_caps,
    correlation,
    ewma_variance,
    filter_garch,
    fit_garch,
    monte_carlo_scenarios,
    parametric_var_cvar,
    scale_to_limits,
    scenario_var_cvar,
    violations,
)
from strategies.risk._garch import fit_many


def _window(asset: int, end: int, length: int = 1000) -> np.ndarray:
    """Percent returns of one bundled stock, rows [end - length, end)."""
    return 100 * sp500_returns().iloc[end - length : end, asset].to_numpy()


SPECS = [GarchSpec("garch", "normal"), GarchSpec("gjr", "t"), GarchSpec("egarch", "normal")]


class TestFitGarch:
    @pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.flavour}-{s.distribution}")
    def test_params_and_forecast_equal_arch_fit_and_its_own_forecast(self, spec):
        for asset, end in ((0, 3000), (7, 6500)):
            y = _window(asset, end)
            res = spec.model(y).fit(disp="off", show_warning=False)
            expected = res.forecast(horizon=1, reindex=False).variance.to_numpy()[-1, 0]

            fit = fit_garch(y, spec)

            assert_allclose(fit.params, res.params.to_numpy(), rtol=1e-12, atol=1e-14)
            assert_allclose(fit.variance, expected, rtol=1e-12)
            assert_allclose(fit.loglikelihood, res.loglikelihood, rtol=1e-12)
            assert fit.converged == (res.convergence_flag == 0)

    def test_warm_start_equals_arch_fit_from_the_same_starting_values(self):
        spec, y = SPECS[0], _window(3, 5000)
        start = fit_garch(_window(3, 4979), spec).params
        res = spec.model(y).fit(disp="off", show_warning=False, starting_values=start)

        fit = fit_garch(y, spec, starting_values=start)

        assert_allclose(fit.params, res.params.to_numpy(), rtol=1e-12, atol=1e-14)

    def test_infeasible_starting_values_fall_back_to_arch_grid_search(self):
        spec, y = SPECS[0], _window(5, 4000)
        infeasible = np.array([0.0, 0.1, 0.6, 0.6])  # alpha + beta > 1

        assert_allclose(fit_garch(y, spec, infeasible).params, fit_garch(y, spec).params)

    @pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.flavour}-{s.distribution}")
    def test_filter_equals_arch_fixed_parameter_forecast(self, spec):
        params = fit_garch(_window(2, 3000), spec).params
        later = _window(2, 3063)  # three months on, same parameters
        expected = spec.model(later).fix(params).forecast(horizon=1, reindex=False)

        assert_allclose(
            filter_garch(later, spec, params), expected.variance.to_numpy()[-1, 0], rtol=1e-12
        )

    def test_garch_starting_values_equal_arch_grid_search(self):
        from arch.univariate import GARCH

        from strategies.risk._garch import _garch_starting_values

        for asset, end in ((0, 3000), (7, 6500), (12, 8000)):
            resids = _window(asset, end)
            resids = resids - resids.mean()
            vol = GARCH(p=1, o=0, q=1)
            ours = _garch_starting_values(
                vol, resids, vol.backcast(resids), vol.variance_bounds(resids)
            )
            np.testing.assert_array_equal(ours, vol.starting_values(resids))

    def test_fit_many_returns_the_error_instead_of_raising(self):
        out = fit_many([(np.array([]), SPECS[0], None), (_window(1, 3000), SPECS[0], None)])

        assert out[0] == "ValueError: need >= 10 finite returns in a 1-d array, got shape (0,)"
        assert out[1].converged


class TestEwmaVariance:
    def test_matches_the_riskmetrics_recursion_seeded_with_the_first_square(self):
        x = synthetic_returns(300, 2).to_numpy()
        lam, expected = 0.94, []
        for col in x.T:
            num = den = 0.0
            for value in col:  # newest observation ends with weight 1
                num, den = lam * num + value**2, lam * den + 1.0
            expected.append(num / den)

        assert_allclose(ewma_variance(x, lam), expected, rtol=1e-12)

    def test_skips_missing_days_instead_of_counting_them_as_zero(self):
        x = np.array([0.01, np.nan, -0.02, np.inf])
        # weights decay with the row position; missing rows drop out of both sums
        expected = (0.94**3 * 0.01**2 + 0.94 * 0.02**2) / (0.94**3 + 0.94)

        assert_allclose(ewma_variance(x), expected, rtol=1e-12)

    def test_a_column_without_data_gives_nan(self):
        assert np.isnan(ewma_variance(np.full((5, 1), np.nan))[0])


def _failing_fit_many(tasks):
    return ["LinAlgError: forced failure" for _ in tasks]


def _unconverged_fit_many(tasks):
    fits = fit_many(tasks)
    return [
        type(f)(f.params, f.variance, False, f.loglikelihood, f.nobs, f.iterations) for f in fits
    ]


class TestGarchVolatility:
    def test_refits_on_cadence_and_filters_with_stored_params_in_between(self):
        returns = sp500_returns().iloc[:2000, :2]
        vol = GarchVolatility(GarchConfig(window=500, min_obs=250, refit_every=3))
        sources, windows = [], []
        for end in (1000, 1021, 1042, 1063):
            forecast = vol.forecast(returns.iloc[:end])
            sources.append(list(forecast.source))
            windows.append((end, forecast))

        assert sources == [
            ["garch_fit"] * 2,
            ["garch_filter"] * 2,
            ["garch_filter"] * 2,
            ["garch_fit"] * 2,
        ]
        params = fit_garch(100 * returns.iloc[500:1000, 0].to_numpy(), vol.spec).params
        expected = filter_garch(100 * returns.iloc[542:1042, 0].to_numpy(), vol.spec, params)
        assert_allclose(windows[2][1].vol.iloc[0], np.sqrt(expected) / 100, rtol=1e-12)

    def test_after_decision_each_decision_filters_with_the_previous_decisions_fit(self):
        returns = sp500_returns().iloc[:2000, :2]
        cfg = GarchConfig(window=500, min_obs=250, refit_at="after_decision")
        vol = GarchVolatility(cfg)
        ends, sources, outcomes, forecasts = (1000, 1021, 1042, 1063), [], [], []
        for end in ends:
            forecast = vol.forecast(returns.iloc[:end])
            sources.append(list(forecast.source))
            forecasts.append(forecast)
            outcomes.append(vol.refit())

        # The first decision has no parameters yet (fitted in it, so nothing is due after it);
        # every later one filters, and its data is refit after it.
        assert sources == [["garch_fit"] * 2] + [["garch_filter"] * 2] * 3
        assert outcomes == [(0, {})] + [(2, {})] * 3
        for k in (1, 2, 3):  # decision k uses parameters fitted on decision k - 1's window
            for i in range(2):
                y_then = 100 * returns.iloc[ends[k - 1] - 500 : ends[k - 1], i].to_numpy()
                y_now = 100 * returns.iloc[ends[k] - 500 : ends[k], i].to_numpy()
                expected = filter_garch(y_now, vol.spec, fit_garch(y_then, vol.spec).params)
                assert_allclose(forecasts[k].vol.iloc[i], np.sqrt(expected) / 100, rtol=1e-12)
        # After the last refit the stored parameters are the fit on the last window only.
        last = fit_garch(100 * returns.iloc[ends[-1] - 500 : ends[-1], 0].to_numpy(), vol.spec).params
        assert_allclose(vol.state_["AAPL"].params, last, rtol=0, atol=0)

    def test_after_decision_refit_cadence_and_no_second_refit_without_a_decision(self):
        returns = sp500_returns().iloc[:1600, :1]
        vol = GarchVolatility(GarchConfig(refit_every=2, refit_at="after_decision"))
        refits = []
        for end in (1300, 1321, 1342, 1363, 1384):
            vol.forecast(returns.iloc[:end])
            refits.append(vol.refit()[0])
        refits.append(vol.refit()[0])  # no decision since the last refit: nothing to do

        # fit in decision 1; decisions 2-3 filter (due after 3), 4-5 with the new ones.
        assert refits == [0, 0, 1, 0, 1, 0]

    def test_after_decision_unusable_refit_drops_the_params_and_the_next_decision_fits(self):
        returns = sp500_returns().iloc[:1600, :2]
        vol = GarchVolatility(GarchConfig(refit_at="after_decision"))
        vol.forecast(returns.iloc[:1500])
        vol.forecast(returns.iloc[:1521])
        vol.fit_many = _failing_fit_many
        refit, failed = vol.refit()
        vol.fit_many = fit_many

        assert refit == 0
        assert failed == {s: "garch_failed (LinAlgError: forced failure)" for s in ("AAPL", "AMD")}
        assert vol.state_ == {}
        assert list(vol.forecast(returns.iloc[:1542]).source) == ["garch_fit", "garch_fit"]

    def test_forecast_is_the_arch_forecast_in_decimal_daily_vol(self):
        returns = sp500_returns().iloc[:3000, :3]
        forecast = GarchVolatility(GarchConfig()).forecast(returns)
        for i, symbol in enumerate(returns.columns):
            y = 100 * returns.iloc[-1000:, i]
            res = GarchSpec().model(y.to_numpy()).fit(disp="off", show_warning=False)
            variance = res.forecast(horizon=1, reindex=False).variance.to_numpy()[-1, 0]
            assert_allclose(forecast.vol[symbol], np.sqrt(variance) / 100, rtol=1e-12)

    def test_short_history_uses_ewma_and_says_why(self):
        returns = synthetic_returns(120, 2)
        forecast = GarchVolatility(GarchConfig(min_obs=250)).forecast(returns)

        assert list(forecast.source) == ["ewma", "ewma"]
        assert "too_short_for_garch (120 < 250 obs)" in forecast.fallback["S0"]
        assert_allclose(forecast.vol.to_numpy(), np.sqrt(ewma_variance(returns.to_numpy())))

    def test_failed_fit_falls_back_to_ewma_and_is_refit_next_time(self):
        returns = sp500_returns().iloc[:1500, :2]
        vol = GarchVolatility(GarchConfig(refit_every=5), fit_many=_failing_fit_many)

        first = vol.forecast(returns)
        vol.fit_many = fit_many
        second = vol.forecast(returns)

        assert first.fallback["AAPL"] == "garch_failed (LinAlgError: forced failure)"
        assert_allclose(
            first.vol["AAPL"], np.sqrt(ewma_variance(returns.iloc[-1000:, 0].to_numpy()))
        )
        assert list(second.source) == ["garch_fit", "garch_fit"]

    def test_unconverged_fit_falls_back_to_ewma(self):
        forecast = GarchVolatility(fit_many=_unconverged_fit_many).forecast(
            sp500_returns().iloc[:1500, :1]
        )

        assert forecast.fallback == {"AAPL": "garch_not_converged"}

    def test_warm_start_hands_the_previous_params_to_the_fitter(self):
        seen = []

        def recording(tasks):
            seen.append([start for _, _, start in tasks])
            return fit_many(tasks)

        returns = sp500_returns().iloc[:1500, :1]
        vol = GarchVolatility(GarchConfig(warm_start=True), fit_many=recording)
        vol.forecast(returns.iloc[:1400])
        first_params = vol.state_["AAPL"].params
        vol.forecast(returns)

        assert seen[0] == [None]
        assert_allclose(seen[1][0], first_params)

    def test_reset_forgets_parameters(self):
        vol = GarchVolatility(GarchConfig(refit_every=10))
        vol.forecast(sp500_returns().iloc[:1500, :1])
        vol.reset()

        assert vol.state_ == {}
        assert list(vol.forecast(sp500_returns().iloc[:1521, :1]).source) == ["garch_fit"]

    def test_parallel_fits_equal_serial_fits(self):
        returns = sp500_returns().iloc[2000:3200, :4]
        serial = GarchVolatility(GarchConfig()).forecast(returns)
        with_pool = GarchVolatility(GarchConfig(n_jobs=2))
        try:
            parallel = with_pool.forecast(returns)
        finally:
            with_pool.close()

        assert_allclose(parallel.vol.to_numpy(), serial.vol.to_numpy(), rtol=0, atol=0)


class TestTailMeasures:
    def test_scenario_measures_are_skfolio_measures_of_the_portfolio_returns(self):
        scenarios = synthetic_returns(500, 3).to_numpy()
        w = np.array([0.5, 0.3, 0.2])

        tail = scenario_var_cvar(scenarios, w, 0.95)

        assert_allclose(tail.var, value_at_risk(scenarios @ w, beta=0.95))
        assert_allclose(tail.cvar, cvar(scenarios @ w, beta=0.95))
        assert tail.cvar >= tail.var > 0

    def test_scenario_measures_scale_with_exposure(self):
        scenarios, w = synthetic_returns(500, 3).to_numpy(), np.array([0.5, 0.3, 0.2])
        base, half = (
            scenario_var_cvar(scenarios, w, 0.99),
            scenario_var_cvar(scenarios, 0.5 * w, 0.99),
        )

        assert_allclose([half.var, half.cvar], [0.5 * base.var, 0.5 * base.cvar], rtol=1e-12)

    def test_parametric_measures_follow_the_normal_closed_form(self):
        tail = parametric_var_cvar(mean=0.0005, vol=0.01, confidence=0.99)
        z = norm.ppf(0.99)

        assert_allclose(tail.var, z * 0.01 - 0.0005)
        assert_allclose(tail.cvar, 0.01 * norm.pdf(z) / 0.01 - 0.0005)

    def test_monte_carlo_is_seeded_and_converges_to_the_parametric_value(self):
        cov = np.array([[1.0, 0.5], [0.5, 2.0]]) * 1e-4
        mean, w = np.zeros(2), np.array([0.6, 0.4])
        draws = monte_carlo_scenarios(mean, cov, 200_000, seed=7)

        tail = scenario_var_cvar(draws, w, 0.95)
        exact = parametric_var_cvar(0.0, float(np.sqrt(w @ cov @ w)), 0.95)

        assert_allclose(draws, monte_carlo_scenarios(mean, cov, 200_000, seed=7))
        assert_allclose([tail.var, tail.cvar], [exact.var, exact.cvar], rtol=0.02)

    def test_monte_carlo_accepts_a_singular_covariance(self):
        cov = np.full((2, 2), 1e-4)  # two copies of one asset

        draws = monte_carlo_scenarios(np.zeros(2), cov, 1000, seed=0)

        assert_allclose(draws[:, 0], draws[:, 1], atol=1e-12)


def _model(vols=(0.01, 0.02), corr=0.3, method="parametric", scenarios=None) -> RiskModel:
    vols = np.asarray(vols)
    c = np.full((len(vols), len(vols)), corr)
    np.fill_diagonal(c, 1.0)
    return RiskModel(np.outer(vols, vols) * c, np.zeros(len(vols)), scenarios, 0.95, 252)


class TestRiskModel:
    def test_vol_is_annualised_garch_vols_through_the_correlation(self):
        window = synthetic_returns(400, 3).to_numpy()
        daily = np.array([0.01, 0.02, 0.015])
        model = build_risk_model(daily, window, window, VaRConfig(method="parametric"))
        w = np.array([0.2, 0.3, 0.5])
        cov = np.outer(daily, daily) * np.corrcoef(window, rowvar=False)

        assert_allclose(model.vol(w), np.sqrt(w @ cov @ w * 252), rtol=1e-12)

    def test_historical_scenarios_are_the_last_complete_rows(self):
        history = synthetic_returns(600, 2).to_numpy(copy=True)
        history[-3, 1] = np.nan
        model = build_risk_model(np.array([0.01, 0.01]), history[-200:], history, VaRConfig())

        assert model.scenarios.shape == (499, 2)
        assert_allclose(model.scenarios[-1], history[-1])

    def test_correlation_of_a_flat_column_is_zero_off_the_diagonal(self):
        x = synthetic_returns(100, 3).to_numpy(copy=True)
        x[:, 1] = 0.0

        corr = correlation(x)

        assert_allclose(corr[1], [0.0, 1.0, 0.0])
        assert_allclose(corr[0, 2], np.corrcoef(x[:, 0], x[:, 2])[0, 1])


class TestLimits:
    def test_cap_hands_the_excess_to_uncapped_weights_pro_rata(self):
        capped = cap_weights(np.array([0.5, 0.3, 0.1, 0.1]), 0.3)

        assert_allclose(capped, [0.3, 0.3, 0.2, 0.2])

    def test_cap_leaves_cash_when_the_cap_cannot_hold_everything(self):
        assert_allclose(cap_weights(np.array([0.5, 0.5]), 0.3), [0.3, 0.3])

    def test_vol_binding_scales_forecast_vol_down_to_the_target(self):
        model = _model()
        w = np.array([0.5, 0.5])
        limits = Limits(target_vol=0.10, max_gross=1.0, max_weight=1.0)

        scaled = scale_to_limits(w, model, limits)

        assert scaled.bound == "target_vol"
        assert_allclose(model.vol(scaled.weights), 0.10, rtol=1e-11)
        assert model.vol(scaled.weights) <= 0.10
        assert_allclose(scaled.weights / scaled.scale, w)

    def test_var_binding_scales_var_down_to_the_limit(self):
        model = _model()
        limits = Limits(target_vol=1.0, max_gross=1.0, max_weight=1.0, max_var=0.01)

        scaled = scale_to_limits(np.array([0.5, 0.5]), model, limits)

        assert scaled.bound == "max_var"
        assert_allclose(model.tail(scaled.weights).var, 0.01, rtol=1e-11)

    def test_cvar_binding_scales_cvar_down_to_the_limit(self):
        model = _model()
        limits = Limits(target_vol=1.0, max_gross=1.0, max_weight=1.0, max_var=0.05, max_cvar=0.01)

        scaled = scale_to_limits(np.array([0.5, 0.5]), model, limits)

        assert scaled.bound == "max_cvar"
        assert_allclose(model.tail(scaled.weights).cvar, 0.01, rtol=1e-11)

    def test_gross_binding_and_nothing_binding(self):
        model = _model()
        limits = Limits(target_vol=1.0, max_gross=0.8, max_weight=1.0)

        gross = scale_to_limits(np.array([0.5, 0.5]), model, limits)
        free = scale_to_limits(np.array([0.3, 0.3]), model, limits)

        assert gross.bound == "max_gross" and gross.weights.sum() <= 0.8
        assert (free.bound, free.scale) == ("none", 1.0)
        assert_allclose(free.weights, [0.3, 0.3])

    def test_limits_never_scale_up(self):
        scaled = scale_to_limits(np.array([0.1, 0.1]), _model(), Limits(0.5, 1.0, 1.0))

        assert scaled.scale == 1.0

    def test_violations_name_each_broken_limit(self):
        limits = Limits(target_vol=0.05, max_gross=0.5, max_weight=0.3, max_var=0.001)

        broken = violations(np.array([0.4, 0.3]), _model(), limits)

        assert broken == ["max_weight", "max_gross", "target_vol", "max_var"]
        assert violations(np.array([np.nan, 0.1]), _model(), limits) == ["finite_long_only"]

    def test_clamp_makes_any_vector_a_valid_book(self):
        w = clamp_to_caps(np.array([np.nan, -0.2, 0.9, np.inf, 0.4]), 0.5, 0.8)

        assert np.all(np.isfinite(w)) and np.all(w >= 0) and np.all(w <= 0.5)
        assert w.sum() <= 0.8


class TestTradeFilters:
    def test_small_changes_keep_current_weights_and_large_ones_trade(self):
        out = apply_trade_filters(
            np.array([0.30, 0.2005, 0.1]), np.array([0.2, 0.2, 0.1]), min_trade=0.001
        )

        assert_allclose(out, [0.30, 0.2, 0.1])

    def test_band_keeps_the_whole_book_while_every_change_is_below_it(self):
        target, current = np.array([0.31, 0.19]), np.array([0.3, 0.2])

        assert_allclose(apply_trade_filters(target, current, min_trade=0, band=0.02), current)
        assert_allclose(apply_trade_filters(target, current, min_trade=0, band=0.005), target)

    def test_forced_entries_always_trade(self):
        out = apply_trade_filters(
            np.array([0.0, 0.5]),
            np.array([0.0005, 0.5004]),
            min_trade=0.001,
            band=0.01,
            forced=np.array([True, False]),
        )

        assert_allclose(out, [0.0, 0.5004])

    def test_buys_only_mode_never_keeps_a_weight_above_target(self):
        out = apply_trade_filters(
            np.array([0.2, 0.2]),
            np.array([0.2005, 0.1995]),
            min_trade=0.001,
            skip_small_sells=False,
        )

        assert_allclose(out, [0.2, 0.1995])


class TestRiskConfig:
    def test_defaults_are_the_documented_ones(self):
        cfg = RiskConfig()

        assert (cfg.target_vol, cfg.max_gross, cfg.max_weight, cfg.max_var) == (
            0.15,
            1.0,
            0.25,
            0.025,
        )
        assert (cfg.garch.flavour, cfg.garch.distribution, cfg.garch.refit_every) == (
            "garch",
            "normal",
            1,
        )
        assert (cfg.var.method, cfg.var.confidence) == ("historical", 0.95)

    def test_is_frozen_and_forbids_unknown_keys(self):
        with pytest.raises(ValidationError):
            RiskConfig(target_vole=0.1)
        with pytest.raises(ValidationError):
            RiskConfig().target_vol = 0.2  # type: ignore[misc]

    def test_false_switches_a_tail_limit_off(self):
        assert RiskConfig(max_var=False, max_cvar=0.04).max_var is None
        assert RiskConfig(max_cvar=False).max_cvar is None

    def test_garch_min_obs_cannot_exceed_the_window(self):
        with pytest.raises(ValidationError, match="min_obs: must be <= window"):
            GarchConfig(window=300, min_obs=400)
