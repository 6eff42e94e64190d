"""The paper broker: fill timing, costs, caps, cash discipline, rejections, idempotence."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from brokers.config import BrokerConfig
from brokers.paper import PaperBroker, commission, order_id_for
from core.bus import EventBus
from core.events import (
    BarsClosed,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    PortfolioMarked,
    TargetWeightsSet,
    freeze,
)

T0 = datetime(2021, 3, 1, 21, tzinfo=UTC)
SYMBOLS = ("AAA", "BBB")


def day(i: int) -> datetime:
    return T0 + timedelta(days=i)


def bar(i: int, close, open=None, volume=None, symbols=SYMBOLS) -> BarsClosed:  # noqa: A002
    n = len(symbols)
    nan = [math.nan] * n
    return BarsClosed(
        ts=day(i), symbols=symbols, open=freeze(open or nan), high=freeze(nan), low=freeze(nan),
        close=freeze(close), volume=freeze(volume or nan), available_at=day(i), source="test",
    )


def target(i: int, weights, symbols=SYMBOLS) -> TargetWeightsSet:
    return TargetWeightsSet(ts=day(i) + timedelta(minutes=45), symbols=symbols, weights=freeze(weights),
                            strategy="test", bar_ts=day(i))


class Harness:
    """A broker on a replay bus, recording everything it publishes."""

    def __init__(self, cash: float = 100_000.0, **config) -> None:
        defaults = dict(commission_bps=0.0, min_commission=0.0, slippage_bps=0.0)
        self.bus = EventBus()
        self.broker = PaperBroker(BrokerConfig(**{**defaults, **config}), bus=self.bus, run_id="r1", cash=cash)
        self.broker.attach(self.bus)
        self.events: list = []
        self.bus.subscribe((OrderSubmitted, OrderFilled, OrderRejected, OrderCancelled, PortfolioMarked),
                           self.events.append, name="probe")

    def send(self, *events) -> None:
        for e in events:
            self.bus.publish(e)
        self.bus.drain()

    def of(self, kind):
        return [e for e in self.events if isinstance(e, kind)]


class TestFillTiming:
    def test_next_bar_orders_fill_at_the_next_open_never_the_decision_bar(self) -> None:
        h = Harness(fill="next_bar")
        h.send(bar(0, [10.0, 20.0]), target(0, [0.5, 0.5]))
        assert h.of(OrderSubmitted) and not h.of(OrderFilled)
        h.send(bar(1, [11.0, 21.0], open=[10.5, 20.5]))
        fills = h.of(OrderFilled)
        assert [f.ts for f in fills] == [day(1), day(1)]
        assert sorted(f.price for f in fills) == [10.5, 20.5]
        # Sized at the decision close (5000 and 2500) but the open is higher: both buys
        # are cut by the same factor to what the cash affords.
        scale = 100_000.0 / (5000 * 10.5 + 2500 * 20.5)
        assert {f.symbol: f.qty for f in fills} == {"AAA": math.floor(5000 * scale), "BBB": math.floor(2500 * scale)}
        assert all(c.reason.startswith("insufficient cash") for c in h.of(OrderCancelled))
        assert h.broker.cash >= 0

    def test_next_bar_uses_the_close_when_the_data_has_no_open(self) -> None:
        h = Harness(fill="next_bar")
        h.send(bar(0, [10.0, 20.0]), target(0, [0.5, 0.0]), bar(1, [12.0, 20.0]))
        (fill,) = h.of(OrderFilled)
        assert fill.price == 12.0 and fill.ts == day(1)

    def test_same_close_fills_at_the_decision_bar_and_remarks(self) -> None:
        h = Harness(fill="same_close")
        h.send(bar(0, [10.0, 20.0]), target(0, [0.5, 0.5]))
        fills = h.of(OrderFilled)
        assert {f.price for f in fills} == {10.0, 20.0} and {f.ts for f in fills} == {day(0)}
        marks = h.of(PortfolioMarked)
        assert marks[-1].ts == day(0) and marks[-1].cash == pytest.approx(0.0)


class TestCosts:
    def test_commission_has_a_minimum_and_rounds_to_the_cent(self) -> None:
        assert commission(1000.0, 10, 5.0) == 5.0
        assert commission(123_456.0, 10, 5.0) == 123.46
        assert commission(-10_000.0, 2.5, 0.0) == 2.5

    def test_slippage_moves_the_price_against_the_order_and_fees_are_charged(self) -> None:
        h = Harness(fill="same_close", commission_bps=10, min_commission=1.0, slippage_bps=20)
        h.send(bar(0, [10.0, 20.0]), target(0, [0.5, 0.0]))
        (buy,) = h.of(OrderFilled)
        assert buy.price == pytest.approx(10.0 * 1.002)
        assert buy.fee == commission(buy.qty * buy.price, 10, 1.0)
        assert buy.cost == pytest.approx(buy.qty * 0.02)
        h.send(bar(1, [10.0, 20.0]), target(1, [0.0, 0.0]))
        sell = h.of(OrderFilled)[-1]
        assert sell.qty == -buy.qty and sell.price == pytest.approx(10.0 * 0.998)

    def test_square_root_impact_uses_past_volatility_and_volume(self) -> None:
        h = Harness(fill="next_bar", impact_coef=0.5, impact_window=5, participation=1.0)
        closes = [100.0, 101.0, 99.0, 102.0, 100.0, 103.0]
        for i, c in enumerate(closes):
            h.send(bar(i, [c, 50.0], volume=[1e6, 1e6]))
        h.send(target(5, [0.5, 0.0]))
        h.send(bar(6, [104.0, 50.0], open=[103.0, 50.0], volume=[1e6, 1e6]))
        (fill,) = h.of(OrderFilled)
        returns = np.diff(closes) / np.array(closes[:-1])
        expected = 0.5 * returns.std(ddof=1) * math.sqrt(abs(fill.qty) / 1e6)
        assert_allclose(fill.price, 103.0 * (1 + expected), rtol=1e-12)

    def test_a_symbol_joining_the_universe_mid_run_keeps_the_others_impact_history(self) -> None:
        h = Harness(fill="next_bar", impact_coef=0.5, impact_window=5, participation=1.0)
        closes = [100.0, 101.0, 99.0, 102.0, 100.0, 103.0]
        wider = ("AAA", "BBB", "CCC")
        for i, c in enumerate(closes[:-1]):
            h.send(bar(i, [c, 50.0], volume=[1e6, 1e6]))
        h.send(bar(5, [closes[-1], 50.0, 30.0], volume=[1e6, 1e6, 1e6], symbols=wider))  # CCC lists
        h.send(target(5, [0.4, 0.0, 0.4], symbols=wider))
        h.send(bar(6, [104.0, 50.0, 31.0], open=[103.0, 50.0, 30.0], volume=[1e6, 1e6, 1e6], symbols=wider))
        fills = {f.symbol: f for f in h.of(OrderFilled)}
        returns = np.diff(closes) / np.array(closes[:-1])
        expected = 0.5 * returns.std(ddof=1) * math.sqrt(abs(fills["AAA"].qty) / 1e6)
        assert expected > 0
        assert_allclose(fills["AAA"].price, 103.0 * (1 + expected), rtol=1e-12)
        assert fills["CCC"].price == 30.0  # one close: no volatility estimate yet, no impact


class TestLimits:
    def test_participation_caps_a_fill_and_cancels_the_rest(self) -> None:
        h = Harness(fill="next_bar", participation=0.1)
        h.send(bar(0, [10.0, 20.0], volume=[1000, 1000]), target(0, [0.5, 0.0]))
        h.send(bar(1, [10.0, 20.0], open=[10.0, 20.0], volume=[2000, 1000]))
        (fill,) = h.of(OrderFilled)
        (cancel,) = h.of(OrderCancelled)
        assert fill.qty == 200 and cancel.qty == 5000 - 200
        assert "participation cap" in cancel.reason

    def test_sells_fill_before_buys_and_cash_never_goes_negative(self) -> None:
        h = Harness(cash=10_000.0, fill="next_bar", commission_bps=10, min_commission=1.0)
        h.send(bar(0, [10.0, 10.0]), target(0, [1.0, 0.0]), bar(1, [10.0, 10.0]))
        assert h.broker.positions() == {"AAA": 999.0}  # 9990 + 9.99 fee <= 10000
        h.send(target(1, [0.0, 1.0]))
        # BBB gaps up at the fill: the buy is cut to what the sale proceeds afford.
        h.send(bar(2, [10.0, 12.0], open=[10.0, 12.0]))
        fills = h.of(OrderFilled)[-2:]
        assert [f.symbol for f in fills] == ["AAA", "BBB"]
        assert h.broker.cash >= 0
        cancel = h.of(OrderCancelled)[-1]
        assert cancel.symbol == "BBB" and cancel.reason.startswith("insufficient cash")

    def test_a_sell_worth_less_than_its_fee_is_refused_when_the_cash_cannot_pay_the_fee(self) -> None:
        h = Harness(cash=1000.0, fill="same_close", fractional=True, min_commission=1.0)
        h.send(bar(0, [1.0, 1.0]), target(0, [1.0, 0.0]))
        assert h.broker.cash == pytest.approx(0.0, abs=1e-9)  # 999 shares and the 1.00 fee
        h.send(bar(1, [1.0, 1.0]), target(1, [0.9995, 0.0]))  # sell half a share: 0.50 for a 1.00 fee
        cancel = h.of(OrderCancelled)[-1]
        assert cancel.qty == pytest.approx(0.4995) and "fee 1.00 exceeds the proceeds" in cancel.reason
        assert len(h.of(OrderFilled)) == 1
        assert h.broker.cash >= 0 and h.of(PortfolioMarked)[-1].cash >= 0

    def test_whole_shares_by_default_fractional_when_asked(self) -> None:
        whole = Harness(fill="same_close")
        whole.send(bar(0, [3.0, 7.0]), target(0, [0.5, 0.5]))
        assert all(f.qty == int(f.qty) for f in whole.of(OrderFilled))
        frac = Harness(fill="same_close", fractional=True)
        frac.send(bar(0, [3.0, 7.0]), target(0, [0.5, 0.5]))
        assert_allclose(sorted(f.qty for f in frac.of(OrderFilled)), sorted([50_000 / 3.0, 50_000 / 7.0]))


class TestRejections:
    def test_a_symbol_without_a_usable_price_is_rejected_with_a_reason(self) -> None:
        h = Harness(fill="same_close")
        h.send(bar(0, [10.0, math.nan]), target(0, [0.5, 0.5]))
        (rejected,) = h.of(OrderRejected)
        assert rejected.symbol == "BBB" and "no usable price" in rejected.reason
        assert [f.symbol for f in h.of(OrderFilled)] == ["AAA"]

    def test_a_price_that_vanishes_before_the_fill_rejects_the_order(self) -> None:
        h = Harness(fill="next_bar")
        h.send(bar(0, [10.0, 20.0]), target(0, [0.5, 0.0]), bar(1, [math.nan, 20.0]))
        (rejected,) = h.of(OrderRejected)
        assert rejected.symbol == "AAA" and rejected.ts == day(1)


class TestIdempotence:
    def test_order_ids_are_deterministic(self) -> None:
        assert order_id_for("r1", day(0), "AAA") == order_id_for("r1", day(0), "AAA") == "r1:20210301T210000Z:AAA"

    def test_a_decision_already_on_record_places_no_new_orders(self) -> None:
        h = Harness(fill="same_close")
        h.send(bar(0, [10.0, 20.0]))
        decision = target(0, [0.5, 0.5])
        h.broker.restore(
            cash=100_000.0, positions={}, avg_prices={}, pending=(),
            order_ids=frozenset(order_id_for("r1", decision.ts, s) for s in SYMBOLS),
        )
        h.send(decision)
        assert h.of(OrderSubmitted) == [] and h.of(OrderFilled) == []


class TestAccountingInvariant:
    @settings(max_examples=40, deadline=None)
    @given(
        steps=st.lists(
            st.tuples(
                st.lists(st.floats(0.5, 500.0), min_size=3, max_size=3),
                st.lists(st.floats(0.0, 1.0), min_size=3, max_size=3),
                st.booleans(),
            ),
            min_size=2,
            max_size=12,
        ),
        fill=st.sampled_from(["next_bar", "same_close"]),
        fractional=st.booleans(),
    )
    def test_equity_is_cash_plus_positions_and_nothing_goes_negative(self, steps, fill, fractional) -> None:
        symbols = ("X", "Y", "Z")
        h = Harness(cash=50_000.0, fill=fill, fractional=fractional, commission_bps=5, min_commission=1.0,
                    slippage_bps=3)
        for i, (closes, raw, rebalance) in enumerate(steps):
            h.send(bar(i, closes, open=[c * 1.01 for c in closes], symbols=symbols))
            if rebalance:
                total = sum(raw)
                weights = [w / total for w in raw] if total > 1 else raw
                h.send(target(i, weights, symbols=symbols))
        for mark in h.of(PortfolioMarked):
            assert mark.cash >= -1e-9
            assert (mark.qty >= 0).all()
            assert mark.equity == pytest.approx(mark.cash + float(mark.qty @ mark.prices), rel=1e-12, abs=1e-9)
        fills = h.of(OrderFilled)
        assert h.broker.cash == pytest.approx(50_000.0 - sum(f.qty * f.price + f.fee for f in fills), abs=1e-6)


class TestCorporateActions:
    def test_a_split_changes_shares_and_cost_but_not_value(self) -> None:
        from core.events import CorporateActionOccurred, PositionAdjusted

        h = Harness(fill="same_close")
        h.send(bar(0, [400.0, 20.0]), target(0, [0.5, 0.0]))
        h.bus.subscribe(PositionAdjusted, h.events.append, name="probe:adjusted")
        before = h.broker.equity()
        h.send(CorporateActionOccurred(ts=day(1) - timedelta(hours=16), symbol="AAA", action="split", value=4.0,
                                       source="test"))
        assert h.broker.positions()["AAA"] == 125 * 4
        assert h.broker.equity() == pytest.approx(before)  # the last price is split too
        h.send(bar(1, [100.0, 20.0]))
        assert h.of(PortfolioMarked)[-1].equity == pytest.approx(before)
        (adjusted,) = h.of(PositionAdjusted)
        assert (adjusted.qty_before, adjusted.qty_after, adjusted.cash_change) == (125, 500, 0.0)
        assert adjusted.avg_price == pytest.approx(100.0)

    def test_a_dividend_is_credited_on_the_ex_date(self) -> None:
        from core.events import CorporateActionOccurred

        h = Harness(fill="same_close")
        h.send(bar(0, [10.0, 20.0]), target(0, [0.5, 0.0]))
        cash = h.broker.cash
        h.send(CorporateActionOccurred(ts=day(1) - timedelta(hours=16), symbol="AAA", action="dividend", value=0.25,
                                       source="test"))
        assert h.broker.cash == pytest.approx(cash + 5000 * 0.25)
