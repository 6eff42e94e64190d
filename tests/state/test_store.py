"""The SQLite store: schema, migrations, WAL, one transaction per batch, the ledger."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from state.batch import AdjustmentRow, EquityRow, FillRow, OrderRow
from state.migrations import SCHEMA_VERSION
from state.store import Batch, SchemaError, Store, iso

T = datetime(2020, 1, 2, 21, tzinfo=UTC)


def new_run(store: Store) -> str:
    return store.begin_run(mode="backtest", config_hash="h", config_json="{}", strategy="hrp",
                           start_cash=1000.0, started_at=T)


def order(oid: str, run: str, ts: datetime, symbol: str, side: str, qty: float, status: str, filled: float,
          avg: float | None) -> OrderRow:
    return OrderRow(order_id=oid, run_id=run, ts=iso(ts), symbol=symbol, side=side, qty=qty, status=status, reason=None,
                    filled_qty=filled, avg_fill_price=avg, updated_at=iso(ts))


def fill(fid: str, oid: str, run: str, ts: datetime, symbol: str, qty: float, price: float, fee: float = 0.0) -> FillRow:
    return FillRow(fill_id=fid, order_id=oid, run_id=run, ts=iso(ts), symbol=symbol, qty=qty, price=price, fee=fee,
                   cost=0.0, bar_price=price)


class TestSchema:
    def test_a_new_database_is_migrated_to_the_current_version_in_wal_mode(self, tmp_path: Path) -> None:
        store = Store.open(tmp_path / "t.db")
        assert store.schema_version == SCHEMA_VERSION
        assert store.conn.execute("pragma journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in store.conn.execute("select name from sqlite_master where type in ('table', 'view')")}
        assert {"runs", "orders", "fills", "positions", "equity", "jobs", "targets", "migrations",
                "current_positions", "latest_equity", "latest_run"} <= tables
        store.close()

    def test_reopening_does_not_migrate_twice(self, tmp_path: Path) -> None:
        Store.open(tmp_path / "t.db").close()
        store = Store.open(tmp_path / "t.db")
        assert store.conn.execute("select count(*) from migrations").fetchone()[0] == SCHEMA_VERSION
        store.close()

    def test_a_database_from_a_newer_tradingd_is_refused(self, tmp_path: Path) -> None:
        Store.open(tmp_path / "t.db").close()
        with sqlite3.connect(tmp_path / "t.db") as conn:
            conn.execute(f"pragma user_version={SCHEMA_VERSION + 1}")
        with pytest.raises(SchemaError, match="newer"):
            Store.open(tmp_path / "t.db")

    def test_readonly_open_needs_an_existing_file(self, tmp_path: Path) -> None:
        with pytest.raises(FileNotFoundError):
            Store.open(tmp_path / "missing.db", readonly=True)


class TestWrites:
    def test_a_batch_lands_whole_or_not_at_all(self, tmp_path: Path) -> None:
        store = Store.open(tmp_path / "t.db")
        run = new_run(store)
        good = Batch()
        good.equity[iso(T)] = EquityRow(run_id=run, ts=iso(T), cash=1000.0, equity=1000.0, gross=0.0)
        store.write(run, good)
        bad = Batch()
        bad.equity["x"] = EquityRow(run_id=run, ts="2020-01-03T21:00:00+00:00", cash=900.0, equity=950.0, gross=50.0)
        bad.fills.append(fill("f1", "no-such-order", run, T, "A", 1.0, 1.0))  # FK violation
        with pytest.raises(sqlite3.IntegrityError):
            store.write(run, bad)
        assert store.conn.execute("select count(*) from equity").fetchone()[0] == 1
        store.close()

    def test_a_reader_sees_committed_rows_while_a_writer_is_open(self, tmp_path: Path) -> None:
        writer = Store.open(tmp_path / "t.db")
        run = new_run(writer)
        reader = Store.open(tmp_path / "t.db", readonly=True)
        writer.conn.execute("begin immediate")
        writer.conn.execute("insert into equity values (?, ?, 1, 1, 0)", (run, iso(T)))
        assert reader.rows("select count(*) as n from equity")[0]["n"] == 0  # not committed yet
        writer.conn.execute("commit")
        assert reader.rows("select count(*) as n from equity")[0]["n"] == 1
        reader.close()
        writer.close()


class TestCheckpoints:
    """The daemon copies the WAL into the database itself, after a cascade's commit, so that
    SQLite's automatic copy (inside the commit that takes the WAL past 1,000 pages) never
    lands inside a decision."""

    @staticmethod
    def write_pages(store: Store, commits: int) -> None:
        """About 50 pages per commit: 50 rows of a 4,000-byte blob."""
        store.conn.execute("create table if not exists ballast (b blob)")
        for _ in range(commits):
            with store.transaction():
                store.conn.executemany("insert into ballast values (?)", [(bytes(4000),)] * 50)

    def test_deferred_the_wal_waits_for_checkpoint_which_copies_it_all(self, tmp_path: Path) -> None:
        db = tmp_path / "t.db"
        store = Store.open(db)
        store.defer_checkpoints()
        self.write_pages(store, 30)  # ~1,500 pages, past SQLite's threshold
        assert db.stat().st_size < 1_000_000  # none of them copied into the database yet
        copied = store.checkpoint()
        assert copied > 1500 and db.stat().st_size > 1500 * 4096
        self.write_pages(store, 1)  # the next commit starts the WAL over
        assert 0 < store.checkpoint() < 100
        store.close()

    def test_by_default_a_commit_copies_the_wal_once_it_holds_1000_pages(self, tmp_path: Path) -> None:
        db = tmp_path / "t.db"
        store = Store.open(db)
        self.write_pages(store, 30)
        assert db.stat().st_size > 900 * 4096  # a commit copied the first ~1,000 pages in
        assert 0 < store.checkpoint() < 1000  # and the WAL started over after it
        store.close()


class TestLedger:
    def test_cash_and_positions_are_rebuilt_from_fills(self, tmp_path: Path) -> None:
        store = Store.open(tmp_path / "t.db")
        run = new_run(store)
        batch = Batch()
        for oid, sym, side, qty, status in (("o1", "A", "buy", 10.0, "filled"), ("o2", "A", "sell", 4.0, "filled"),
                                            ("o3", "B", "buy", 5.0, "submitted")):
            batch.orders[oid] = order(oid, run, T, sym, side, qty, status, 0.0, None)
        batch.fills += [fill("o1:1", "o1", run, T, "A", 10.0, 20.0, fee=1.0), fill("o2:1", "o2", run, T, "A", -4.0, 25.0, fee=1.0)]
        batch.equity[iso(T)] = EquityRow(run_id=run, ts=iso(T), cash=898.0, equity=1048.0, gross=150.0)
        store.write(run, batch)
        ledger = store.ledger(run, 1000.0)
        assert ledger.cash == pytest.approx(1000.0 - 200.0 - 1.0 + 100.0 - 1.0)
        assert ledger.positions == {"A": 6.0}
        assert ledger.avg_prices["A"] == pytest.approx(20.0)
        assert ledger.order_ids == {"o1", "o2", "o3"}
        assert [(p.order_id, p.decision_ts, p.side, p.remaining) for p in ledger.pending] == [("o3", T, "buy", 5.0)]
        assert ledger.last_mark_ts == T
        store.close()


class TestLedgerAdjustments:
    def test_splits_and_dividends_are_part_of_the_rebuilt_ledger(self, tmp_path: Path) -> None:
        store = Store.open(tmp_path / "t.db")
        run = new_run(store)
        t1 = datetime(2020, 8, 31, 4, tzinfo=UTC)  # the ex-date, before that day's bar
        t2 = datetime(2020, 9, 1, 20, tzinfo=UTC)
        batch = Batch()
        batch.orders["o1"] = order("o1", run, T, "A", "buy", 10.0, "filled", 10.0, 400.0)
        batch.orders["o2"] = order("o2", run, t2, "A", "sell", 5.0, "filled", 5.0, 110.0)
        batch.fills += [fill("o1:1", "o1", run, T, "A", 10.0, 400.0, fee=1.0), fill("o2:1", "o2", run, t2, "A", -5.0, 110.0, fee=1.0)]
        batch.adjustments += [
            AdjustmentRow(run_id=run, ts=iso(t1), symbol="A", reason="split 4", qty_before=10.0, qty_after=40.0,
                          avg_price=100.0, cash_change=0.0),
            AdjustmentRow(run_id=run, ts=iso(t1), symbol="A", reason="dividend 0.5", qty_before=40.0, qty_after=40.0,
                          avg_price=100.0, cash_change=20.0),
        ]
        store.write(run, batch)
        ledger = store.ledger(run, 10_000.0)
        assert ledger.positions == {"A": 35.0}
        assert ledger.avg_prices["A"] == pytest.approx(100.0)
        assert ledger.cash == pytest.approx(10_000.0 - 4000.0 - 1.0 + 20.0 + 550.0 - 1.0)
        store.close()


class TestOneAccounting:
    def test_the_rebuilt_ledger_matches_the_broker_to_the_last_bit(self, tmp_path: Path) -> None:
        """Broker and ledger book holdings through the same Position: a restart resumes exactly."""
        import asyncio
        from datetime import date

        from testkit import make_config

        from daemon.app import build_app
        from daemon.backtest import run_backtest

        config = make_config(
            strategy={"name": "inverse_vol"}, store={"writer": "inline"},
            broker={"fill": "next_bar", "fractional": True, "commission_bps": 5.0, "min_commission": 1.0},
        )
        app = build_app(config, mode="backtest", db_path=tmp_path / "t.db", start=date(2008, 1, 1),
                        end=date(2008, 12, 31))
        asyncio.run(run_backtest(app, progress=False))
        app.close("completed")
        account = app.broker.account
        store = Store.open(tmp_path / "t.db")
        ledger = store.ledger(app.run_id, config.run.start_cash)
        store.close()
        held = {s: (account.position(s).qty, account.position(s).avg_price) for s in app.broker.positions()}
        assert len(held) > 3 and any(q != int(q) for q, _ in held.values())  # fractional holdings were traded
        assert {s: (q, ledger.avg_prices[s]) for s, q in ledger.positions.items()} == held
        assert ledger.cash == pytest.approx(account.cash, rel=0, abs=1e-6)
