"""The ``models`` table (which checkpoint serves, which were rejected and why) and the
``forecasts`` rows the daemon served.

A repository over a ``Store``'s connection. Status moves: a new registry version is a
``candidate``; it becomes ``active`` (the one before it ``retired``) or ``rejected`` with
its reason. ``rollback`` rejects the active version and re-activates the most recently
activated retired one. Exactly one version is active at a time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np

from state.store import Store, iso

__all__ = ["ForecastLog", "ModelsTable"]

STATUSES = ("candidate", "active", "rejected", "retired")


class ModelsTable:
    """Reads and status changes of the ``models`` table, each in one transaction."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def get(self, version: str) -> dict[str, Any] | None:
        rows = self._store.rows("select * from models where version = ?", (version,))
        return _decoded(rows[0]) if rows else None

    def list(self) -> list[dict[str, Any]]:
        """Every known version, newest first."""
        return [_decoded(r) for r in self._store.rows("select * from models order by version desc")]

    def active(self) -> str | None:
        row = self._store.conn.execute("select version from models where status = 'active'").fetchone()
        return row[0] if row else None

    def known(self) -> set[str]:
        """Versions already decided (a ``candidate`` row is still to be checked)."""
        return {r[0] for r in self._store.conn.execute("select version from models where status != 'candidate'")}

    def add_candidate(self, version: str, family: str, path: str, created_at: str, now: datetime) -> None:
        with self._store.transaction():
            self._store.conn.execute(
                """insert or ignore into models (version, family, path, status, metrics, created_at, updated_at)
                   values (?, ?, ?, 'candidate', '{}', ?, ?)""",
                (version, family, path, created_at, iso(now)),
            )

    def activate(self, version: str, reason: str, metrics: dict[str, float], now: datetime) -> str | None:
        """Make ``version`` the active one; returns the version it replaced."""
        previous = self.active()
        with self._store.transaction():
            self._store.conn.execute(
                "update models set status = 'retired', updated_at = ? where status = 'active'", (iso(now),)
            )
            self._store.conn.execute(
                """update models set status = 'active', reason = ?, metrics = ?, activated_at = ?,
                   updated_at = ? where version = ?""",
                (reason, json.dumps(_finite(metrics)), iso(now), iso(now), version),
            )
        return previous

    def reject(self, version: str, reason: str, metrics: dict[str, float], now: datetime) -> None:
        with self._store.transaction():
            self._store.conn.execute(
                "update models set status = 'rejected', reason = ?, metrics = ?, updated_at = ? where version = ?",
                (reason, json.dumps(_finite(metrics)), iso(now), version),
            )

    def previous(self) -> str | None:
        """The retired version activated most recently: what a rollback restores."""
        row = self._store.conn.execute(
            """select version from models where status = 'retired' and activated_at is not null
               order by activated_at desc, version desc limit 1"""
        ).fetchone()
        return row[0] if row else None

    def rollback(self, now: datetime) -> tuple[str, str]:
        """Reject the active version, re-activate the previous; returns (old, restored)."""
        current, previous = self.active(), self.previous()
        if current is None or previous is None:
            raise LookupError("nothing to roll back to" if current else "no active model")
        with self._store.transaction():
            self._store.conn.execute(
                "update models set status = 'rejected', reason = 'rolled back by operator', updated_at = ? "
                "where version = ?",
                (iso(now), current),
            )
            self._store.conn.execute(
                "update models set status = 'active', reason = 'rollback', activated_at = ?, updated_at = ? "
                "where version = ?",
                (iso(now), iso(now), previous),
            )
        return current, previous


class ForecastLog:
    """Buffers ``forecasts`` rows; writes every ``every`` forecasts and on ``flush()``."""

    def __init__(self, store: Store, run_id: str, *, every: int = 1) -> None:
        self._store, self._run_id, self._every = store, run_id, every
        self._rows: list[tuple[Any, ...]] = []
        self._pending = 0

    def add(
        self,
        ts: datetime,
        symbols: Sequence[str],
        targets: Sequence[str],
        levels: Sequence[float],
        values: Any,
        model: str,
    ) -> None:
        """values: (N, K, Q) aligned with symbols, targets and levels; NaN rows are skipped."""
        when, lv = iso(ts), json.dumps([float(x) for x in levels])
        values = np.asarray(values, dtype=float)
        complete = ~np.isnan(values).any(axis=-1)  # NaN: no complete window for this symbol
        quantiles = values.tolist()
        self._rows += [
            (self._run_id, when, symbol, target, lv, json.dumps(quantiles[i][k]), model)
            for i, symbol in enumerate(symbols)
            for k, target in enumerate(targets)
            if complete[i, k]
        ]
        self._pending += 1
        if self._pending >= self._every:
            self.flush()

    def at(self, ts: datetime) -> list[dict[str, Any]]:
        """The rows stored for decision time ``ts`` of this run, in the order they were
        written (symbol-major, as the forecast listed them)."""
        self.flush()
        return self._store.rows(
            "select symbol, target, levels, quantiles, model from forecasts where run_id = ? and ts = ? order by rowid",
            (self._run_id, iso(ts)),
        )

    def flush(self) -> None:
        if not self._rows:
            return
        with self._store.transaction():
            self._store.conn.executemany(
                """insert or replace into forecasts (run_id, ts, symbol, target, levels, quantiles, model)
                   values (?, ?, ?, ?, ?, ?, ?)""",
                self._rows,
            )
        self._rows, self._pending = [], 0


def _finite(metrics: dict[str, float]) -> dict[str, float | None]:
    return {k: (float(v) if v == v else None) for k, v in metrics.items()}


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    row = dict(row)
    row["metrics"] = json.loads(row["metrics"]) if row.get("metrics") else {}
    return row
