"""The paper broker: target weights in, market orders, fills, cash and marks out.

A thin adapter between the bus and three parts: ``brokers.sizing`` (targets to orders),
``brokers.fill_model`` (price, fee, caps of one fill) and ``brokers.account`` (cash,
holdings, corporate actions). Rules, in the order they apply:

- A ``TargetWeightsSet`` becomes one market order per symbol whose holding must change,
  sized at the decision bar's close against equity marked at that close. Order ids are
  deterministic (run, decision time, symbol): a decision already on record (after a
  restart) never places orders again. A newer decision cancels unfilled orders.
- Timing: with ``fill = "next_bar"`` orders fill on the next bar, at its open or, when
  the data has no open, its close; never on the bar that produced the decision. With
  ``fill = "same_close"`` they fill at the decision bar's close.
- Sells go before buys. When prices moved between decision and fill so the buys cost
  more than the cash, every buy is scaled by the same factor and the remainders are
  cancelled with the reason.
- An order for a symbol without a usable price (missing, NaN, <= 0) is rejected.
- Corporate actions (live prices are raw): a split multiplies the shares and divides the
  average cost; a cash dividend is credited on the ex-date (``PositionAdjusted``).

Cash changes by exactly ``-(qty x price) - fee`` per fill, so at every mark
``equity == cash + sum(qty x last price)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import structlog

from brokers.account import Account
from brokers.config import BrokerConfig
from brokers.fill_model import ImpactWindow, commission, fill, whole
from brokers.sizing import buy_scale, order_qty, usable
from core.bus import EventBus
from core.events import (
    BarsClosed,
    CorporateActionOccurred,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    PortfolioMarked,
    PositionAdjusted,
    Side,
    TargetWeightsSet,
)
from core.positions import QTY_EPS, PendingOrder, Position

__all__ = ["PaperBroker", "commission", "order_id_for"]


def order_id_for(run_id: str, decision_ts: datetime, symbol: str) -> str:
    """Deterministic client order id: same run, decision and symbol give the same id."""
    return f"{_order_prefix(run_id, decision_ts)}{symbol}"


def _order_prefix(run_id: str, decision_ts: datetime) -> str:
    return f"{run_id}:{decision_ts.astimezone(UTC):%Y%m%dT%H%M%SZ}:"


@dataclass(slots=True)
class _Order:
    order_id: str
    symbol: str
    side: int  # +1 buy, -1 sell
    remaining: float
    decision_ts: datetime

    @property
    def side_name(self) -> Side:
        return "buy" if self.side > 0 else "sell"


class PaperBroker:
    """Simulated execution for one run, over its ``Account``."""

    def __init__(self, config: BrokerConfig, *, bus: EventBus, run_id: str, cash: float) -> None:
        self.config = config
        self.account = Account(cash)
        self._bus = bus
        self._run_id = run_id
        self._bar: BarsClosed | None = None
        self._pending: list[_Order] = []
        self._known_ids: set[str] = set()
        self._window = ImpactWindow(config.impact_window) if config.impact_coef > 0 else None
        self._log = structlog.get_logger(component="broker")

    @property
    def cash(self) -> float:
        return self.account.cash

    def equity(self) -> float:
        return self.account.equity()

    def positions(self) -> dict[str, float]:
        return self.account.positions()

    # -- wiring and restart --------------------------------------------------------------

    def attach(self, bus: EventBus) -> None:
        bus.subscribe(BarsClosed, self.on_bars, name="broker:bars")
        bus.subscribe(TargetWeightsSet, self.on_targets, name="broker:targets")
        bus.subscribe(CorporateActionOccurred, self.on_corporate_action, name="broker:actions")

    def restore(
        self,
        *,
        cash: float,
        positions: dict[str, float],
        avg_prices: dict[str, float],
        order_ids: frozenset[str],
        pending: tuple[PendingOrder, ...],
    ) -> None:
        """Resume from the ledger: cash, holdings, orders already placed, orders still open."""
        self.account.restore(cash, {s: Position(q, avg_prices.get(s, 0.0)) for s, q in positions.items()})
        self._known_ids = set(order_ids)
        for order in pending:
            side = 1 if order.side == "buy" else -1
            self._pending.append(_Order(order.order_id, order.symbol, side, order.remaining, order.decision_ts))

    def remember_prices(self, bar: BarsClosed) -> None:
        """Warm-up: learn prices (and the impact window) without trading or marking."""
        self._learn(bar)
        self._bar = bar

    # -- market data ---------------------------------------------------------------------

    def on_bars(self, bar: BarsClosed) -> None:
        """Fill what is pending at this bar, then learn its prices and mark."""
        if self._pending:
            # next_bar orders; with same_close only orders restored after a restart wait
            # here. Fill before learning this bar: the impact estimate must not see its close.
            self._execute(bar, use_open=True)
        self._learn(bar)
        self._bar = bar
        self._mark(bar.ts)

    def _learn(self, bar: BarsClosed) -> None:
        layout = self.account.layout(bar.symbols)
        self.account.learn_prices(layout, bar.close)
        if self._window is not None:
            self._window.push(layout.index, bar.close, bar.volume)

    def on_corporate_action(self, action: CorporateActionOccurred) -> None:
        """Splits change shares (and the average cost, the last price, open orders); cash
        dividends are credited on the ex-date; a delisting sells the holding at the last
        price (``value``) and cancels the symbol's open orders. No trade, no fee."""
        if not self.account.has(action.symbol) or not (math.isfinite(action.value) and action.value > 0):
            return
        if action.action not in ("split", "dividend", "delisting"):
            return
        before, after, cash_change = self.account.apply_adjustment(action.symbol, action.action, action.value)
        if action.action == "split":
            for order in self._pending:
                if order.symbol == action.symbol:
                    order.remaining *= action.value
        elif action.action == "delisting":
            for order in [o for o in self._pending if o.symbol == action.symbol]:
                self._pending.remove(order)
                self._cancel(order, order.remaining, f"{action.symbol} delisted", action.ts)
            if before.qty:
                self._log.info("position_delisted", symbol=action.symbol, qty=before.qty, price=action.value,
                               ts=action.ts.isoformat())
        if before.qty != 0:
            self._bus.publish(
                PositionAdjusted(
                    ts=action.ts, symbol=action.symbol, reason=f"{action.action} {action.value:g}",
                    qty_before=before.qty, qty_after=after.qty, avg_price=after.avg_price, cash_change=cash_change,
                )
            )

    def _mark(self, ts: datetime) -> None:
        held = self.account.held()
        prices = self.account.price[held.cols]
        prices.setflags(write=False)
        value = float(held.qty.dot(prices))  # long-only: the market value is also the gross exposure
        cash = self.account.cash
        self._bus.publish(
            PortfolioMarked(
                ts=ts, cash=cash, equity=cash + value, gross=value, symbols=held.symbols, qty=held.qty, prices=prices
            )
        )

    # -- decisions: orders ---------------------------------------------------------------

    def on_targets(self, target: TargetWeightsSet) -> None:
        """Cancel what is still open, place the orders this target needs (sells first)."""
        bar = self._bar
        if bar is None:
            self._log.warning("targets_without_prices", decision_ts=target.ts.isoformat())
            return
        for order in self._pending:  # a newer decision supersedes unfilled orders
            self._cancel(order, order.remaining, f"superseded by decision at {target.ts.isoformat()}", target.ts)
        self._pending = []
        account = self.account
        target_cols = account.layout(target.symbols).cols
        bar_cols = account.layout(bar.symbols).cols
        weights = np.zeros(len(account.qty))
        weights[target_cols] = target.weights
        bar_close = np.full(len(account.qty), np.nan)
        bar_close[bar_cols] = bar.close
        close_of = bar_close.tolist()
        sells, buys = self._size(target, bar, weights.tolist(), close_of)
        scale = buy_scale(self.config, account.cash, buys=self._legs(buys, close_of), sells=self._legs(sells, close_of))
        if scale < 1.0:  # sized at the very prices they are checked at: cut them quietly
            for order in buys:
                order.remaining = whole(self.config, order.remaining * scale)
            buys = [order for order in buys if order.remaining > QTY_EPS]
        for order in sells + buys:
            self._known_ids.add(order.order_id)
            self._bus.publish(
                OrderSubmitted(
                    ts=target.ts, order_id=order.order_id, symbol=order.symbol, side=order.side_name,
                    qty=order.remaining, decision_ts=target.ts,
                )
            )
        self._pending = sells + buys
        if self.config.fill == "same_close" and self._pending:
            self._execute(bar, use_open=False, fitted=True)
            self._mark(bar.ts)

    def _size(
        self, target: TargetWeightsSet, bar: BarsClosed, weight_of: list[float], close_of: list[float]
    ) -> tuple[list[_Order], list[_Order]]:
        """Orders (sells, buys) for every symbol whose holding must change; a symbol
        without a usable price at the decision bar is rejected."""
        account = self.account
        equity = account.equity()
        prefix = _order_prefix(self._run_id, target.ts)
        sells: list[_Order] = []
        buys: list[_Order] = []
        # Python floats: scalar arithmetic on numpy elements is several times slower.
        held_of = account.qty.tolist()
        for i, symbol in enumerate(account.symbols()):
            w, held = weight_of[i], held_of[i]
            if w == 0 and held == 0:
                continue
            order_id = prefix + symbol
            if order_id in self._known_ids:
                continue  # this decision was already acted on (restart)
            price = close_of[i]
            if not usable(price):
                self._known_ids.add(order_id)
                side: Side = "buy" if w * equity > held * account.price[i] else "sell"
                self._bus.publish(
                    OrderRejected(
                        ts=target.ts, order_id=order_id, symbol=symbol, side=side, qty=0.0,
                        reason=f"no usable price for {symbol} at the decision bar {bar.ts.isoformat()}",
                        decision_ts=target.ts,
                    )
                )
                continue
            delta = order_qty(self.config, weight=w, held=held, price=price, equity=equity)
            if delta:
                order = _Order(order_id, symbol, 1 if delta > 0 else -1, abs(delta), target.ts)
                (buys if delta > 0 else sells).append(order)
        return sells, buys

    def _legs(self, orders: list[_Order], close_of: list[float]) -> list[tuple[float, float]]:
        """(qty, decision close) of each order."""
        column = self.account.column
        return [(o.remaining, close_of[column(o.symbol)]) for o in orders]

    # -- execution -----------------------------------------------------------------------

    def _execute(self, bar: BarsClosed, *, use_open: bool, fitted: bool = False) -> None:
        """Fill the pending orders at this bar. ``fitted``: the buys were sized at these
        very prices (same-close fills), so they cannot overspend and need no rescaling."""
        pending, self._pending = self._pending, []
        index = self.account.layout(bar.symbols).index
        opens = bar.open.tolist() if use_open else None
        closes, volumes = bar.close.tolist(), bar.volume.tolist()
        buys: list[tuple[_Order, float, float]] = []
        for order in pending:  # sells were queued first: their proceeds fund the buys
            j = index.get(order.symbol)
            price = volume = math.nan
            if j is not None:
                price = opens[j] if opens is not None else math.nan
                if not usable(price):
                    price = closes[j]
                volume = volumes[j]
            if not usable(price):
                self._bus.publish(
                    OrderRejected(
                        ts=bar.ts, order_id=order.order_id, symbol=order.symbol, side=order.side_name,
                        qty=order.remaining, reason=f"no usable price for {order.symbol} at {bar.ts.isoformat()}",
                        decision_ts=order.decision_ts,
                    )
                )
            elif order.side < 0:
                self._fill(order, bar.ts, price, volume)
            else:
                buys.append((order, price, volume))
        scale = 1.0 if fitted else buy_scale(self.config, self.account.cash, buys=((o.remaining, p) for o, p, _ in buys))
        for order, price, volume in buys:
            self._fill(order, bar.ts, price, volume, scale=scale)

    def _fill(self, order: _Order, ts: datetime, bar_price: float, volume: float, *, scale: float = 1.0) -> None:
        account = self.account
        result = fill(
            self.config, side=order.side, qty=order.remaining, held=account.qty.item(account.column(order.symbol)),
            cash=account.cash, bar_price=bar_price, volume=volume, scale=scale,
            liquidity=self._window.liquidity(order.symbol) if self._window is not None else None,
        )
        reason = result.reason
        if result.qty <= QTY_EPS:
            self._cancel(order, order.remaining, reason or "nothing to fill", ts)
            return
        signed = result.qty * order.side
        position = account.apply_fill(order.symbol, signed, result.price, result.fee)
        remaining = order.remaining - result.qty
        self._bus.publish(
            OrderFilled(
                ts=ts, order_id=order.order_id, fill_id=order.order_id + ":1", symbol=order.symbol,
                qty=signed, price=result.price, fee=result.fee, cost=result.qty * abs(result.price - bar_price),
                bar_price=bar_price, remaining=0.0 if reason else remaining, position=position.qty,
                avg_price=position.avg_price,
            )
        )
        if reason and remaining > QTY_EPS:
            self._cancel(order, remaining, reason, ts)

    def _cancel(self, order: _Order, qty: float, reason: str, ts: datetime) -> None:
        self._bus.publish(OrderCancelled(ts=ts, order_id=order.order_id, symbol=order.symbol, qty=qty, reason=reason))

    def cancel_all(self, reason: str, ts: datetime) -> None:
        """Cancel every unfilled order (end of a backtest)."""
        for order in self._pending:
            self._cancel(order, order.remaining, reason, ts)
        self._pending = []
