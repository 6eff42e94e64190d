"""The recorder: turns events into SQLite rows.

It subscribes to the bus and buffers what each event changes in a ``Batch``. In live
mode it commits after every event (``autocommit``), so one event is one transaction. In
a backtest the driver calls ``flush()`` every ``store.commit_every`` job fires, always
between two cascades: a crash loses only whole, uncommitted timestamps, never half an
event. With ``store.writer = "process"`` (the default) a backtest's batches are written
by a background process (``state.writer``) while the replay goes on.
"""

from __future__ import annotations

from collections.abc import Callable
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
from state.store import Batch, Store, iso
from state.writer import ProcessWriter

__all__ = ["Recorder"]

# The tables of ``Batch.rows()``, in its order (rows written are counted per table).
_TABLES = ("orders", "fills", "positions", "equity", "jobs", "targets", "risk", "adjustments")

# Positions in an orders row (same order as the table's columns).
_STATUS, _REASON, _FILLED, _AVG, _UPDATED = 6, 7, 8, 9, 10


class _OpenOrder:
    """An order the recorder still expects fills or a cancel for."""

    __slots__ = ("notional", "row")

    def __init__(self, row: list[Any]) -> None:
        self.row = row
        self.notional = 0.0


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
        self._writer = writer  # backtests: batches go to a background process
        self._clock = clock
        self._run_id = run_id
        self._autocommit = autocommit
        self._batch = Batch()
        self._open_orders: dict[str, _OpenOrder] = {}
        self._held: dict[str, tuple[float, float]] = {}  # symbol -> (qty, avg_price)
        self._last_mark: PortfolioMarked | None = None
        self._replayed: Batch | None = None  # rows a resume's replay would write, for checking
        self.rows_written = dict.fromkeys(_TABLES, 0)  # since this process started (metrics)

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

    def restore(self, pending: tuple[dict[str, Any], ...], positions: dict[str, float], avg: dict[str, float]) -> None:
        """After a restart: orders still open and positions held, as the store had them."""
        for row in pending:
            self._open_orders[row["order_id"]] = _OpenOrder(
                [row["order_id"], self._run_id, row["ts"], row["symbol"], row["side"], row["qty"],
                 "submitted", None, row["filled_qty"], None, row["ts"]]
            )
        self._held = {s: (q, avg.get(s, 0.0)) for s, q in positions.items()}

    # -- handlers ------------------------------------------------------------------------

    def _on_submitted(self, e: OrderSubmitted) -> None:
        ts = iso(e.decision_ts)
        order = _OpenOrder([e.order_id, self._run_id, ts, e.symbol, e.side, e.qty, "submitted", None, 0.0, None, iso(e.ts)])
        self._open_orders[e.order_id] = order
        self._batch.orders[e.order_id] = order.row  # the live row: serialised at flush

    def _on_filled(self, e: OrderFilled) -> None:
        ts = iso(e.ts)
        self._batch.fills.append(
            (e.fill_id, e.order_id, self._run_id, ts, e.symbol, e.qty, e.price, e.fee, e.cost, e.bar_price)
        )
        order = self._open_orders.get(e.order_id)
        if order is not None:
            row = order.row
            row[_FILLED] += abs(e.qty)
            order.notional += abs(e.qty) * e.price
            row[_AVG] = order.notional / row[_FILLED]
            row[_UPDATED] = ts
            if e.remaining <= 0:
                row[_STATUS] = "filled"
                del self._open_orders[e.order_id]
            self._batch.orders[e.order_id] = row
        self._held[e.symbol] = (e.position, e.avg_price)
        mv = e.position * e.bar_price
        self._batch.positions[e.symbol] = (self._run_id, e.symbol, e.position, e.avg_price, e.bar_price, mv, ts)

    def _close_order(self, order_id: str, status: str, reason: str, ts: str) -> bool:
        order = self._open_orders.pop(order_id, None)
        if order is None:
            return False
        row = order.row
        if status == "cancelled" and row[_FILLED] > 0:
            status = "partially_filled"
        row[_STATUS], row[_REASON], row[_UPDATED] = status, reason, ts
        self._batch.orders[order_id] = row
        return True

    def _on_rejected(self, e: OrderRejected) -> None:
        ts = iso(e.ts)
        if not self._close_order(e.order_id, "rejected", e.reason, ts):
            # Refused before it was ever submitted (no price at decision time).
            self._batch.orders[e.order_id] = (
                e.order_id, self._run_id, iso(e.decision_ts), e.symbol, e.side, e.qty,
                "rejected", e.reason, 0.0, None, ts,
            )

    def _on_cancelled(self, e: OrderCancelled) -> None:
        self._close_order(e.order_id, "cancelled", e.reason, iso(e.ts))

    def _on_marked(self, e: PortfolioMarked) -> None:
        ts = iso(e.ts)
        self._batch.equity[ts] = (self._run_id, ts, e.cash, e.equity, e.gross)
        self._last_mark = e  # positions' prices are written from the last mark at flush

    def _on_targets(self, e: TargetWeightsSet) -> None:
        ts, bar_ts = iso(e.ts), iso(e.bar_ts)
        self._batch.targets.extend(
            (self._run_id, ts, bar_ts, s, float(w), e.strategy) for s, w in zip(e.symbols, e.weights, strict=True)
        )

    def _on_adjusted(self, e: PositionAdjusted) -> None:
        ts = iso(e.ts)
        self._batch.adjustments.append(
            (self._run_id, ts, e.symbol, e.reason, e.qty_before, e.qty_after, e.avg_price, e.cash_change)
        )
        self._held[e.symbol] = (e.qty_after, e.avg_price)

    def _on_risk(self, e: RiskAssessed) -> None:
        self._batch.risk.append(
            (
                self._run_id, iso(e.ts), iso(e.bar_ts), e.strategy, e.vol, e.var, e.cvar, e.var_method,
                e.confidence, e.scale, e.bound, e.gross, e.limits, e.weights, e.diagnostics, e.notes,
            )
        )

    def _on_job(self, e: JobFinished | JobFailed) -> None:
        if isinstance(e, JobFinished):
            status, detail, error = ("skipped" if e.skipped else "ok"), e.detail, None
        else:
            status, detail, error = "failed", None, e.error
        self._batch.jobs.append((self._run_id, e.job, iso(e.fired_at), iso(e.ts), status, detail, error))

    # -- replaying a resumed run ---------------------------------------------------------

    def start_replay(self) -> None:
        """From now on, keep fills and equity rows for ``end_replay`` instead of writing."""
        self._replayed = Batch()

    def end_replay(self) -> Batch:
        """Stop replaying; what the replay would have written (fills, equity) since the start."""
        self.flush()
        replayed, self._replayed = self._replayed, None
        return replayed if replayed is not None else Batch()

    # -- commits -------------------------------------------------------------------------

    def flush(self) -> None:
        """Commit everything buffered in one transaction."""
        batch = self._batch
        mark = self._last_mark
        if mark is not None:
            ts = iso(mark.ts)
            prices = dict(zip(mark.symbols, mark.prices.tolist(), strict=True))
            for symbol, (qty, avg) in self._held.items():
                price = prices.get(symbol)
                if price is not None:
                    batch.positions[symbol] = (self._run_id, symbol, qty, avg, price, qty * price, ts)
            self._last_mark = None
        if not batch:
            return
        if self._replayed is not None:  # already on record: checked, not written again
            self._replayed.fills += batch.fills
            self._replayed.equity.update(batch.equity)
            self._batch = Batch()
            return
        batch.last_event_at = iso(self._clock.now())
        (self._writer or self._store).write(self._run_id, batch)
        self._batch = Batch()
        for table, rows in zip(_TABLES, batch.rows(), strict=False):
            self.rows_written[table] += len(rows)

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
