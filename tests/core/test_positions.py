"""Position accounting (core.positions): the one place a fill or a corporate action changes a holding."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.positions import QTY_EPS, PendingOrder, Position


class TestApplyFill:
    def test_a_buy_moves_the_average_cost_to_the_weighted_mean(self) -> None:
        position = Position().apply_fill(10.0, 20.0).apply_fill(30.0, 40.0)
        assert position == Position(40.0, (10 * 20.0 + 30 * 40.0) / 40)

    def test_a_sell_keeps_the_average_cost(self) -> None:
        assert Position(10.0, 20.0).apply_fill(-4.0, 99.0) == Position(6.0, 20.0)

    def test_a_holding_sold_to_within_the_tolerance_is_flat(self) -> None:
        assert Position(1.0 / 3.0, 20.0).apply_fill(-(1.0 / 3.0 - QTY_EPS / 2), 25.0) == Position(0.0, 0.0)
        assert Position(1.0, 20.0).apply_fill(-(1.0 - 10 * QTY_EPS), 25.0).qty == pytest.approx(10 * QTY_EPS)


class TestApplyAdjustment:
    def test_a_split_multiplies_shares_and_divides_the_cost_without_cash(self) -> None:
        assert Position(10.0, 400.0).apply_adjustment("split", 4.0) == (Position(40.0, 100.0), 0.0)

    def test_a_dividend_pays_cash_per_share_and_keeps_the_holding(self) -> None:
        assert Position(40.0, 100.0).apply_adjustment("dividend", 0.5) == (Position(40.0, 100.0), 20.0)

    def test_a_delisting_sells_the_holding_at_the_last_price_and_leaves_it_flat(self) -> None:
        assert Position(40.0, 100.0).apply_adjustment("delisting", 12.5) == (Position(0.0, 0.0), 500.0)

    def test_an_unknown_action_is_refused_by_name(self) -> None:
        with pytest.raises(ValueError, match="'merger'"):
            Position(1.0, 1.0).apply_adjustment("merger", 2.0)


class TestPendingOrder:
    def test_what_remains_is_the_size_less_what_filled(self) -> None:
        order = PendingOrder("o1", datetime(2020, 1, 2, tzinfo=UTC), "A", "buy", qty=10.0, filled_qty=4.0)
        assert order.remaining == 6.0
