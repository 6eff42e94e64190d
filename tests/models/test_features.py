import numpy as np
import pandas as pd
import pytest
from models_testkit import synthetic_market
from numpy.testing import assert_allclose

from models.data import load_bundled, load_macro
from models.evaluation import information_coefficient
from models.features import (
    PointInTime,
    build_features,
    build_targets,
    known_future,
    prepare_point_in_time,
    serving_window,
)


class TestBuildFeatures:
    def test_rows_after_as_of_change_nothing(self):
        market = synthetic_market()
        as_of = market.prices.index[300]
        base = build_features(market.prices, as_of, macro=market.macro)
        later = market.prices.copy()
        later.iloc[301:] *= 3.0
        macro = {"m": market.macro["m"].assign(level=lambda f: f["level"] * 7)}
        macro["m"].loc[macro["m"]["available_at"] <= as_of, "level"] = market.macro["m"]["level"]
        moved = build_features(later, as_of, macro=macro)
        assert base.times[-1] == as_of and len(base.times) == 301
        assert_allclose(moved.values, base.values, equal_nan=True)

    def test_monthly_macro_enters_on_its_release_date_not_its_period(self):
        market = synthetic_market(n_days=400)
        panel = build_features(market.prices, market.prices.index[-1], macro=market.macro)
        col = panel.names.index("m_level")
        level = pd.Series(panel.values[:, 0, col], index=panel.times)
        macro = market.macro["m"]
        # The 2010-03 observation is released 2010-04-15: the day before still shows 2010-02.
        assert level[pd.Timestamp("2010-04-14")] == pytest.approx(macro.loc["2010-02-01", "level"])
        assert level[pd.Timestamp("2010-04-15")] == pytest.approx(macro.loc["2010-03-01", "level"])

    def test_real_core_cpi_appears_mid_following_month(self):
        prices = synthetic_market(n_days=300).prices.set_axis(
            pd.bdate_range("2016-06-01", periods=300)
        )
        panel = build_features(prices, prices.index[-1], macro={"cpi": load_macro()["cpi"]})
        cpi = pd.Series(panel.values[:, 0, panel.names.index("cpi_core_yoy")], index=panel.times)
        yoy = load_macro()["cpi"]["core_yoy"]
        assert cpi["2017-02-14"] == pytest.approx(yoy["2016-12-01"], rel=1e-6)
        assert cpi["2017-02-15"] == pytest.approx(yoy["2017-01-01"], rel=1e-6)

    def test_a_frame_without_available_at_is_refused(self):
        market = synthetic_market()
        with pytest.raises(ValueError, match="available_at"):
            build_features(
                market.prices, market.prices.index[-1], macro={"m": market.macro["m"][["level"]]}
            )

    def test_volume_adds_volume_features(self):
        market = synthetic_market()
        volume = market.prices * 0 + 1e6
        panel = build_features(market.prices, market.prices.index[-1], volume=volume)
        assert {"vlm_z_20", "vlm_5_60"} <= set(panel.names)
        assert_allclose(panel.values[-1, :, panel.names.index("vlm_z_20")], 0.0, atol=1e-6)


