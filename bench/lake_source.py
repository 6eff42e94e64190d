"""Issue 13: the lake as a backtest source, side by side with the bundled source.

Exports skfolio's 20 stocks (1990-2022) to one CSV per symbol, imports them into a fresh
lake (``tradingd data import``'s code path), then runs the same backtest on the bundled
source and on the lake in this one process, alternating, and prints seconds and ratios.

    PYTHONPATH=. python bench/lake_source.py [--repeat 2]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

from daemon.data.importer import ImportOptions, import_files
from skfolio.datasets import load_sp500_dataset

from daemon.app import build_app
from daemon.backtest import run_backtest
from daemon.config import load_config
from state.lake import Lake


def backtest(config, db: Path) -> tuple[float, list[tuple]]:  # noqa: ANN001
    began = time.perf_counter()
    app = build_app(config, mode="backtest", db_path=db, start=date(2005, 1, 3), end=date(2014, 12, 31))
    asyncio.run(run_backtest(app, progress=False))
    app.close("completed")
    elapsed = time.perf_counter() - began
    with sqlite3.connect(db) as conn:
        fills = conn.execute("select ts, symbol, qty, price from fills where run_id = ? order by ts, symbol", (app.run_id,)).fetchall()
    return elapsed, fills


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-lake-"))
    prices = load_sp500_dataset()
    paths = []
    for symbol in prices.columns:
        path = root / f"{symbol}.csv"
        prices[[symbol]].rename(columns={symbol: "Close"}).to_csv(path, index_label="Date")
        paths.append(path)
    began = time.perf_counter()
    report = import_files(Lake(root / "data" / "lake"), paths, ImportOptions(), known_at=datetime.now(UTC))
    imported = time.perf_counter() - began
    began = time.perf_counter()
    again = import_files(Lake(root / "data" / "lake"), paths, ImportOptions(), known_at=datetime.now(UTC))
    reimported = time.perf_counter() - began
    print(f"import: {report.bars_new} bars from {len(paths)} files in {imported:.2f} s; "
          f"re-import (adds {again.bars_new}) {reimported:.2f} s")
    strategy = {"name": "inverse_vol", "rebalance": "weekly"}
    configs = {
        "bundled": load_config(None, overrides={"strategy": strategy, "store": {"writer": "inline"}}),
        "lake": load_config(None, overrides={"strategy": strategy, "store": {"writer": "inline"},
                                             "market": {"source": "lake"}, "run": {"data_dir": str(root / "data")}}),
    }
    times: dict[str, list[float]] = {k: [] for k in configs}
    fills: dict[str, list[tuple]] = {}
    for k in range(args.repeat):
        for name, config in configs.items():
            elapsed, fills[name] = backtest(config, root / f"{name}-{k}.db")
            times[name].append(elapsed)
    best = {name: min(t) for name, t in times.items()}
    print(f"backtest 2005-2014 inverse_vol weekly, best of {args.repeat}: bundled {best['bundled']:.2f} s, "
          f"lake {best['lake']:.2f} s, lake/bundled {best['lake'] / best['bundled']:.2f}x; "
          f"fills identical: {fills['bundled'] == fills['lake']} ({len(fills['lake'])} fills)")


if __name__ == "__main__":
    main()
