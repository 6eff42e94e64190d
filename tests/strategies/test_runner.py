"""The strategy runner: rebalance calendar, weight checks, contained failures; the view."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from core.clock import ReplayClock
from core.events import BarsClosed, ForecastReady, freeze
from strategies.base import HRP, InverseVol, Strategy
from strategies.runner import StrategyError, StrategyRunner, period_key
from strategies.view import LookAheadError

SYMBOLS = ("A", "B", "C")


def bars(start: datetime, closes: list[list[float]]) -> list[BarsClosed]:
    out = []
    for k, row in enumerate(closes):
        ts = start + timedelta(days=k)
        nan = freeze([math.nan] * len(row))
        out.append(BarsClosed(ts=ts, symbols=SYMBOLS, open=nan, high=nan, low=nan, close=freeze(row),
                              volume=nan, available_at=ts, source="t"))
    return out


class Fixed(Strategy):
    name = "fixed"
    warmup_bars = 1

    def __init__(self, weights) -> None:
        self.weights = weights

    def target_weights(self, view):
        return self.weights


def runner_for(strategy: Strategy, frequency: str = "monthly") -> tuple[StrategyRunner, ReplayClock]:
    clock = ReplayClock(datetime(2019, 1, 1, tzinfo=UTC))
    return StrategyRunner(strategy, clock=clock, frequency=frequency, timezone="America/New_York"), clock


def feed(runner: StrategyRunner, clock: ReplayClock, bar: BarsClosed) -> tuple:
    clock.advance_to(bar.ts + timedelta(minutes=45))
    runner.on_bars(bar)
    events, detail = runner.decide()
    return (events[-1] if events else None), detail


def second_day(runner: StrategyRunner, clock: ReplayClock) -> tuple:
    """Feed two days (the first seen bar never opens a period); decide on the second."""
    first, second = bars(datetime(2019, 1, 31, 21, tzinfo=UTC), [[1.0, 2.0, 3.0]] * 2)
    feed(runner, clock, first)
    return feed(runner, clock, second)


class TestCalendar:
    def test_decides_on_the_first_bar_of_each_month_only(self) -> None:
        runner, clock = runner_for(Fixed({"A": 1.0}))
        start = datetime(2019, 1, 28, 21, tzinfo=UTC)
        decided = [b.ts.date() for b in bars(start, [[1.0, 1.0, 1.0]] * 10)
                   if feed(runner, clock, b)[0] is not None]
        assert decided == [datetime(2019, 2, 1).date()]

    def test_a_missed_period_start_is_caught_up_after_a_decision_exists(self) -> None:
        runner, clock = runner_for(Fixed({"A": 1.0}))
        runner.restore(datetime(2019, 1, 2, 21, tzinfo=UTC))  # last decision in January
        (event, _) = feed(runner, clock, bars(datetime(2019, 2, 5, 21, tzinfo=UTC), [[1.0, 1.0, 1.0]])[0])
        assert event is not None and event.bar_ts.day == 5

    def test_period_keys_use_exchange_time(self) -> None:
        # 2019-03-01 02:00 UTC is still February 28th in New York.
        ts = datetime(2019, 3, 1, 2, tzinfo=UTC)
        from zoneinfo import ZoneInfo

        assert period_key(ts, "monthly", ZoneInfo("America/New_York")) == (2019, 2)
        assert period_key(ts, "quarterly", ZoneInfo("UTC")) == (2019, 0)


class TestWeightChecks:
    @pytest.mark.parametrize(
        ("weights", "message"),
        [({"A": math.nan}, "non-finite"), ({"A": -0.1, "B": 0.5}, "negative"), ({"Z": 1.0}, "unknown symbols")],
    )
    def test_bad_weights_are_refused_with_a_reason(self, weights, message) -> None:
        runner, clock = runner_for(Fixed(weights), "daily")
        with pytest.raises(StrategyError, match=message):
            second_day(runner, clock)

    def test_gross_above_the_limit_is_scaled_down(self) -> None:
        runner, clock = runner_for(Fixed({"A": 0.9, "B": 0.6}), "daily")
        event, _ = second_day(runner, clock)
        assert event.weights.sum() == pytest.approx(1.0)
        assert event.weights[0] / event.weights[1] == pytest.approx(1.5)

    def test_a_strategy_exception_becomes_a_strategy_error(self) -> None:
        class Broken(Strategy):
            warmup_bars = 1

            def target_weights(self, view):
                raise ZeroDivisionError("oops")

        runner, clock = runner_for(Broken(), "daily")
        with pytest.raises(StrategyError, match="ZeroDivisionError: oops"):
            second_day(runner, clock)


class TestBuiltins:
    def test_inverse_vol_weights_follow_one_over_std(self) -> None:
        import numpy as np

        rng = np.random.default_rng(3)
        scales = np.array([0.01, 0.02, 0.04])
        closes = 100 * np.cumprod(1 + rng.normal(0, 1, (61, 3)) * scales, axis=0)
        runner, clock = runner_for(InverseVol(lookback=60), "daily")
        out = None
        for b in bars(datetime(2019, 1, 1, 21, tzinfo=UTC), closes.tolist()):
            out = feed(runner, clock, b)[0]
        returns = closes[1:] / closes[:-1] - 1
        expected = 1 / returns.std(axis=0, ddof=1)
        np.testing.assert_allclose(out.weights, expected / expected.sum(), rtol=1e-12)

    def test_hrp_matches_pypfopt_called_directly(self) -> None:
        import numpy as np
        import pandas as pd
        from pypfopt import HRPOpt

        rng = np.random.default_rng(5)
        closes = 50 * np.cumprod(1 + rng.normal(0.0003, 0.015, (31, 3)), axis=0)
        runner, clock = runner_for(HRP(lookback=30), "daily")
        for b in bars(datetime(2019, 1, 1, 21, tzinfo=UTC), closes.tolist()):
            event, _ = feed(runner, clock, b)
        returns = pd.DataFrame(closes[1:] / closes[:-1] - 1, columns=list(SYMBOLS))
        direct = HRPOpt(returns=returns).optimize(linkage_method="single")
        np.testing.assert_allclose(event.weights, [direct[s] for s in event.symbols], rtol=1e-10)


class TestView:
    def test_reads_later_than_the_clock_raise(self) -> None:
        runner, clock = runner_for(Fixed({"A": 1.0}))
        for b in bars(datetime(2019, 1, 1, 21, tzinfo=UTC), [[1.0, 2.0, 3.0]] * 3):
            clock.advance_to(b.ts)
            runner.on_bars(b)
        view = runner.view
        assert view.bar(datetime(2019, 1, 2, 21, tzinfo=UTC))["B"] == 2.0
        with pytest.raises(LookAheadError):
            view.bar(clock.now() + timedelta(days=1))
        with pytest.raises(LookAheadError):
            view.returns(2, end=clock.now() + timedelta(seconds=1))
        assert len(view.closes(10)) == 3

    def test_arrays_handed_to_a_strategy_are_read_only(self) -> None:
        runner, clock = runner_for(Fixed({"A": 1.0}))
        for b in bars(datetime(2019, 1, 1, 21, tzinfo=UTC), [[1.0, 2.0, 3.0]] * 3):
            clock.advance_to(b.ts)
            runner.on_bars(b)
        view = runner.view
        closes, times = view.close_matrix(3), view.bar_times(3)
        with pytest.raises(ValueError, match="read-only"):
            closes[-1, 0] = 99.0
        with pytest.raises(ValueError, match="read-only"):
            times[0] = 0.0
        frame = view.closes(3)
        frame.iloc[-1, 0] = 99.0  # a DataFrame is the strategy's own copy
        assert view.close_matrix(1)[-1, 0] == 1.0 and view.bar_times(3)[0] > 0

    def test_a_forecast_is_read_until_its_horizon_of_bars_has_passed(self) -> None:
        """A forecast made after day 1's bar, horizon 3 (vol horizon 2): read while fewer
        than 3 (2) new bars have arrived, never before it was made, never after."""
        runner, clock = runner_for(Fixed({"A": 1.0}))
        days = bars(datetime(2019, 1, 1, 21, tzinfo=UTC), [[1.0, 2.0, 3.0]] * 5)
        made = days[0].ts + timedelta(minutes=40)
        runner.view.set_forecast(ForecastReady(
            ts=made, symbols=SYMBOLS, levels=(0.1, 0.5, 0.9), quantiles=freeze(np.ones((3, 3))),
            horizon=3, model="m", vol=freeze(np.full((3, 3), 0.01)), vol_horizon=2,
        ))
        seen = []
        for b in days:
            clock.advance_to(b.ts)
            runner.on_bars(b)
            clock.advance_to(b.ts + timedelta(minutes=45))
            seen.append((runner.view.forecast_frame() is not None, runner.view.vol_forecast_frame() is not None))
        # day 1: made 40 min after its bar (read 45 min after); days 2-3: 1-2 new bars
        assert seen == [(True, True), (True, True), (True, False), (False, False), (False, False)]
        clock.advance_to(days[-1].ts + timedelta(minutes=45))
        runner.view.set_forecast(ForecastReady(
            ts=clock.now() + timedelta(minutes=1), symbols=SYMBOLS, levels=(0.5,), quantiles=freeze(np.ones((3, 1))),
            horizon=3, model="m",
        ))
        assert runner.view.forecast_frame() is None  # made after the decision time

    def test_history_refuses_bars_out_of_order(self) -> None:
        runner, clock = runner_for(Fixed({"A": 1.0}))
        first, second = bars(datetime(2019, 1, 1, 21, tzinfo=UTC), [[1.0, 2.0, 3.0]] * 2)
        runner.history.append(second)
        with pytest.raises(ValueError, match="not after"):
            runner.history.append(first)


class TestCorporateActions:
    def test_a_split_back_adjusts_history_so_returns_show_no_jump(self) -> None:
        from core.events import CorporateActionOccurred

        runner, clock = runner_for(Fixed({"A": 1.0}))
        start = datetime(2020, 8, 26, 20, tzinfo=UTC)
        pre = bars(start, [[400.0, 2.0, 3.0], [404.0, 2.0, 3.0], [408.0, 2.0, 3.0]])
        for b in pre:
            clock.advance_to(b.ts)
            runner.on_bars(b)
        split = CorporateActionOccurred(ts=start + timedelta(days=4, hours=-16), symbol="A", action="split",
                                        value=4.0, source="t")
        clock.advance_to(split.ts)
        runner.on_corporate_action(split)
        (after,) = bars(start + timedelta(days=4), [[103.0, 2.0, 3.0]])
        clock.advance_to(after.ts)
        runner.on_bars(after)
        returns = runner.view.returns(3)["A"].to_numpy()
        assert returns == pytest.approx([404 / 400 - 1, 408 / 404 - 1, 103 / 102 - 1])
