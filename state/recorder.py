"""The recorder: turns events into SQLite rows.

It subscribes to the bus and buffers what each event changes in a ``Batch``. In live
mode it commits after every event (``autocommit``), so one event is one transaction. In
a backtest the driver calls ``flush()`` every ``store.commit_every`` job fires, always
between two cascades: a crash loses only whole, uncommitted timestamps, never half an
event. With ``store.writer = "process"`` (the default) a backtest's batches are written
by a background process (``state.writer``) while the replay goes on.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from core.bus import EventBus
from core.clock import Clock
from core.events import (
    Event,
    JobFailed,
    JobFinished,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    PortfolioMarked,
    PositionAdjusted,
    RiskAssessed,
    TargetWeightsSet,
)
from core.positions import PendingOrder, Position
from state.batch import AdjustmentRow, EquityRow, FillRow, JobRow, OrderRow, PositionRow, RiskRow, TargetRow
from state.store import Batch, Store
from state.writer import ProcessWriter

__all__ = ["Recorder"]


@dataclass(slots=True)
class _OpenOrder:
    """An order the recorder still expects fills or a cancel for: its ``orders`` row,
    updated in place (a batch holding it writes it as it is at the flush)."""

    row: OrderRow
    notional: float = 0.0  # sum of |qty| x price over its fills


def _json(value: object) -> str:
    """JSON text of an assessment field; numpy numbers as floats, non-finite as null."""
    return json.dumps(value, default=_plain)


def _plain(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


class Recorder:
    """Writes one run's events into ``store``."""

    def __init__(
        self,
        store: Store,
        run_id: str,
        *,
        clock: Clock,
        autocommit: bool,
        writer: ProcessWriter | None = None,
    ) -> None:
        self._store = store
        self._iso = store.times.text
        self._writer = writer  # backtests: batches go to a background process
        self._clock = clock
        self._run_id = run_id
        self._autocommit = autocommit
        self._batch = Batch()
        self._open_orders: dict[str, _OpenOrder] = {}
        self._held: dict[str, Position] = {}  # as the broker last reported them
        self._last_mark: PortfolioMarked | None = None

    def attach(self, bus: EventBus) -> None:
        """Subscribe to everything the store records."""
        handlers: dict[type[Event], Callable[[Any], None]] = {
            OrderSubmitted: self._on_submitted,
            OrderFilled: self._on_filled,
            OrderRejected: self._on_rejected,
            OrderCancelled: self._on_cancelled,
            PortfolioMarked: self._on_marked,
            TargetWeightsSet: self._on_targets,
            RiskAssessed: self._on_risk,
            PositionAdjusted: self._on_adjusted,
            JobFinished: self._on_job,
            JobFailed: self._on_job,
        }
        for event_type, handler in handlers.items():
            if self._autocommit:
                handler = self._committing(handler)
            bus.subscribe(event_type, handler, name=f"recorder:{event_type.__name__}")

    def _committing(self, handler: Callable[[Any], None]) -> Callable[[Any], None]:
        def record_and_commit(event: Event) -> None:
            handler(event)
            self.flush()

        return record_and_commit

    def restore(self, pending: tuple[PendingOrder, ...], positions: Mapping[str, float], avg: Mapping[str, float]) -> None:
        """After a restart: orders still open and positions held, as the store had them."""
        for order in pending:
            ts = self._iso(order.decision_ts)
            self._open_orders[order.order_id] = _OpenOrder(
                OrderRow(
                    order_id=order.order_id, run_id=self._run_id, ts=ts, symbol=order.symbol, side=order.side,
                    qty=order.qty, status="submitted", reason=None, filled_qty=order.filled_qty, avg_fill_price=None,
                    updated_at=ts,
                )
            )
        self._held = {s: Position(q, avg.get(s, 0.0)) for s, q in positions.items()}

    # -- handlers ------------------------------------------------------------------------

    def _on_submitted(self, e: OrderSubmitted) -> None:
        row = OrderRow(
            order_id=e.order_id, run_id=self._run_id, ts=self._iso(e.decision_ts), symbol=e.symbol, side=e.side,
            qty=e.qty, status="submitted", reason=None, filled_qty=0.0, avg_fill_price=None, updated_at=self._iso(e.ts),
        )
        self._open_orders[e.order_id] = _OpenOrder(row)
        self._batch.orders[e.order_id] = row

    def _on_filled(self, e: OrderFilled) -> None:
        ts = self._iso(e.ts)
        self._batch.fills.append(
            FillRow(
                fill_id=e.fill_id, order_id=e.order_id, run_id=self._run_id, ts=ts, symbol=e.symbol, qty=e.qty,
                price=e.price, fee=e.fee, cost=e.cost, bar_price=e.bar_price,
            )
        )
        order = self._open_orders.get(e.order_id)
        if order is not None:
            row = order.row
            row.filled_qty += abs(e.qty)
            order.notional += abs(e.qty) * e.price
            row.avg_fill_price = order.notional / row.filled_qty
            row.updated_at = ts
            if e.remaining <= 0:
                row.status = "filled"
                del self._open_orders[e.order_id]
            self._batch.orders[e.order_id] = row
        self._held[e.symbol] = Position(e.position, e.avg_price)
        self._batch.positions[e.symbol] = self._position_row(e.symbol, e.bar_price, ts)

    def _position_row(self, symbol: str, price: float, ts: str) -> PositionRow:
        held = self._held[symbol]
        return PositionRow(
            run_id=self._run_id, symbol=symbol, qty=held.qty, avg_price=held.avg_price, last_price=price,
            market_value=held.qty * price, updated_at=ts,
        )

    def _close_order(self, order_id: str, status: str, reason: str, ts: str) -> bool:
        order = self._open_orders.pop(order_id, None)
        if order is None:
            return False
        row = order.row
        if status == "cancelled" and row.filled_qty > 0:
            status = "partially_filled"
        row.status, row.reason, row.updated_at = status, reason, ts
        self._batch.orders[order_id] = row
        return True

    def _on_rejected(self, e: OrderRejected) -> None:
        ts = self._iso(e.ts)
        if not self._close_order(e.order_id, "rejected", e.reason, ts):
            # Refused before it was ever submitted (no price at decision time).
            self._batch.orders[e.order_id] = OrderRow(
                order_id=e.order_id, run_id=self._run_id, ts=self._iso(e.decision_ts), symbol=e.symbol, side=e.side,
                qty=e.qty, status="rejected", reason=e.reason, filled_qty=0.0, avg_fill_price=None, updated_at=ts,
            )

    def _on_cancelled(self, e: OrderCancelled) -> None:
        self._close_order(e.order_id, "cancelled", e.reason, self._iso(e.ts))

    def _on_marked(self, e: PortfolioMarked) -> None:
        ts = self._iso(e.ts)
        self._batch.equity[ts] = EquityRow(run_id=self._run_id, ts=ts, cash=e.cash, equity=e.equity, gross=e.gross)
        self._last_mark = e  # positions' prices are written from the last mark at flush

    def _on_targets(self, e: TargetWeightsSet) -> None:
        ts, bar_ts, run_id, strategy = self._iso(e.ts), self._iso(e.bar_ts), self._run_id, e.strategy
        self._batch.targets.extend(
            TargetRow(run_id=run_id, ts=ts, bar_ts=bar_ts, symbol=s, weight=w, strategy=strategy)
            for s, w in zip(e.symbols, e.weights.tolist(), strict=True)
        )

    def _on_adjusted(self, e: PositionAdjusted) -> None:
        self._batch.adjustments.append(
            AdjustmentRow(
                run_id=self._run_id, ts=self._iso(e.ts), symbol=e.symbol, reason=e.reason, qty_before=e.qty_before,
                qty_after=e.qty_after, avg_price=e.avg_price, cash_change=e.cash_change,
            )
        )
        self._held[e.symbol] = Position(e.qty_after, e.avg_price)

    def _on_risk(self, e: RiskAssessed) -> None:
        a = e.assessment
        self._batch.risk.append(
            RiskRow(
                run_id=self._run_id, ts=self._iso(e.ts), bar_ts=self._iso(e.bar_ts), strategy=e.strategy, vol=a.vol,
                var=a.var, cvar=a.cvar, var_method=a.var_method, confidence=a.confidence, scale=a.scale,
                bound=a.bound, gross=a.gross, limits=_json(a.limits),
                weights=_json({s: round(w, 10) for s, w in a.weights.items()}),
                diagnostics=_json(a.diagnostics), notes=_json(list(a.notes)),
            )
        )

    def _on_job(self, e: JobFinished | JobFailed) -> None:
        if isinstance(e, JobFinished):
            status, detail, error = ("skipped" if e.skipped else "ok"), e.detail, None
        else:
            status, detail, error = "failed", None, e.error
        self._batch.jobs.append(
            JobRow(
                run_id=self._run_id, job=e.job, fired_at=self._iso(e.fired_at), finished_at=self._iso(e.ts),
                status=status, detail=detail, error=error,
            )
        )

    # -- commits -------------------------------------------------------------------------

    def flush(self) -> None:
        """Commit everything buffered in one transaction."""
        batch = self._batch
        mark = self._last_mark
        if mark is not None:
            ts = self._iso(mark.ts)
            prices = dict(zip(mark.symbols, mark.prices.tolist(), strict=True))
            for symbol in self._held:
                price = prices.get(symbol)
                if price is not None:
                    batch.positions[symbol] = self._position_row(symbol, price, ts)
            self._last_mark = None
        if not batch:
            return
        batch.last_event_at = self._iso(self._clock.now())
        (self._writer or self._store).write(self._run_id, batch)
        self._batch = Batch()

    def sync(self) -> None:
        """Flush, and return once everything recorded so far is committed."""
        self.flush()
        if self._writer is not None:
            self._writer.sync()

    def close(self) -> None:
        """Commit what is left (and stop the background writer, if any)."""
        try:
            self.flush()
        finally:
            if self._writer is not None:
                self._writer.close()
