"""Backtests on ``market.source = "lake"``: your own files, imported with the real importer,
replayed through the real components into a real SQLite file."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from daemon.data.importer import ImportOptions, import_files
from numpy.testing import assert_allclose
from skfolio.datasets import load_sp500_dataset
from testkit import make_config, run_backtest

from daemon.app import build_app
from daemon.backtest import run_backtest as drive
from strategies.base import Strategy
from strategies.view import MarketView

pytestmark = pytest.mark.slow
NOW = datetime(2026, 12, 1, tzinfo=UTC)
FILLS = "select ts, symbol, qty, price, fee, cost from fills where run_id = ? order by ts, symbol"


def rows(db: Path, sql: str, *params) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def import_into(data_dir: Path, paths: list[Path], actions: Path | None = None) -> None:
    report = import_files(
        _lake(data_dir), paths, ImportOptions(), actions=actions, known_at=NOW
    )
    assert not report.errors and report.written


def _lake(data_dir: Path):
    from state.lake import Lake

    return Lake(data_dir / "lake")


@pytest.fixture(scope="module")
def skfolio_csv(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], Path]:
    """The bundled skfolio prices 2006-2009 as one CSV per symbol and as one long CSV."""
    root = tmp_path_factory.mktemp("csv")
    prices = load_sp500_dataset().loc["2006-01-01":"2009-12-31"]
    per_symbol = []
    for symbol in prices.columns:
        path = root / f"{symbol}.csv"
        prices[[symbol]].rename(columns={symbol: "Close"}).to_csv(path, index_label="Date")
        per_symbol.append(path)
    long = prices.stack().rename("close").reset_index()
    long.columns = ["date", "symbol", "close"]
    long.to_csv(root / "long.csv", index=False)
    return per_symbol, root / "long.csv"


class TestSameFillsAsTheBundledSource:
    @pytest.mark.parametrize("shape", ["per_symbol", "long"])
    def test_skfolio_exported_and_imported_backtests_to_identical_fills(
        self, tmp_path: Path, skfolio_csv, shape: str
    ) -> None:
        per_symbol, long = skfolio_csv
        import_into(tmp_path / "data", per_symbol if shape == "per_symbol" else [long])
        strategy = {"name": "inverse_vol", "rebalance": "weekly"}
        bundled = make_config(strategy=strategy)
        lake = make_config(strategy=strategy, market={"source": "lake"}, run={"data_dir": str(tmp_path / "data")})

        first = run_backtest(bundled, tmp_path / "b.db", "2008-01-01", "2009-06-30")
        second = run_backtest(lake, tmp_path / "l.db", "2008-01-01", "2009-06-30")

        expected = rows(tmp_path / "b.db", FILLS, first)
        assert len(expected) > 300
        assert rows(tmp_path / "l.db", FILLS, second) == expected
        equity = "select ts, cash, equity from equity where run_id = ? order by ts"
        assert rows(tmp_path / "l.db", equity, second) == rows(tmp_path / "b.db", equity, first)

    def test_a_yahoo_export_with_opens_and_volumes_fills_as_the_bundled_ohlcv_source(self, tmp_path: Path) -> None:
        from arch.data import nasdaq, sp500

        for name, module in (("SP500", sp500), ("NASDAQ", nasdaq)):
            module.load().loc["2006-01-01":"2008-12-31"].to_csv(tmp_path / f"{name}.csv")  # Date,Open,..,Adj Close,Volume
        import_into(tmp_path / "data", [tmp_path / "SP500.csv", tmp_path / "NASDAQ.csv"])
        common = {"strategy": {"name": "inverse_vol", "rebalance": "weekly"}, "broker": {"participation": 1e-6}}
        bundled = make_config(market={"source": "arch_indices"}, **common)
        lake = make_config(market={"source": "lake", "symbols": ["SP500", "NASDAQ"]},
                           run={"data_dir": str(tmp_path / "data")}, **common)

        first = run_backtest(bundled, tmp_path / "b.db", "2008-01-01", "2008-12-31")
        second = run_backtest(lake, tmp_path / "l.db", "2008-01-01", "2008-12-31")

        expected = rows(tmp_path / "b.db", FILLS, first)
        assert len(expected) > 50  # the participation cap splits orders over bars: volume is used
        assert rows(tmp_path / "l.db", FILLS, second) == expected


def synthetic(root: Path, symbols: dict[str, tuple[int, int]], *, days: int = 160, split: tuple[str, int] | None = None) -> list[Path]:
    """Random-walk closes on weekdays from 2021-01-04; each symbol trades sessions
    ``[first, last)``. ``split``: (symbol, session) where a 2:1 split halves the price."""
    sessions = pd.bdate_range("2021-01-04", periods=days)
    rng = np.random.default_rng(7)
    paths = []
    for symbol, (first, last) in symbols.items():
        close = 50 * np.exp(np.cumsum(rng.normal(0, 0.01, days)))
        if split and split[0] == symbol:
            close[split[1]:] /= 2.0
        frame = pd.DataFrame({"Date": sessions, "Close": close.round(4)}).iloc[first:last]
        frame.to_csv(root / f"{symbol}.csv", index=False)
        paths.append(root / f"{symbol}.csv")
    return paths


class EqualWeight(Strategy):
    """Equal weights over every symbol priced at the last bar; no gaps check of its own."""

    name = "equal"
    warmup_bars = 20

    def target_weights(self, view: MarketView):
        last = view.close_matrix(1)[-1]
        priced = [s for s, c in zip(view.symbols, last.tolist(), strict=True) if np.isfinite(c)]
        return {s: 0.95 / len(priced) for s in priced}


def backtest(data_dir: Path, db: Path, start: date, end: date) -> str:
    config = make_config(market={"source": "lake"}, run={"data_dir": str(data_dir)},
                         strategy={"rebalance": "daily"}, broker={"fractional": True})
    app = build_app(config, mode="backtest", db_path=db, start=start, end=end, strategy=EqualWeight())
    asyncio.run(drive(app, progress=False))
    app.close("completed")
    return app.run_id


def reconcile(db: Path, run_id: str, closes: pd.DataFrame, adjustments: list[tuple]) -> float:
    """Worst |cash - ledger cash| or |cash + sum(qty x raw close) - equity| over every mark,
    replaying fills and adjustments in time order (an adjustment sets the shares after it)."""
    entries = [(ts, 1, s, q, p, f) for ts, s, q, p, f in rows(db, "select ts, symbol, qty, price, fee from fills where run_id = ?", run_id)]
    entries += [(ts, 0, s, after, None, change) for ts, s, _, after, change in adjustments]
    entries.sort(key=lambda e: (e[0], e[1]))
    qty: dict[str, float] = {}
    money, k, worst = 1_000_000.0, 0, 0.0
    for ts, cash, equity in rows(db, "select ts, cash, equity from equity where run_id = ? order by ts", run_id):
        while k < len(entries) and entries[k][0] <= ts:
            _, kind, symbol, q, price, fee = entries[k]
            if kind == 0:
                qty[symbol] = q
                money += fee
            else:
                qty[symbol] = qty.get(symbol, 0.0) + q
                money -= q * price + fee
            k += 1
        day = pd.Timestamp(ts).tz_convert("America/New_York").tz_localize(None).normalize()
        known = closes.loc[:day].ffill().iloc[-1]
        value = sum(q * known[s] for s, q in qty.items() if q)
        worst = max(worst, abs(money - cash), abs(money + value - equity))
    return worst


class TestCorporateActionsAndListings:
    def test_a_split_in_imported_history_reaches_the_broker_on_its_ex_date(self, tmp_path: Path) -> None:
        paths = synthetic(tmp_path, {"AAA": (0, 160), "BBB": (0, 160)}, split=("AAA", 100))
        actions = tmp_path / "actions.csv"
        ex_date = pd.bdate_range("2021-01-04", periods=160)[100]
        actions.write_text(f"date,symbol,action,value\n{ex_date.date()},AAA,split,2\n")
        import_into(tmp_path / "data", paths, actions)
        db = tmp_path / "t.db"

        run_id = backtest(tmp_path / "data", db, date(2021, 3, 1), date(2021, 8, 13))

        adjustments = rows(db, "select ts, symbol, qty_before, qty_after, cash_change from adjustments where run_id = ?", run_id)
        ((ts, symbol, before, after, cash),) = adjustments
        assert (symbol, cash) == ("AAA", 0.0) and before > 0 and after == pytest.approx(2 * before)
        assert pd.Timestamp(ts) == pd.Timestamp(ex_date, tz="America/New_York")
        closes = pd.concat({p.stem: pd.read_csv(p, index_col="Date", parse_dates=True)["Close"] for p in paths}, axis=1)
        assert reconcile(db, run_id, closes, adjustments) < 1e-6
        # No trade was needed to absorb the split: the day's weights still held.
        day = ex_date.strftime("%Y-%m-%d")
        assert not [r for r in rows(db, "select symbol, qty from fills where run_id = ? and ts like ?", run_id, f"{day}%")
                    if abs(r[1]) > 0.5 * before]

    def test_a_late_listing_joins_after_its_warm_up_and_a_delisted_symbol_is_sold_at_its_last_price(
        self, tmp_path: Path
    ) -> None:
        sessions = pd.bdate_range("2021-01-04", periods=160)
        paths = synthetic(tmp_path, {"OLD": (0, 160), "NEW": (60, 160), "GONE": (0, 110)})
        import_into(tmp_path / "data", paths)
        db = tmp_path / "t.db"

        run_id = backtest(tmp_path / "data", db, date(2021, 2, 15), date(2021, 8, 13))

        first_new = rows(db, "select min(ts) from fills where run_id = ? and symbol = 'NEW'", run_id)[0][0]
        listed = sessions[60]
        joined = pd.Timestamp(first_new).tz_convert("America/New_York").tz_localize(None).normalize()
        assert len(pd.bdate_range(listed, joined)) - 1 >= EqualWeight.warmup_bars  # not before its warm-up
        assert len(pd.bdate_range(listed, joined)) - 1 <= EqualWeight.warmup_bars + 2  # but right after
        adjustments = rows(db, "select ts, symbol, qty_before, qty_after, cash_change from adjustments where run_id = ?", run_id)
        ((ts, symbol, before, after, cash),) = adjustments
        last_close = pd.read_csv(tmp_path / "GONE.csv")["Close"].iloc[-1]
        assert symbol == "GONE" and before > 0 and after == 0
        assert_allclose(cash, before * last_close, rtol=1e-12)
        assert pd.Timestamp(ts) == pd.Timestamp(sessions[110], tz="America/New_York")
        assert rows(db, "select count(*) from fills where run_id = ? and symbol = 'GONE' and ts > ?", run_id, ts) == [(0,)]
        assert rows(db, "select count(*) from orders where run_id = ? and symbol = 'GONE' and ts > ?", run_id, ts) == [(0,)]
        closes = pd.concat({p.stem: pd.read_csv(p, index_col="Date", parse_dates=True)["Close"] for p in paths}, axis=1)
        assert reconcile(db, run_id, closes, adjustments) < 1e-6

    def test_a_symbol_missing_one_session_is_not_traded_that_day_and_marked_at_its_last_price(self, tmp_path: Path) -> None:
        paths = synthetic(tmp_path, {"AAA": (0, 80), "BBB": (0, 80)}, days=80)
        frame = pd.read_csv(paths[1])
        hole = frame["Date"].iloc[50]
        frame[frame["Date"] != hole].to_csv(paths[1], index=False)
        import_into(tmp_path / "data", paths)
        db = tmp_path / "t.db"

        run_id = backtest(tmp_path / "data", db, date(2021, 2, 15), date(2021, 4, 23))

        assert rows(db, "select count(*) from fills where run_id = ? and symbol = 'BBB' and ts like ?", run_id, f"{hole}%") == [(0,)]
        closes = pd.concat({p.stem: pd.read_csv(p, index_col="Date", parse_dates=True)["Close"] for p in paths}, axis=1)
        assert reconcile(db, run_id, closes, []) < 1e-6
        assert rows(db, "select count(*) from adjustments where run_id = ?", run_id) == [(0,)]  # a gap is no delisting


class TestCommandLine:
    def test_import_then_backtest_against_a_lake_benchmark_then_the_paced_daemon_replays_the_lake(
        self, tmp_path: Path
    ) -> None:
        import json
        import subprocess

        from testkit import TRADINGD, cli_env

        paths = synthetic(tmp_path, {"AAA": (0, 120), "BBB": (0, 120), "SPY": (0, 120)}, days=120)
        config = tmp_path / "c.toml"
        config.write_text(
            f'[run]\ndata_dir = "{tmp_path / "data"}"\n[market]\nsource = "lake"\nsymbols = ["AAA", "BBB"]\n'
            'benchmark = "SPY"\npace = 20\nreplay_start = 2021-05-03\n'
            '[strategy]\nname = "inverse_vol"\nrebalance = "weekly"\n[strategy.inverse_vol]\nlookback = 20\n'
        )

        def tradingd(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([*TRADINGD, *args, "--config", str(config)], env=cli_env(), capture_output=True,
                                  text=True, timeout=180, cwd=tmp_path)

        assert tradingd("data", "import", *map(str, paths)).returncode == 0
        result = tradingd("backtest", "--start", "2021-03-01", "--end", "2021-06-18", "--json", "--db", str(tmp_path / "b.db"))
        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stdout)
        spy = pd.read_csv(tmp_path / "SPY.csv", index_col="Date", parse_dates=True)["Close"]
        assert summary["benchmark"] == "SPY" and summary["fills"] > 0, summary
        assert summary["start"][:10] == "2021-03-01" and summary["end"][:10] == "2021-06-18", summary
        assert summary["benchmark_return"] == pytest.approx(spy["2021-06-18"] / spy[:"2021-02-26"].iloc[-1] - 1, rel=1e-12)

        db = tmp_path / "live.db"
        daemon = tradingd("run", "--exit-when-done", "--db", str(db))
        assert daemon.returncode == 0, daemon.stderr
        last = rows(db, "select max(ts) from equity")[0][0]
        assert last.startswith(str(pd.bdate_range("2021-01-04", periods=120)[-1].date()))
        assert rows(db, "select count(*) from fills")[0][0] > 0
