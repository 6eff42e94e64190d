import numpy as np
import pandas as pd
import pytest
from models_testkit import synthetic_market, tiny_run_config
from numpy.testing import assert_allclose

from models import registry
from models.features import build_features
from models.forecaster import FeatureWindow, Forecaster, feature_window
from models.train import run_training

FAMILIES = ["tft", "lstm_bidirectional", "hybrid"]


@pytest.fixture(scope="module")
def forecasters(tmp_path_factory):
    market = synthetic_market()
    out = {}
    for family in FAMILIES:
        tmp = tmp_path_factory.mktemp(family)
        cfg = tiny_run_config(tmp, family, train={"epochs": 1, "max_steps_per_epoch": 2})
        out[family] = Forecaster(registry.load(run_training(cfg, market=market).checkpoint))
    return market, out


@pytest.mark.slow
class TestForecaster:
    def test_returns_non_crossing_quantiles_per_symbol_and_target(self, forecasters):
        market, fcs = forecasters
        fc = fcs["tft"].forecast_frames(market.prices, "2011-06-30", macro=market.macro)
        assert fc.values.shape == (5, 4, 3)
        assert fc.targets == ("ret_1", "ret_5", "ret_20", "rv_20")
        assert fc.as_of == pd.Timestamp("2011-06-30")
        assert (np.diff(fc.values, axis=-1) > 0).all()
        frame = fc.to_frame()
        assert len(frame) == 60 and set(frame.columns) == {"symbol", "target", "quantile", "value"}
        assert fc.median("ret_5").index.tolist() == list(market.prices.columns)

    @pytest.mark.parametrize("family", FAMILIES)
    def test_data_after_as_of_cannot_change_the_forecast(self, forecasters, family):
        market, fcs = forecasters
        as_of = pd.Timestamp("2011-03-31")
        base = fcs[family].forecast_frames(market.prices, as_of, macro=market.macro)
        later = market.prices.copy()
        later.loc[later.index > as_of] *= 2.0
        moved = fcs[family].forecast_frames(later, as_of, macro=market.macro)
        assert_allclose(moved.values, base.values)
        earlier = market.prices.copy()
        earlier.loc[as_of] *= 1.2  # ... while the decision day's own close does
        assert (
            np.abs(
                fcs[family].forecast_frames(earlier, as_of, macro=market.macro).values - base.values
            ).max()
            > 1e-6
        )

    def test_a_different_feature_schema_is_refused(self, forecasters):
        market, fcs = forecasters
        panel = build_features(market.prices, "2011-06-30")  # no macro: fewer features
        with pytest.raises(ValueError, match="schema"):
            fcs["tft"].forecast(feature_window(panel, fcs["tft"].encoder_length))

    def test_unknown_symbols_and_incomplete_windows_are_handled(self, forecasters):
        market, fcs = forecasters
        prices = market.prices.rename(columns={"S0": "NEW"})
        prices.loc["2011-06-20", "S1"] = np.nan
        fc = fcs["tft"].forecast_frames(prices, "2011-06-30", macro=market.macro)
        assert np.isfinite(fc.values[0]).all()  # unseen symbol: served with the unknown id
        assert np.isnan(fc.values[1]).all()  # a gap inside the window: no forecast


def consecutive_days(market, n: int) -> list[pd.Timestamp]:
    return list(market.prices.loc["2011-06-01":].index[:n])


@pytest.mark.slow
class TestSelectedPastMemo:
    def test_a_warm_memo_forecasts_bit_for_bit_as_a_cold_one(self, forecasters):
        market, fcs = forecasters
        warm = Forecaster(fcs["tft"].checkpoint)
        days = consecutive_days(market, 8)
        for day in days:
            served = warm.forecast_frames(market.prices, day, macro=market.macro)
        cold = Forecaster(fcs["tft"].checkpoint).forecast_frames(market.prices, days[-1], macro=market.macro)
        assert np.array_equal(served.values, cold.values)
        # One step computed per day after the first: the window's 10, then one each.
        assert len(warm.memo) == warm.encoder_length + len(days) - 1 < warm.memo.capacity

    def test_matches_the_plain_forward(self, forecasters):
        market, fcs = forecasters
        plain = Forecaster(fcs["tft"].checkpoint, memo=False)
        assert plain.memo is None
        memo = Forecaster(fcs["tft"].checkpoint)
        for day in consecutive_days(market, 5):
            a = memo.forecast_frames(market.prices, day, macro=market.macro).values
            b = plain.forecast_frames(market.prices, day, macro=market.macro).values
            assert_allclose(a, b, rtol=1e-5, atol=1e-7)

    def test_a_revised_bar_is_computed_afresh(self, forecasters):
        market, fcs = forecasters
        day = consecutive_days(market, 12)[-1]
        warm = Forecaster(fcs["tft"].checkpoint)
        for earlier in consecutive_days(market, 12):
            before = warm.forecast_frames(market.prices, earlier, macro=market.macro)
        revised = market.prices.copy()
        revised.loc[revised.index[revised.index < day][-4], "S2"] *= 1.05  # inside the window
        after = warm.forecast_frames(revised, day, macro=market.macro)
        cold = Forecaster(fcs["tft"].checkpoint).forecast_frames(revised, day, macro=market.macro)
        assert np.array_equal(after.values, cold.values)
        assert np.abs(after.values[2] - before.values[2]).max() > 1e-6  # the revision counts

    def test_keeps_two_encoder_lengths_of_steps(self, forecasters):
        market, fcs = forecasters
        fc = Forecaster(fcs["tft"].checkpoint)
        for day in consecutive_days(market, 3 * fc.encoder_length):
            fc.forecast_frames(market.prices, day, macro=market.macro)
        assert fc.memo.capacity == 2 * fc.encoder_length == len(fc.memo)

    def test_many_windows_at_once_agree_with_one_at_a_time(self, forecasters):
        market, fcs = forecasters
        fc = Forecaster(fcs["tft"].checkpoint)
        days = consecutive_days(market, 6)
        windows = [
            feature_window(build_features(market.prices, day, macro=market.macro), fc.encoder_length) for day in days
        ]
        together = fc.forecast_many(windows)
        alone = Forecaster(fcs["tft"].checkpoint, memo=False)
        for i, window in enumerate(windows):
            assert_allclose(together[i], alone.forecast(window).values, rtol=1e-5, atol=1e-7)
        assert len(fc.memo) == fc.encoder_length + len(days) - 1  # shared steps computed once

    def test_a_window_without_symbols_gives_an_empty_forecast(self, forecasters):
        market, fcs = forecasters
        fc = Forecaster(fcs["tft"].checkpoint)
        full = feature_window(build_features(market.prices, "2011-06-30", macro=market.macro), fc.encoder_length)
        empty = FeatureWindow(full.as_of, (), full.names, full.values[:0])
        assert fc.forecast(empty).values.shape == (0, 4, 3)

    def test_families_without_a_per_step_stage_have_no_memo(self, forecasters):
        _, fcs = forecasters
        assert fcs["lstm_bidirectional"].memo is None and fcs["hybrid"].memo is None
