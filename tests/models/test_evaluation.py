import numpy as np
from numpy.testing import assert_allclose

from models.evaluation import (
    garch_vol_forecast,
    information_coefficient,
    quantile_metrics,
    quantile_offsets,
    trailing_mean_forecast,
)
from models.walkforward import summarise


class TestQuantileMetrics:
    def test_pins_pinball_coverage_and_ic_on_a_small_case(self):
        pred = np.array([[-1.0, 0.0, 1.0], [-1.0, 1.0, 3.0], [-2.0, 2.0, 4.0]])
        actual = np.array([0.5, 4.0, 1.0])
        m = quantile_metrics(pred, actual, (0.1, 0.5, 0.9), np.zeros(3))
        # errors: [1.5,.5,-.5], [5,3,1], [3,-1,-3]
        assert_allclose(m["pinball_q10"], np.mean([0.15, 0.5, 0.3]))
        assert_allclose(m["pinball_q50"], np.mean([0.25, 1.5, 0.5]))
        assert_allclose(m["pinball_q90"], np.mean([0.05, 0.9, 0.3]))
        assert_allclose(m["coverage"], 2 / 3)
        assert_allclose(m["ic"], np.corrcoef([0, 1, 2], actual)[0, 1])
        assert_allclose(m["rank_ic"], 0.5)


class TestInformationCoefficient:
    def test_is_one_for_a_perfect_ranking_and_nan_for_a_constant_forecast(self):
        dates = np.repeat([0, 1], 4)
        actual = np.array([1.0, 2, 3, 4, 4, 3, 2, 1])
        assert_allclose(information_coefficient(actual**3, actual, dates, rank=True), 1.0)
        assert np.isnan(information_coefficient(np.zeros(8), actual, dates))


class TestQuantileOffsets:
    def test_median_offset_is_exactly_zero_and_levels_are_centred(self):
        labels = np.random.default_rng(2).normal(0.01, 0.02, size=(500, 3, 2))
        off = quantile_offsets(labels, (0.1, 0.5, 0.9))
        assert off.shape == (3, 2, 3)
        assert (off[..., 1] == 0.0).all()
        med = np.quantile(labels, 0.5, axis=0)
        assert_allclose(off[..., 0], np.quantile(labels, 0.1, axis=0) - med)


class TestBaselines:
    def test_trailing_mean_only_uses_the_past(self):
        daily = np.random.default_rng(0).normal(size=(600, 2))
        base = trailing_mean_forecast(daily, 5)
        moved = daily.copy()
        moved[400:] += 10
        assert_allclose(trailing_mean_forecast(moved, 5)[:400], base[:400], equal_nan=True)
        assert_allclose(base[399, 0], 5 * daily[148:400, 0].mean())

    def test_garch_forecast_at_t_ignores_returns_after_t(self):
        rng = np.random.default_rng(1)
        daily = rng.normal(0, 0.01, 900) * (1 + 0.5 * np.sin(np.arange(900) / 40))
        base = garch_vol_forecast(daily, 600, 20, 600, 800)
        moved = daily.copy()
        moved[700:] *= 5
        again = garch_vol_forecast(moved, 600, 20, 600, 800)
        assert np.isfinite(base).all()
        assert_allclose(again[:100], base[:100], rtol=1e-10)
        assert np.abs(again[101:] - base[101:]).max() > 1e-4
        assert 0.005 < np.median(base) < 0.03


class TestSummarise:
    def test_says_plainly_when_the_model_does_not_beat_a_baseline(self):
        scores = {
            "model": {"ret_1": {"pinball_mean": 0.3, "ic": 0.0}},
            "zero": {"ret_1": {"pinball_mean": 0.2, "ic": float("nan")}},
        }
        out = summarise([{"scores": scores}, {"scores": scores}], ("ret_1",))
        assert out["verdict"]["ret_1"].startswith("does NOT beat best baseline zero")
        assert_allclose(out["summary"]["ret_1"]["model"]["pinball_mean"], 0.3)
        assert np.isnan(out["summary"]["ret_1"]["zero"]["ic"])