class TestPriceFeatureDefinitions:
    """The price features are pandas' rolling definitions, reduced window by window."""

    @staticmethod
    def long_history(rows: int = 3000, symbols: int = 30) -> tuple[pd.DataFrame, pd.DataFrame]:
        # Long and wide enough that the rolling windows go in several column chunks.
        rng = np.random.default_rng(7)
        times = pd.bdate_range("2000-01-03", periods=rows)
        columns = [f"S{i:02d}" for i in range(symbols)]
        prices = pd.DataFrame(100 * np.exp(np.cumsum(rng.normal(0, 0.02, (rows, symbols)), axis=0)), times, columns)
        prices.iloc[1500:1510, 3] = np.nan  # a gap: every window over it is missing
        volume = pd.DataFrame(rng.lognormal(12, 1, (rows, symbols)), times, columns)
        volume.iloc[700:705, 5] = 0.0  # no trades: no log volume
        return prices, volume

    def test_every_price_feature_equals_its_pandas_definition(self):
        prices, volume = self.long_history()
        panel = build_features(prices, prices.index[-1], volume=volume)
        logp, logv = np.log(prices), np.log(volume.where(volume > 0))
        daily = logp.diff()
        expected = {
            "ret_1": logp.diff(1), "ret_5": logp.diff(5), "ret_20": logp.diff(20), "ret_60": logp.diff(60),
            "vol_20": daily.rolling(20).std(), "vol_60": daily.rolling(60).std(),
            "px_ma_20": np.log(prices / prices.rolling(20).mean()),
            "px_ma_100": np.log(prices / prices.rolling(100).mean()),
            "ma_10_50": np.log(prices.rolling(10).mean() / prices.rolling(50).mean()),
            "vlm_z_20": logv - logv.rolling(20).mean(),
            "vlm_5_60": logv.rolling(5).mean() - logv.rolling(60).mean(),
        }
        for name, frame in expected.items():
            got = panel.values[:, :, panel.names.index(name)]
            want = frame.to_numpy(dtype=np.float32)
            assert np.array_equal(np.isnan(got), np.isnan(want)), name
            assert_allclose(got, want, rtol=1e-6, atol=1e-7, equal_nan=True, err_msg=name)

    def test_a_feature_row_does_not_depend_on_where_the_history_starts(self):
        prices, volume = self.long_history(rows=700, symbols=12)
        as_of = prices.index[-1]
        whole = build_features(prices, as_of, volume=volume)
        for start in (1, 7, 123, 480):
            part = build_features(prices.iloc[start:], as_of, volume=volume.iloc[start:])
            rows = len(part.times) - 101  # past the 100-day moving average's warm-up
            assert np.array_equal(part.values[-rows:], whole.values[-rows:], equal_nan=True), start


class TestPointInTime:
    """The prepared as-of lookup the serving path uses, against pandas' merge_asof."""

    @staticmethod
    def merge_asof(frame: pd.DataFrame, times: pd.DatetimeIndex, as_of: pd.Timestamp) -> pd.DataFrame:
        known = frame[pd.to_datetime(frame["available_at"]) <= as_of]
        known = known.assign(available_at=pd.to_datetime(known["available_at"]).astype("datetime64[ns]"))
        known = known.sort_values("available_at", kind="stable").reset_index(drop=True)
        left = pd.DataFrame({"t": times.astype("datetime64[ns]")})
        merged = pd.merge_asof(left, known, left_on="t", right_on="available_at")
        return merged.drop(columns=["t", "available_at"]).set_axis(times).astype(float)

    def test_each_lookup_equals_merge_asof_on_the_bundled_macro_bit_for_bit(self):
        macro = load_macro()
        days = pd.bdate_range("2005-01-03", "2022-12-30")
        rng = np.random.default_rng(0)
        for _ in range(50):
            end = int(rng.integers(100, len(days)))
            times = days[int(rng.integers(0, end - 60)) : end]
            as_of = times[-1] - pd.Timedelta(days=int(rng.integers(0, 3)))  # also as_of < last time
            for frame in macro.values():
                expected = self.merge_asof(frame, times, as_of)
                got = PointInTime.of(frame).as_of(times, as_of)
                assert list(got.columns) == list(expected.columns)
                assert np.array_equal(got.to_numpy(), expected.to_numpy(), equal_nan=True)

    def test_rows_published_after_as_of_or_after_each_time_are_not_seen(self):
        frame = pd.DataFrame(
            {"x": [1.0, 2.0, 3.0], "available_at": pd.to_datetime(["2020-01-02", "2020-01-06", "2020-01-08"])}
        ).iloc[[2, 0, 1]]  # unsorted on purpose
        times = pd.bdate_range("2020-01-01", "2020-01-09")
        got = PointInTime.of(frame).as_of(times, pd.Timestamp("2020-01-07"))["x"].to_numpy()
        assert np.array_equal(got, [np.nan, 1, 1, 2, 2, 2, 2], equal_nan=True)  # Jan 1..9, business days

    def test_prepared_macro_builds_the_same_panel(self):
        market = synthetic_market()
        as_of = market.prices.index[-5]
        raw = build_features(market.prices, as_of, macro=market.macro)
        prepared = build_features(market.prices, as_of, macro=prepare_point_in_time(market.macro))
        assert raw.names == prepared.names
        assert np.array_equal(raw.values, prepared.values, equal_nan=True)


