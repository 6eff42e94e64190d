"""The paper broker: target weights in, market orders, fills, cash and marks out.

Rules, in the order they apply:

- A ``TargetWeightsSet`` becomes one market order per symbol whose holding must change,
  sized at the decision bar's close against equity marked at that close (whole shares
  unless ``fractional``). Order ids are deterministic (run, decision time, symbol): a
  decision already on record (after a restart) never places orders again.
- Timing: with ``fill = "next_bar"`` orders fill on the next bar, at its open or, when
  the data has no open, its close; never on the bar that produced the decision. With
  ``fill = "same_close"`` they fill at the decision bar's close.
- Sells go before buys. Long-only and no leverage: a sell never exceeds the holding and a
  buy never spends cash the account does not have. When prices moved between decision
  and fill so the buys cost more than the cash, every buy is scaled by the same factor
  and the remainders are cancelled with the reason.
- Price: the bar price moved against the order by ``slippage_bps`` plus, when the bar
  has volume and ``impact_coef`` > 0, the square-root impact ``Y * sigma * sqrt(Q / ADV)``
  (sigma: std of the last ``impact_window`` daily returns, ADV: their mean volume).
- When a bar has volume, a fill is capped at ``participation`` x volume; the remainder is
  cancelled and recorded.
- Commission: ``max(min_commission, commission_bps x notional)``, rounded to the cent.
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

from brokers.config import BrokerConfig
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
    TargetWeightsSet,
)

__all__ = ["PaperBroker", "commission", "order_id_for"]

_EPS = 1e-9


def commission(notional: float, bps: float, minimum: float) -> float:
    """Fee for one fill: ``max(minimum, bps/1e4 x |notional|)`` rounded half-up to cents."""
    raw = max(minimum, abs(notional) * bps / 1e4)
    return math.floor(raw * 100.0 + 0.5) / 100.0


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
    decision_bar_ts: datetime


class PaperBroker:
    """Simulated execution and the account (cash, positions) of one run."""

    def __init__(self, config: BrokerConfig, *, bus: EventBus, run_id: str, cash: float) -> None:
        self.config = config
        self._bus = bus
        self._run_id = run_id
        self.cash = float(cash)
        self._col: dict[str, int] = {}
        self._qty = np.zeros(0)
        self._avg = np.zeros(0)
        self._price = np.zeros(0)  # last usable close per symbol, 0 before the first
        self._bar: BarsClosed | None = None
        self._pending: list[_Order] = []
        self._known_ids: set[str] = set()
        # cache for marks: held symbols, their account columns, their read-only quantities
        self._held: tuple[tuple[str, ...], np.ndarray, np.ndarray] | None = None
        self._cols_cache: dict[tuple[str, ...], np.ndarray] = {}
        self._identity: dict[tuple[str, ...], bool] = {}  # bar order == account order
        self._bar_index: dict[tuple[str, ...], dict[str, int]] = {}
        # the last bar's symbols (feeds reuse one tuple, so ``is`` finds it) and columns
        self._bar_symbols: tuple[str, ...] | None = None
        self._bar_cols = np.zeros(0, dtype=np.intp)
        self._bar_identity = False
        self._window: list[tuple[np.ndarray, np.ndarray]] = []  # (close, volume) for impact
        self._log = structlog.get_logger(component="broker")

    # -- wiring and restart --------------------------------------------------------------

    def attach(self, bus: EventBus) -> None:
        bus.subscribe(BarsClosed, self.on_bars, name="broker:bars")
        bus.subscribe(TargetWeightsSet, self.on_targets, name="broker:targets")
        bus.subscribe(CorporateActionOccurred, self.on_corporate_action, name="broker:actions")

    def on_corporate_action(self, action: CorporateActionOccurred) -> None:
        """Splits change shares (and the average cost, the last price, open orders); cash
        dividends are credited on the ex-date. No trade, no fee."""
        i = self._col.get(action.symbol)
        if i is None or not (math.isfinite(action.value) and action.value > 0):
            return
        before = float(self._qty[i])
        cash_change = 0.0
        if action.action == "split":
            self._qty[i] *= action.value
            self._avg[i] /= action.value
            self._price[i] /= action.value
            for order in self._pending:
                if order.symbol == action.symbol:
                    order.remaining *= action.value
        elif action.action == "dividend":
            cash_change = before * action.value
            self.cash += cash_change
        elif action.action == "delisting":  # sold at the last price (``value``), no fee
            self._delist(i, action)
            cash_change = before * action.value
        else:
            return
        self._held = None
        if before != 0:
            self._bus.publish(
                PositionAdjusted(
                    ts=action.ts, symbol=action.symbol, reason=f"{action.action} {action.value:g}",
                    qty_before=before, qty_after=float(self._qty[i]), avg_price=float(self._avg[i]),
                    cash_change=cash_change,
                )
            )

    def _delist(self, i: int, action: CorporateActionOccurred) -> None:
        """The symbol stopped trading: cash out the holding at ``action.value``, drop its orders."""
        qty = float(self._qty[i])
        self.cash += qty * action.value
        self._qty[i] = 0.0
        self._avg[i] = 0.0
        self._price[i] = action.value
        for order in [o for o in self._pending if o.symbol == action.symbol]:
            self._pending.remove(order)
            self._cancel(order, order.remaining, f"{action.symbol} delisted", action.ts)
        if qty:
            self._log.info("position_delisted", symbol=action.symbol, qty=qty, price=action.value, ts=action.ts.isoformat())

    def restore(
        self,
        *,
        cash: float,
        positions: dict[str, float],
        avg_prices: dict[str, float],
        order_ids: frozenset[str],
        pending: tuple[dict[str, object], ...],
    ) -> None:
        """Resume from the ledger: cash, holdings, orders already placed, orders still open."""
        self.cash = float(cash)
        self._known_ids = set(order_ids)
        self._ensure(tuple(positions))
        self._cols_cache.clear()
        self._identity.clear()
        for symbol, qty in positions.items():
            i = self._col[symbol]
            self._qty[i] = qty
            self._avg[i] = avg_prices.get(symbol, 0.0)
        for row in pending:
            ts = datetime.fromisoformat(str(row["ts"]))
            self._pending.append(
                _Order(
                    order_id=str(row["order_id"]),
                    symbol=str(row["symbol"]),
                    side=1 if row["side"] == "buy" else -1,
                    remaining=float(row["qty"]) - float(row["filled_qty"]),  # type: ignore[arg-type]
                    decision_ts=ts,
                    decision_bar_ts=ts,
                )
            )
        self._held = None

    def remember_prices(self, bar: BarsClosed) -> None:
        """Warm-up: learn prices (and the impact window) without trading or marking."""
        self._learn(bar, self._ensure(bar.symbols))
        self._bar = bar

    # -- state helpers -------------------------------------------------------------------

    def _ensure(self, symbols: tuple[str, ...]) -> np.ndarray:
        """Account columns of ``symbols`` (adding unseen symbols to the account)."""
        cols = self._cols_cache.get(symbols)
        if cols is not None:
            return cols
        new = [s for s in symbols if s not in self._col]
        if new:
            for s in new:
                self._col[s] = len(self._col)
            pad = np.zeros(len(new))
            self._qty = np.concatenate([self._qty, pad])
            self._avg = np.concatenate([self._avg, pad])
            self._price = np.concatenate([self._price, pad])
            self._window = []
            self._held = None
            self._bar_symbols = None  # its identity flag may no longer hold
        cols = np.array([self._col[s] for s in symbols], dtype=np.intp)
        self._cols_cache[symbols] = cols
        self._identity[symbols] = len(cols) == len(self._col) and bool((cols == np.arange(len(cols))).all())
        self._bar_index[symbols] = {s: j for j, s in enumerate(symbols)}
        return cols

    def _learn(self, bar: BarsClosed, cols: np.ndarray, identity: bool | None = None) -> None:
        close = bar.close
        usable = close > 0  # False for NaN too: the last usable price stays
        if identity is None:
            identity = self._identity.get(bar.symbols, False)
        if identity and len(cols) == len(self._price):
            np.copyto(self._price, close, where=usable)
        else:
            self._price[cols[usable]] = close[usable]
        if self.config.impact_coef > 0:
            full_close = np.full(len(self._col), np.nan)
            full_volume = np.full(len(self._col), np.nan)
            full_close[cols] = close
            full_volume[cols] = bar.volume
            self._window.append((full_close, full_volume))
            del self._window[: -(self.config.impact_window + 1)]

    def equity(self) -> float:
        return self.cash + float(self._qty @ self._price)

    def positions(self) -> dict[str, float]:
        return {s: float(self._qty[i]) for s, i in self._col.items() if self._qty[i] != 0}

    # -- bars: fill what is pending, then mark -------------------------------------------

    def on_bars(self, bar: BarsClosed) -> None:
        symbols = bar.symbols
        if symbols is not self._bar_symbols:
            cols = self._ensure(symbols)
            self._bar_symbols, self._bar_cols, self._bar_identity = symbols, cols, self._identity[symbols]
        if self._pending:
            # next_bar orders; with same_close only orders restored after a restart wait
            # here. Fill before learning this bar: the impact estimate must not see its close.
            self._execute(bar, use_open=True)
        self._learn(bar, self._bar_cols, self._bar_identity)
        self._bar = bar
        self._mark(bar.ts)

    def _mark(self, ts: datetime) -> None:
        held = self._held
        if held is None:
            mask = self._qty != 0
            idx = np.flatnonzero(mask)
            qty = self._qty[idx]  # fancy indexing copies: safe to share read-only until it changes
            qty.setflags(write=False)
            held = self._held = (tuple(np.asarray(list(self._col))[mask]), idx, qty)
        symbols, idx, qty = held
        prices = self._price[idx]
        prices.setflags(write=False)
        value = float(qty.dot(prices))  # long-only: the market value is also the gross exposure
        cash = self.cash
        self._bus.publish(
            PortfolioMarked(ts=ts, cash=cash, equity=cash + value, gross=value, symbols=symbols, qty=qty, prices=prices)
        )

    # -- decisions: orders ---------------------------------------------------------------

    def on_targets(self, target: TargetWeightsSet) -> None:
        bar = self._bar
        if bar is None:
            self._log.warning("targets_without_prices", decision_ts=target.ts.isoformat())
            return
        for order in self._pending:  # a newer decision supersedes unfilled orders
            self._cancel(order, order.remaining, f"superseded by decision at {target.ts.isoformat()}", target.ts)
        self._pending = []
        cfg = self.config
        target_cols = self._ensure(target.symbols)
        bar_cols = self._ensure(bar.symbols)
        weights = np.zeros(len(self._col))
        weights[target_cols] = target.weights
        bar_close = np.full(len(self._col), np.nan)
        bar_close[bar_cols] = bar.close
        equity = self.equity()
        prefix = _order_prefix(self._run_id, target.ts)
        sells: list[_Order] = []
        buys: list[_Order] = []
        # Python floats: scalar arithmetic on numpy elements is several times slower.
        weight_of, held_of, close_of = weights.tolist(), self._qty.tolist(), bar_close.tolist()
        for symbol, i in self._col.items():
            w, held = weight_of[i], held_of[i]
            if w == 0 and held == 0:
                continue
            order_id = prefix + symbol
            if order_id in self._known_ids:
                continue  # this decision was already acted on (restart)
            price = close_of[i]
            if not (math.isfinite(price) and price > 0):
                self._known_ids.add(order_id)
                side = "buy" if w * equity > held * self._price[i] else "sell"
                self._bus.publish(
                    OrderRejected(
                        ts=target.ts, order_id=order_id, symbol=symbol, side=side, qty=0.0,
                        reason=f"no usable price for {symbol} at the decision bar {bar.ts.isoformat()}",
                        decision_ts=target.ts,
                    )
                )
                continue
            want = w * equity / price
            if not cfg.fractional:
                want = math.floor(want + _EPS)
            delta = want - held
            if abs(delta) < _EPS or abs(delta) * price < cfg.min_order_value:
                continue
            order = _Order(order_id, symbol, 1 if delta > 0 else -1, abs(delta), target.ts, bar.ts)
            (buys if delta > 0 else sells).append(order)
        buys = self._fit_buys(sells, buys, close_of)
        for order in sells + buys:
            self._known_ids.add(order.order_id)
            self._bus.publish(
                OrderSubmitted(
                    ts=target.ts, order_id=order.order_id, symbol=order.symbol,
                    side="buy" if order.side > 0 else "sell", qty=order.remaining,
                    decision_ts=target.ts,
                )
            )
        self._pending = sells + buys
        if cfg.fill == "same_close" and self._pending:
            self._execute(bar, use_open=False, fitted=True)
            self._mark(bar.ts)

    def _fit_buys(self, sells: list[_Order], buys: list[_Order], price: list[float]) -> list[_Order]:
        """Size buys so that, at the decision prices, they and their fees fit the cash.

        The cash is what the account holds plus what the sells raise; every buy shrinks
        by the same factor, so the target's proportions survive the commission.
        """
        cfg = self.config
        slip = cfg.slippage_bps / 1e4
        bps, minimum, col = cfg.commission_bps, cfg.min_commission, self._col
        raised = 0.0  # what the sells bring, net of their fees
        for o in sells:
            notional = o.remaining * price[col[o.symbol]] * (1 - slip)
            raised += notional - commission(notional, bps, minimum)
        available = self.cash + raised
        need = 0.0
        for o in buys:
            notional = o.remaining * price[col[o.symbol]] * (1 + slip)
            need += notional + commission(notional, bps, minimum)
        if need <= available or need <= 0:
            return buys
        scale = max(available, 0.0) / need
        fitted = []
        for order in buys:
            qty = order.remaining * scale
            order.remaining = qty if cfg.fractional else float(math.floor(qty + _EPS))
            if order.remaining > _EPS:
                fitted.append(order)
        return fitted

    # -- execution -----------------------------------------------------------------------

    def _execute(self, bar: BarsClosed, *, use_open: bool, fitted: bool = False) -> None:
        """Fill the pending orders at this bar. ``fitted``: the buys were sized at these
        very prices (same-close fills), so they cannot overspend and need no rescaling."""
        pending, self._pending = self._pending, []
        self._ensure(bar.symbols)
        col_in_bar = self._bar_index[bar.symbols]
        opens = bar.open.tolist() if use_open else None
        closes, volumes = bar.close.tolist(), bar.volume.tolist()
        buys: list[tuple[_Order, float, float]] = []
        for order in pending:  # sells were queued first: their proceeds fund the buys
            j = col_in_bar.get(order.symbol)
            price = volume = math.nan
            if j is not None:
                price = opens[j] if opens is not None else math.nan
                if not (math.isfinite(price) and price > 0):
                    price = closes[j]
                volume = volumes[j]
            if not (math.isfinite(price) and price > 0):
                self._bus.publish(
                    OrderRejected(
                        ts=bar.ts, order_id=order.order_id, symbol=order.symbol,
                        side="buy" if order.side > 0 else "sell", qty=order.remaining,
                        reason=f"no usable price for {order.symbol} at {bar.ts.isoformat()}",
                        decision_ts=order.decision_ts,
                    )
                )
            elif order.side < 0:
                self._fill(order, bar.ts, price, volume)
            else:
                buys.append((order, price, volume))
        scale = 1.0 if fitted else self._buy_scale(buys)
        for order, price, volume in buys:
            self._fill(order, bar.ts, price, volume, scale=scale)

    def _buy_scale(self, buys: list[tuple[_Order, float, float]]) -> float:
        """Pro-rata factor when the buys cost more than the cash on hand (prices moved).

        Cutting every buy by the same factor keeps the target's proportions instead of
        starving whichever symbol happens to come last.
        """
        cfg = self.config
        need = 0.0
        for order, price, _ in buys:
            notional = order.remaining * price * (1 + cfg.slippage_bps / 1e4)
            need += notional + commission(notional, cfg.commission_bps, cfg.min_commission)
        if need <= self.cash or need <= 0:
            return 1.0
        return max(self.cash, 0.0) / need

    def _fill(
        self, order: _Order, ts: datetime, bar_price: float, volume: float, *, scale: float = 1.0
    ) -> None:
        cfg = self.config
        i = self._col[order.symbol]
        side = order.side
        qty = order.remaining
        held = self._qty.item(i)
        reason = None
        if scale < 1.0:
            qty = qty * scale if cfg.fractional else float(math.floor(qty * scale + _EPS))
            reason = f"insufficient cash: buys scaled to {scale:.4%} of their size"
        if side < 0 and qty > held + _EPS:
            qty, reason = max(held, 0.0), "sell exceeds holding (long-only)"
        if volume > 0 and math.isfinite(volume):  # NaN > 0 is False
            cap = cfg.participation * volume
            cap = cap if cfg.fractional else math.floor(cap + _EPS)
            if qty > cap + _EPS:
                qty, reason = cap, f"participation cap: {cfg.participation:.0%} of bar volume {volume:g}"
        move = cfg.slippage_bps / 1e4
        if cfg.impact_coef > 0:
            move += self._impact(i, qty)
        price = bar_price * (1.0 + side * move)
        notional = qty * price
        fee = commission(notional, cfg.commission_bps, cfg.min_commission)
        if side > 0 and notional + fee > self.cash:
            affordable = self._affordable(price)
            if qty > affordable + _EPS:
                qty, reason = affordable, f"insufficient cash: {self.cash:.2f} available"
                notional = qty * price
                fee = commission(notional, cfg.commission_bps, cfg.min_commission)
        if qty <= _EPS:
            self._cancel(order, order.remaining, reason or "nothing to fill", ts)
            return
        signed = qty * side
        self.cash -= signed * price + fee
        new = held + signed
        avg = self._avg.item(i)
        if signed > 0:
            avg = (held * avg + signed * price) / new
        elif abs(new) < _EPS:
            new, avg = 0.0, 0.0
        self._qty[i] = new
        self._avg[i] = avg
        self._held = None
        remaining = order.remaining - qty
        order_id = order.order_id
        self._bus.publish(
            OrderFilled(
                ts=ts, order_id=order_id, fill_id=order_id + ":1", symbol=order.symbol,
                qty=signed, price=price, fee=fee, cost=qty * abs(price - bar_price), bar_price=bar_price,
                remaining=0.0 if reason else remaining, position=new, avg_price=avg,
            )
        )
        if reason and remaining > _EPS:
            self._cancel(order, remaining, reason, ts)

    def _affordable(self, price: float) -> float:
        """Most shares buyable at ``price`` with the cash on hand, commission included."""
        cfg = self.config
        cash = self.cash
        if cash <= 0:
            return 0.0
        qty = max(min(cash / (price * (1 + cfg.commission_bps / 1e4)), (cash - cfg.min_commission) / price), 0.0)
        if not cfg.fractional:
            qty = float(math.floor(qty + _EPS))
            # The fee is rounded to the cent and may round up: step down until it fits.
            while qty > 0 and qty * price + commission(qty * price, cfg.commission_bps, cfg.min_commission) > cash:
                qty -= 1.0
            return qty
        if qty * price + commission(qty * price, cfg.commission_bps, cfg.min_commission) > cash:
            qty -= 0.01 / price
        return max(qty, 0.0)

    def _impact(self, i: int, qty: float) -> float:
        cfg = self.config
        if cfg.impact_coef <= 0 or len(self._window) < 3:
            return 0.0
        closes = np.array([c[i] for c, _ in self._window])
        volumes = np.array([v[i] for _, v in self._window])
        returns = closes[1:] / closes[:-1] - 1.0
        returns = returns[np.isfinite(returns)]
        adv = np.nanmean(volumes[1:]) if np.isfinite(volumes[1:]).any() else float("nan")
        if len(returns) < 2 or not (np.isfinite(adv) and adv > 0):
            return 0.0
        return cfg.impact_coef * float(returns.std(ddof=1)) * math.sqrt(qty / adv)

    def _cancel(self, order: _Order, qty: float, reason: str, ts: datetime) -> None:
        self._bus.publish(OrderCancelled(ts=ts, order_id=order.order_id, symbol=order.symbol, qty=qty, reason=reason))

    def cancel_all(self, reason: str, ts: datetime) -> None:
        """Cancel every unfilled order (end of a backtest)."""
        for order in self._pending:
            self._cancel(order, order.remaining, reason, ts)
        self._pending = []
