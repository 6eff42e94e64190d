"""Read-only access to the store for the dashboard and the report.

The database is opened with ``mode=ro`` (``Store.open(readonly=True)``) and a whole page
is read inside one short ``BEGIN`` ... ``COMMIT``: a WAL reader sees one consistent
snapshot and never takes a lock that would make the daemon's writer wait. Nothing here
writes.

The ``models`` and ``forecasts`` tables are optional (older databases lack them); a
missing or empty one reads as ``None``, never as an error. Sentiment lives in the run's
lake, not here (``dashboard.sentiment``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from daemon.report import Summary, summarize
from state.store import Store

__all__ = ["OPTIONAL_TABLES", "RunData", "list_runs", "load_run", "open_store", "read_snapshot"]

OPTIONAL_TABLES = ("models", "forecasts")


def open_store(path: str | Path) -> Store:
    """The database at ``path``, read-only (``FileNotFoundError`` when it is not there)."""
    return Store.open(path, readonly=True)


@contextmanager
def read_snapshot(store: Store) -> Iterator[Store]:
    """One read transaction: every query inside sees the same committed state."""
    store.conn.execute("begin")
    try:
        yield store
    finally:
        store.conn.execute("commit")


@dataclass(frozen=True)
class RunData:
    """Everything the pages and the report show about one run (frames indexed by row).

    ``equity`` is indexed by mark time (UTC ``DatetimeIndex``) with ``cash``, ``equity``,
    ``gross``; the other frames keep their table's columns, times parsed to UTC.
    ``models``, ``forecasts``: ``None`` when the table does not exist or is empty.
    ``db``: the database file the run was read from.
    """

    run: dict[str, Any]
    equity: pd.DataFrame
    fills: pd.DataFrame
    orders: pd.DataFrame
    targets: pd.DataFrame
    risk: pd.DataFrame
    jobs: pd.DataFrame
    positions: pd.DataFrame
    adjustments: pd.DataFrame
    models: pd.DataFrame | None
    forecasts: pd.DataFrame | None
    summary: Summary
    db: Path | None = None

    @property
    def run_id(self) -> str:
        return str(self.run["run_id"])

    @property
    def start_cash(self) -> float:
        return float(self.run["start_cash"])

    @property
    def config(self) -> dict[str, Any]:
        return json.loads(self.run["config_json"]) if self.run.get("config_json") else {}


def list_runs(store: Store) -> list[dict[str, Any]]:
    """Every run, newest first: id, mode, status, start, strategy."""
    return store.rows(
        "select run_id, mode, status, started_at, strategy from runs order by started_at desc, rowid desc"
    )


def _frame(
    store: Store, sql: str, params: tuple[Any, ...], times: tuple[str, ...] = ("ts",), *, lenient: bool = False
) -> pd.DataFrame:
    """Rows as a frame, ``times`` parsed to UTC. Our tables hold ISO-8601 text; tables
    written by others are read ``lenient``ly (an unreadable time becomes NaT)."""
    cursor = store.conn.execute(sql, params)
    frame = pd.DataFrame(cursor.fetchall(), columns=[d[0] for d in cursor.description])
    for column in times:
        if column in frame:
            if lenient:
                frame[column] = pd.to_datetime(frame[column], utc=True, errors="coerce", format="mixed")
            else:
                frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
    return frame


def _columns(store: Store, table: str) -> list[str] | None:
    """The columns of a table or view, or None when it does not exist."""
    exists = store.conn.execute(
        "select 1 from sqlite_master where name = ? and type in ('table', 'view')", (table,)
    ).fetchone()
    if not exists:
        return None
    return [row[1] for row in store.conn.execute(f"pragma table_info({table})")]


def _optional(store: Store, table: str, run_id: str, order: tuple[str, ...]) -> pd.DataFrame | None:
    """A table that may not exist or be empty yet (``None``); rows of this run when it has a
    ``run_id`` column."""
    columns = _columns(store, table)
    if columns is None:
        return None
    where, params = ("where run_id = ?", (run_id,)) if "run_id" in columns else ("", ())
    by = [c for c in order if c in columns]
    sql = f"select * from {table} {where}" + (f" order by {', '.join(by)}" if by else "")
    times = tuple(c for c in columns if c == "ts" or c.endswith("_at") or c in ("day", "date"))
    frame = _frame(store, sql, params, times, lenient=True)
    return None if frame.empty else frame  # an empty table (a run without models yet): no data yet


def load_run(store: Store, run_id: str) -> RunData:
    """Read one run in one snapshot (``LookupError`` for an unknown run)."""
    with read_snapshot(store):
        return _read_run(store, run_id)


def _read_run(store: Store, run_id: str) -> RunData:
    runs = store.rows("select * from runs where run_id = ?", (run_id,))
    if not runs:
        raise LookupError(f"no run {run_id!r} in {store.path}")
    p = (run_id,)
    equity = _frame(store, "select ts, cash, equity, gross from equity where run_id = ? order by ts", p)
    return RunData(
        run=runs[0],
        equity=equity.set_index("ts"),
        fills=_frame(
            store,
            "select ts, symbol, qty, price, fee, cost, bar_price, order_id from fills "
            "where run_id = ? order by ts, rowid",
            p,
        ),
        orders=_frame(
            store,
            "select ts, symbol, side, qty, status, filled_qty, avg_fill_price, reason, order_id "
            "from orders where run_id = ? order by ts, rowid",
            p,
            ("ts", "updated_at"),
        ),
        targets=_frame(store, "select ts, bar_ts, symbol, weight from targets where run_id = ? order by ts", p),
        risk=_frame(store, "select * from risk where run_id = ? order by ts", p, ("ts", "bar_ts")),
        jobs=_frame(
            store,
            "select id, job, fired_at, finished_at, status, detail, error from jobs where run_id = ? order by id",
            p,
            ("fired_at", "finished_at"),
        ),
        positions=_frame(
            store,
            "select symbol, qty, avg_price, last_price, market_value, updated_at from positions "
            "where run_id = ? and qty != 0 order by market_value desc",
            p,
            ("updated_at",),
        ),
        adjustments=_frame(
            store, "select ts, symbol, reason, qty_before, qty_after, cash_change from adjustments "
            "where run_id = ? order by ts, id", p,
        ),
        models=_optional(store, "models", run_id, ("created_at", "version")),
        forecasts=_optional(store, "forecasts", run_id, ("ts", "symbol")),
        summary=summarize(store, run_id),
        db=Path(store.path),
    )
