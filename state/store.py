"""The SQLite store: tradingd's system of record and the user's window into it.

A repository over one injected connection (sqlite-utils on top of ``sqlite3``), in WAL
mode so ``sqlite3 data/tradingd.db`` and ``tradingd status`` can read while the daemon
writes. Writes arrive as a ``Batch`` and land in one transaction: all of it or none.

Times are ISO-8601 UTC strings (``2022-12-28T21:00:00+00:00``): readable in ``sqlite3``
and ordered correctly as text.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from sqlite_utils import Database

from core.positions import PendingOrder, Position
from state.batch import Batch, write_rows
from state.migrations import MIGRATIONS, SCHEMA_VERSION

__all__ = ["Batch", "IsoTimes", "Ledger", "RunInfo", "SchemaError", "Store", "iso"]


class SchemaError(RuntimeError):
    """The database was written by a newer tradingd (or is not a tradingd database)."""


@lru_cache(maxsize=8192)  # the same instants recur (an event's ts, its job, its mark)
def iso(value: datetime) -> str:
    """Canonical text form of a time in the store: ``value.astimezone(UTC).isoformat()``."""
    return value.astimezone(UTC).isoformat()


class IsoTimes:
    """``iso`` with a table of times formatted ahead (a store's ``times``).

    A backtest writes each bar time several times, and formatting them one by one was a
    visible share of a replay: ``learn`` formats a whole history at once (vectorised),
    and ``text`` finds them ready.
    """

    def __init__(self) -> None:
        self._known: dict[datetime, str] = {}

    def text(self, value: datetime) -> str:
        """``iso(value)``."""
        text = self._known.get(value)
        return text if text is not None else iso(value)

    def learn(self, times: Sequence[datetime]) -> None:
        """Format many aware times at once. Times with microseconds are left to ``iso``."""
        known = self._known
        if not times or (times[0] in known and times[-1] in known):
            return  # nothing to do, or this history was learned already
        epoch_us = np.fromiter((round(t.timestamp() * 1e6) for t in times), dtype=np.int64, count=len(times))
        if (epoch_us % 1_000_000).any():
            return
        texts = np.datetime_as_string(epoch_us.astype("datetime64[us]").astype("datetime64[s]"), unit="s")
        known.update(zip(times, (f"{t}+00:00" for t in texts.tolist()), strict=True))


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value)


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    mode: str
    status: str
    started_at: str
    config_hash: str
    start_cash: float
    pid: int | None


@dataclass(frozen=True)
class Ledger:
    """A run's trading state rebuilt from its fills (the ledger) and orders: holdings
    through ``core.positions.Position``, exactly as the broker booked them."""

    cash: float
    positions: dict[str, float]
    avg_prices: dict[str, float]
    order_ids: frozenset[str]
    pending: tuple[PendingOrder, ...]
    last_mark_ts: datetime | None
    last_target_bar_ts: datetime | None


class Store:
    """Repository over one SQLite connection. Build with ``Store.open(path)``."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn = conn
        self.db = Database(conn)
        self.path = path
        self.times = IsoTimes()  # how this store's writers format times

    # -- lifecycle -----------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path, *, readonly: bool = False) -> Store:
        """Open (creating and migrating unless ``readonly``) the database at ``path``."""
        path = Path(path)
        if readonly:
            if not path.exists():
                raise FileNotFoundError(f"no database at {path}")
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, isolation_level=None)
            conn.execute("pragma journal_mode=wal")
            conn.execute("pragma synchronous=normal")
        conn.execute("pragma busy_timeout=10000")
        conn.execute("pragma foreign_keys=on")
        store = cls(conn, path)
        version = store.schema_version
        if version > SCHEMA_VERSION:
            conn.close()
            raise SchemaError(
                f"{path}: schema version {version} is newer than this tradingd ({SCHEMA_VERSION})"
            )
        if not readonly:
            store._migrate()
        elif version < SCHEMA_VERSION:
            conn.close()
            raise SchemaError(f"{path}: schema version {version}; open it read-write to migrate")
        return store

    @property
    def schema_version(self) -> int:
        return int(self.conn.execute("pragma user_version").fetchone()[0])

    def _migrate(self) -> None:
        if not self.db["migrations"].exists():
            self.db["migrations"].create({"version": int, "applied_at": str}, pk="version")
        for version in range(self.schema_version + 1, SCHEMA_VERSION + 1):
            with self.transaction():
                MIGRATIONS[version - 1](self.db)
                self.db["migrations"].insert(
                    {"version": version, "applied_at": iso(datetime.now(UTC))}
                )
                self.conn.execute(f"pragma user_version={version}")

    def fast_writes(self) -> None:
        """For backtests: commits are not fsynced (a crashed backtest is simply rerun;
        every commit still lands whole) and foreign keys, which the recorder satisfies by
        construction, are not re-checked per row. The live daemon keeps both."""
        self.conn.execute("pragma synchronous=off")
        self.conn.execute("pragma foreign_keys=off")
        self.conn.execute("pragma cache_size=-65536")

    def defer_checkpoints(self) -> None:
        """No commit of this connection copies the WAL into the database any more (SQLite's
        default: the commit that takes the WAL past 1,000 pages does). The owner calls
        `checkpoint` at moments no decision waits on, often enough to bound the WAL."""
        self.conn.execute("pragma wal_autocheckpoint=0")

    def checkpoint(self) -> int:
        """Copy the WAL's committed pages into the database without waiting for readers or
        writers (PASSIVE: pages a reader's snapshot still needs wait for the next call).
        Returns how many of the WAL's pages are in the database now."""
        _busy, _frames, copied = self.conn.execute("pragma wal_checkpoint(PASSIVE)").fetchone()
        return max(int(copied), 0)

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One ``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back if the block raises)."""
        self.conn.execute("begin immediate")
        try:
            yield
        except BaseException:
            self.conn.execute("rollback")
            raise
        self.conn.execute("commit")

    # -- runs ----------------------------------------------------------------------------

    def begin_run(
        self,
        *,
        mode: str,
        config_hash: str,
        config_json: str,
        strategy: str,
        start_cash: float,
        started_at: datetime,
        window: tuple[datetime | None, datetime | None] = (None, None),
        version: str = "",
    ) -> str:
        """Record a new run and return its id (``<mode>-<UTC time>-<random>``)."""
        run_id = f"{mode}-{started_at.astimezone(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
        with self.transaction():
            self.db["runs"].insert(
                {
                    "run_id": run_id,
                    "mode": mode,
                    "status": "running",
                    "started_at": iso(started_at),
                    "config_hash": config_hash,
                    "config_json": config_json,
                    "strategy": strategy,
                    "start_cash": start_cash,
                    "window_start": iso(window[0]) if window[0] else None,
                    "window_end": iso(window[1]) if window[1] else None,
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "version": version,
                }
            )
        return run_id

    def reopen_run(self, run_id: str) -> None:
        """Mark a resumed run as running again under this process."""
        with self.transaction():
            self.conn.execute(
                "update runs set status = 'running', finished_at = null, pid = ? where run_id = ?",
                (os.getpid(), run_id),
            )

    def finish_run(self, run_id: str, status: str, finished_at: datetime) -> None:
        with self.transaction():
            self.conn.execute(
                "update runs set status = ?, finished_at = ? where run_id = ?",
                (status, iso(finished_at), run_id),
            )

    def run(self, run_id: str) -> RunInfo | None:
        row = self.conn.execute(
            "select run_id, mode, status, started_at, config_hash, start_cash, pid from runs where run_id = ?",
            (run_id,),
        ).fetchone()
        return RunInfo(*row) if row else None

    def resumable_run(self, mode: str, config_hash: str) -> RunInfo | None:
        """The newest run of ``mode`` with this config that did not complete."""
        row = self.conn.execute(
            """select run_id, mode, status, started_at, config_hash, start_cash, pid from runs
               where mode = ? and config_hash = ? and status != 'completed'
               order by started_at desc, rowid desc limit 1""",
            (mode, config_hash),
        ).fetchone()
        return RunInfo(*row) if row else None

    # -- writes --------------------------------------------------------------------------

    def write(self, run_id: str, batch: Batch) -> None:
        """Write everything in ``batch`` in one transaction."""
        if batch:
            write_rows(self.conn, run_id, batch.rows())

    def upsert_sentiment(self, rows: list[dict[str, Any]]) -> None:
        """Replace the latest sentiment row of each (symbol, model), in one transaction;
        a row older (by ``day``) than the stored one is ignored."""
        if not rows:
            return
        with self.transaction():
            self.conn.executemany(
                """
                insert into sentiment_latest (symbol, model, day, available_at, mean_score, count,
                    share_positive, share_negative, decayed_score, updated_at)
                values (:symbol, :model, :day, :available_at, :mean_score, :count,
                    :share_positive, :share_negative, :decayed_score, :updated_at)
                on conflict (symbol, model) do update set
                    day = excluded.day, available_at = excluded.available_at,
                    mean_score = excluded.mean_score, count = excluded.count,
                    share_positive = excluded.share_positive, share_negative = excluded.share_negative,
                    decayed_score = excluded.decayed_score, updated_at = excluded.updated_at
                where excluded.day >= sentiment_latest.day
                """,
                rows,
            )

    # -- reads ---------------------------------------------------------------------------

    def ledger(self, run_id: str, start_cash: float) -> Ledger:
        """Rebuild cash and positions from the run's fills and adjustments (splits,
        dividends) in time order; list its unfilled orders."""
        cash = start_cash
        held: dict[str, Position] = {}
        entries = self.conn.execute(
            """select ts, 1 as kind, symbol, qty, price, fee, null from fills where run_id = ?
               union all
               select ts, 0, symbol, qty_after, null, cash_change, avg_price from adjustments where run_id = ?
               order by 1, 2""",
            (run_id, run_id),
        )
        for _, kind, symbol, qty, price, fee, adjusted_avg in entries:
            if kind == 0:  # an adjustment, as the broker booked it: the holding after it, the cash it paid
                held[symbol] = Position(qty, adjusted_avg)
                cash += fee
                continue
            cash -= qty * price + fee
            held[symbol] = held.get(symbol, Position()).apply_fill(qty, price)
        order_ids = frozenset(
            r[0] for r in self.conn.execute("select order_id from orders where run_id = ?", (run_id,))
        )
        pending = tuple(
            PendingOrder(order_id, parse_iso(ts), symbol, side, qty, filled)
            for order_id, ts, symbol, side, qty, filled in self.conn.execute(
                """select order_id, ts, symbol, side, qty, coalesce(filled_qty, 0) from orders
                   where run_id = ? and status = 'submitted' order by rowid""",
                (run_id,),
            )
        )
        mark = self.conn.execute("select max(ts) from equity where run_id = ?", (run_id,)).fetchone()[0]
        (bar,) = self.conn.execute(
            "select bar_ts from targets where run_id = ? order by ts desc limit 1", (run_id,)
        ).fetchone() or (None,)
        return Ledger(
            cash=cash,
            positions={s: p.qty for s, p in held.items() if p.qty != 0},
            avg_prices={s: p.avg_price for s, p in held.items()},
            order_ids=order_ids,
            pending=pending,
            last_mark_ts=parse_iso(mark) if mark else None,
            last_target_bar_ts=parse_iso(bar) if bar else None,
        )

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """Run a read query; rows as dicts (for status and reports)."""
        cursor = self.conn.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

