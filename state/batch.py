"""What the recorder writes: a ``Batch`` of rows and the SQL that lands it in one transaction.

Standard library only: the background writer process (``state.writer``) imports this
module and nothing heavier, so it starts in a few dozen milliseconds.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from functools import cached_property, lru_cache
from operator import attrgetter
from typing import Any, Literal

__all__ = [
    "TABLES", "AdjustmentRow", "Batch", "EquityRow", "FillRow", "JobRow", "OrderRow", "PositionRow", "RiskRow",
    "Rows", "TableSpec", "TargetRow", "write_rows",
]


# -- one row type per table: its fields are the table's columns, in order ---------------
# (mutable: the recorder updates an open order's row in place until it is written)


@dataclass(slots=True)
class OrderRow:
    order_id: str
    run_id: str
    ts: str  # decision time
    symbol: str
    side: str
    qty: float
    status: str  # submitted | filled | partially_filled | cancelled | rejected
    reason: str | None
    filled_qty: float
    avg_fill_price: float | None
    updated_at: str


@dataclass(slots=True)
class FillRow:
    fill_id: str
    order_id: str
    run_id: str
    ts: str
    symbol: str
    qty: float  # signed: + buy, - sell
    price: float
    fee: float
    cost: float
    bar_price: float


@dataclass(slots=True)
class PositionRow:
    run_id: str
    symbol: str
    qty: float
    avg_price: float
    last_price: float
    market_value: float
    updated_at: str


@dataclass(slots=True)
class EquityRow:
    run_id: str
    ts: str
    cash: float
    equity: float
    gross: float


@dataclass(slots=True)
class JobRow:
    run_id: str
    job: str
    fired_at: str
    finished_at: str
    status: str  # ok | skipped | failed
    detail: str | None
    error: str | None


@dataclass(slots=True)
class TargetRow:
    run_id: str
    ts: str
    bar_ts: str
    symbol: str
    weight: float
    strategy: str


@dataclass(slots=True)
class RiskRow:
    run_id: str
    ts: str
    bar_ts: str
    strategy: str
    vol: float
    var: float
    cvar: float
    var_method: str
    confidence: float
    scale: float
    bound: str
    gross: float
    limits: str  # JSON text
    weights: str  # JSON text
    diagnostics: str  # JSON text
    notes: str  # JSON text


@dataclass(slots=True)
class AdjustmentRow:
    run_id: str
    ts: str
    symbol: str
    reason: str
    qty_before: float
    qty_after: float
    avg_price: float
    cash_change: float


@dataclass(frozen=True)
class TableSpec:
    """How one table is written: its name (also the ``Batch`` field holding its rows),
    its row type (the columns) and what a conflicting row does.

    ``conflict``: ``fail`` (plain insert), ``ignore`` (keep the stored row), ``replace``
    (delete and insert), ``update`` (upsert on ``key``, setting ``update``: every column
    outside the key unless given).
    """

    name: str
    row: type
    conflict: Literal["fail", "ignore", "replace", "update"] = "fail"
    key: tuple[str, ...] = ()
    update: tuple[str, ...] = ()

    @cached_property
    def columns(self) -> tuple[str, ...]:
        return tuple(f.name for f in fields(self.row))

    @cached_property
    def values(self) -> Callable[[Any], tuple[Any, ...]]:
        """A row's values in column order (a plain tuple)."""
        return attrgetter(*self.columns)

    def statement(self, rows: int) -> str:
        """The SQL that writes ``rows`` rows at once."""
        return _statement(self, rows)


@lru_cache(maxsize=128)
def _statement(spec: TableSpec, rows: int) -> str:
    verb = {"ignore": "insert or ignore", "replace": "insert or replace"}.get(spec.conflict, "insert")
    group = "(" + ", ".join("?" * len(spec.columns)) + ")"
    sql = f"{verb} into {spec.name} ({', '.join(spec.columns)}) values {', '.join([group] * rows)}"
    if spec.conflict == "update":
        update = spec.update or tuple(c for c in spec.columns if c not in spec.key)
        sql += f" on conflict({', '.join(spec.key)}) do update set " + ", ".join(f"{c} = excluded.{c}" for c in update)
    return sql


# In write order: an order before its fills (foreign key).
TABLES = (
    TableSpec(
        "orders", OrderRow, "update", key=("order_id",),
        update=("status", "reason", "filled_qty", "avg_fill_price", "updated_at"),
    ),
    TableSpec("fills", FillRow, "ignore"),
    TableSpec("positions", PositionRow, "update", key=("run_id", "symbol")),
    TableSpec("equity", EquityRow, "update", key=("run_id", "ts")),
    TableSpec("jobs", JobRow),
    TableSpec("targets", TargetRow, "replace"),
    TableSpec("risk", RiskRow, "replace"),
    TableSpec("adjustments", AdjustmentRow),
)

# A batch as plain data (what travels to the writer process): rows by table name, as
# plain tuples in column order, and ``last_event_at``.
Rows = tuple[dict[str, list[tuple[Any, ...]]], str | None]


@dataclass
class Batch:
    """Rows that one event (or, in backtests, a run of whole cascades) changes.

    One field per table in ``TABLES``, named like it. ``orders``, ``positions`` and
    ``equity`` are keyed upserts: later rows for the same key win.
    """

    orders: dict[str, OrderRow] = field(default_factory=dict)
    fills: list[FillRow] = field(default_factory=list)
    positions: dict[str, PositionRow] = field(default_factory=dict)
    equity: dict[str, EquityRow] = field(default_factory=dict)
    jobs: list[JobRow] = field(default_factory=list)
    targets: list[TargetRow] = field(default_factory=list)
    risk: list[RiskRow] = field(default_factory=list)
    adjustments: list[AdjustmentRow] = field(default_factory=list)
    last_event_at: str | None = None

    def rows(self) -> Rows:
        """The batch as plain data, as ``write_rows`` expects it."""
        tables: dict[str, list[tuple[Any, ...]]] = {}
        for spec in TABLES:
            rows = getattr(self, spec.name)
            if rows:
                tables[spec.name] = list(map(spec.values, rows.values() if isinstance(rows, dict) else rows))
        return tables, self.last_event_at

    def __bool__(self) -> bool:
        return any(getattr(self, spec.name) for spec in TABLES)


_CHUNK = 400  # rows per statement: well under SQLite's 32,766 bound parameters


def _insert_all(conn: sqlite3.Connection, spec: TableSpec, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert ``rows`` with multi-row statements: about a third cheaper than executemany."""
    full = len(rows) - len(rows) % _CHUNK
    for start in range(0, full, _CHUNK):
        chunk = rows[start : start + _CHUNK]
        conn.execute(spec.statement(_CHUNK), [value for row in chunk for value in row])
    rest = rows[full:]
    if rest:
        conn.execute(spec.statement(len(rest)), [value for row in rest for value in row])


def write_rows(conn: sqlite3.Connection, run_id: str, rows: Rows) -> None:
    """Write one batch (``Batch.rows()``) in one ``BEGIN IMMEDIATE`` transaction."""
    tables, last_event_at = rows
    conn.execute("begin immediate")
    try:
        for spec in TABLES:
            table_rows = tables.get(spec.name)
            if table_rows:
                _insert_all(conn, spec, table_rows)
        conn.execute(
            "update runs set last_event_at = coalesce(?, last_event_at), heartbeat_at = ? where run_id = ?",
            (last_event_at, datetime.now(UTC).isoformat(), run_id),
        )
    except BaseException:
        conn.execute("rollback")
        raise
    conn.execute("commit")