class TestServingWindow:
    def test_the_last_encoder_rows_are_the_same_as_from_the_whole_history(self):
        market = load_bundled("sp500_20", None, macro=True)
        macro = prepare_point_in_time(market.macro)
        for as_of in pd.to_datetime(["2017-03-01", "2019-01-04", "2019-07-15", "2020-04-21", "2021-12-30"]):
            history = market.prices.loc[:as_of].iloc[-320:]  # what the daemon's infer job holds
            full = build_features(history, as_of, macro=macro)
            window = build_features(serving_window(history, 60), as_of, macro=macro)
            assert full.names == window.names and window.times[-1] == as_of
            assert np.isfinite(window.values[-60:]).all()
            assert np.array_equal(window.values[-60:], full.values[-60:])


class TestBuildTargets:
    def test_forward_log_returns_and_realised_vol(self):
        prices = pd.DataFrame({"A": [100.0, 110.0, 99.0, 99.0]})
        y = build_targets(prices, (1, 2), 2)
        assert_allclose(
            y[0, 0],
            [np.log(1.1), np.log(0.99), np.sqrt((np.log(1.1) ** 2 + np.log(0.9) ** 2) / 2)],
            rtol=1e-6,
        )
        assert np.isnan(y[-1, 0, 0]) and np.isnan(y[-2, 0, 1])

    def test_known_future_describes_each_target_slot(self):
        times = pd.DatetimeIndex(["2024-01-05"])  # a Friday
        fut = known_future(times, (1, 5), 20)
        assert fut.shape == (1, 3, 6)
        assert_allclose(fut[0, :, 0], np.log1p([1, 5, 20]), rtol=1e-6)
        assert fut[0, :, 1].tolist() == [0.0, 0.0, 1.0]
        assert_allclose(fut[0, 0, 2], np.sin(0.0), atol=1e-6)  # +1 business day is Monday


class TestLeakageAudit:
    """A planted signal: a leaky pipeline finds a huge in-sample IC, ours must not."""

    @staticmethod
    def _ic(panel, feature, target):
        x = panel.values[:, :, panel.names.index(feature)]
        ok = np.isfinite(x) & np.isfinite(target)
        dates = np.broadcast_to(np.arange(len(x))[:, None], x.shape)
        return information_coefficient(x[ok], target[ok], dates[ok])

    def test_prices_shifted_into_the_future_leak_and_ours_do_not(self):
        market = synthetic_market(n_symbols=30, n_days=400, seed=3)
        as_of = market.prices.index[-1]
        target = build_targets(market.prices, (1,), None)[..., 0]
        honest = build_features(market.prices, as_of)
        leaky = build_features(market.prices.shift(-1), as_of)  # today sees tomorrow's close
        assert self._ic(leaky, "ret_1", target) > 0.9
        assert abs(self._ic(honest, "ret_1", target)) < 0.05

    @staticmethod
    def _news(seed: int, noise: float, published_lag: int):
        """One item per (day t, symbol) whose score is the realised t -> t+1 return plus
        noise, stamped ts = t and published `published_lag` trading days later."""
        market = synthetic_market(n_symbols=30, n_days=400, seed=seed)
        prices, times = market.prices, market.prices.index
        target = build_targets(prices, (1,), None)[..., 0]
        rng = np.random.default_rng(0)
        t, j = np.meshgrid(np.arange(len(times) - 1), np.arange(prices.shape[1]), indexing="ij")
        news = pd.DataFrame(
            {
                "symbol": prices.columns.to_numpy()[j.ravel()],
                "score": target[t, j].ravel() + rng.normal(0, noise, t.size),
                "ts": times[t.ravel()],
                "available_at": times[t.ravel() + published_lag],
            }
        )
        return prices, target, news

    def test_sentiment_counts_from_available_at_not_from_its_timestamp(self):
        # An article about day t+1's move, stamped t but only published at t+1.
        prices, target, news = self._news(seed=4, noise=0.0, published_lag=1)
        as_of = prices.index[-1]
        honest = build_features(prices, as_of, sentiment=news)
        leaky = build_features(prices, as_of, sentiment=news.assign(available_at=news["ts"]))
        assert self._ic(leaky, "sent_mean_5", target) > 0.3
        assert abs(self._ic(honest, "sent_mean_5", target)) < 0.05

    def test_a_legitimate_planted_signal_is_still_found(self):
        # A noisy view of t+1 that is genuinely known at t (published at t): keep it.
        prices, target, news = self._news(seed=5, noise=0.015, published_lag=0)
        panel = build_features(prices, prices.index[-1], sentiment=news)
        assert self._ic(panel, "sent_mean_5", target) > 0.2
