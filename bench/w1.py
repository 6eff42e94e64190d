"""Workload W1: tradingd vs backtrader vs vectorbt on the same portfolio, in one run.

Data: skfolio's S&P 500 set (20 stocks x 8,313 days = 166,260 bars). Strategy: weights
proportional to 1 / trailing 60-day return std (floored at 1e-4), set on the first
trading day of each month and filled at that day's close; 10 bps commission; 1,000,000
start cash; no leverage.

Timed: tradingd's engine (the replay loop, recording to SQLite included; imports, data
load and wiring excluded) and the whole `tradingd backtest` process; backtrader's
`cerebro.run()`; vectorbt's weight computation + `Portfolio.from_orders` + value series,
cold (first call, numba compiling) and warm. Usage: python bench/w1.py [--repeat N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
CONFIG = HERE / "w1.toml"
BARS = 20 * 8313
LOOKBACK = 60


def prices() -> pd.DataFrame:
    from skfolio.datasets import load_sp500_dataset

    return load_sp500_dataset().astype(float)


def rebalance_mask(index: pd.DatetimeIndex) -> np.ndarray:
    month = index.to_period("M")
    first = np.r_[False, month[1:] != month[:-1]]  # the first bar seen never opens a month
    first[: LOOKBACK + 1] = False  # a 60-return window needs 61 closes
    return first


def target_weights(px: pd.DataFrame) -> pd.DataFrame:
    """Inverse-vol weights on rebalance days (NaN elsewhere), from data up to that close."""
    returns = px.pct_change()
    std = returns.rolling(LOOKBACK).std(ddof=1)
    inverse = 1.0 / np.maximum(std, 1e-4)
    weights = inverse.div(inverse.sum(axis=1), axis=0)
    out = pd.DataFrame(np.nan, index=px.index, columns=px.columns)
    mask = rebalance_mask(px.index) & std.notna().all(axis=1).to_numpy()
    out[mask] = weights[mask]
    return out


# -- tradingd ----------------------------------------------------------------------------


def run_tradingd(repeat: int) -> dict[str, float]:
    from daemon import logs
    from daemon.app import build_app
    from daemon.backtest import run_backtest
    from daemon.config import load_config

    logs.configure("warning", "json")
    config = load_config(CONFIG)
    best = float("inf")
    final = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(repeat):
            app = build_app(config, mode="backtest", db_path=Path(tmp) / f"w1-{k}.db")
            started = time.perf_counter()
            asyncio.run(run_backtest(app, progress=False))
            best = min(best, time.perf_counter() - started)
            final = app.broker.equity()
            orders = app.store.rows("select count(*) as n from orders where run_id = ?", (app.run_id,))[0]["n"]
            app.close("completed")
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "daemon.cli", "backtest", "--config", str(CONFIG), "--db",
             str(Path(tmp) / "cli.db"), "--json", "--no-progress"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        )
        process = time.perf_counter() - started
    cli_final = json.loads(proc.stdout)["final_equity"]
    assert abs(cli_final - final) < 1e-6, (cli_final, final)
    return {"seconds": best, "process_seconds": process, "final": final, "orders": orders}


# -- backtrader --------------------------------------------------------------------------


def run_backtrader(px: pd.DataFrame) -> dict[str, float]:
    import backtrader as bt

    class InverseVol(bt.Strategy):
        def __init__(self) -> None:
            self.last_month = None

        def next(self) -> None:
            month = self.datas[0].datetime.date(0).month
            first = self.last_month is not None and month != self.last_month
            self.last_month = month
            if not first or len(self) <= LOOKBACK:
                return
            inverse = {}
            for d in self.datas:
                closes = np.asarray(d.close.get(size=LOOKBACK + 1))
                std = np.std(closes[1:] / closes[:-1] - 1.0, ddof=1)
                inverse[d] = 1.0 / max(std, 1e-4)
            total = sum(inverse.values())
            value = self.broker.getvalue()
            # Sells first so their cash funds the buys.
            orders = sorted(
                self.datas,
                key=lambda d: inverse[d] / total * value - self.getposition(d).size * d.close[0],
            )
            for d in orders:
                self.order_target_percent(d, target=inverse[d] / total)

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(1_000_000.0)
    cerebro.broker.setcommission(commission=0.001)
    cerebro.broker.set_coc(True)  # cheat-on-close: fill at the decision bar's close
    for symbol in px.columns:
        frame = pd.DataFrame({f: px[symbol] for f in ("open", "high", "low", "close")})
        frame["volume"] = 0.0
        cerebro.adddata(bt.feeds.PandasData(dataname=frame), name=symbol)
    cerebro.addstrategy(InverseVol)
    started = time.perf_counter()
    cerebro.run()
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "final": cerebro.broker.getvalue()}


# -- vectorbt ----------------------------------------------------------------------------


def run_vectorbt(px: pd.DataFrame, repeat: int) -> dict[str, float]:
    import vectorbt as vbt

    def once() -> float:
        sizes = target_weights(px)
        portfolio = vbt.Portfolio.from_orders(
            px, sizes, size_type="targetpercent", fees=0.001, init_cash=1_000_000.0,
            cash_sharing=True, group_by=True, call_seq="auto", freq="D",
        )
        return float(portfolio.value().iloc[-1])

    started = time.perf_counter()
    final = once()
    cold = time.perf_counter() - started
    warm = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        once()
        warm = min(warm, time.perf_counter() - started)
    return {"seconds": warm, "cold_seconds": cold, "final": final}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-backtrader", action="store_true")
    args = parser.parse_args()
    px = prices()
    results = {"tradingd": run_tradingd(args.repeat), "vectorbt": run_vectorbt(px, args.repeat)}
    if not args.skip_backtrader:
        results["backtrader"] = run_backtrader(px)
    td = results["tradingd"]
    print(f"W1: {BARS:,} bars (20 symbols x 8,313 days), python {sys.version.split()[0]}")
    print(f"{'engine':<12}{'seconds':>10}{'bars/s':>14}{'final equity':>18}")
    for name, r in results.items():
        print(f"{name:<12}{r['seconds']:>10.3f}{BARS / r['seconds']:>14,.0f}{r['final']:>18,.2f}")
    print(f"tradingd whole `tradingd backtest` process: {td['process_seconds']:.2f} s ({td['orders']} orders)")
    print(f"vectorbt cold (first call, numba JIT): {results['vectorbt']['cold_seconds']:.2f} s")
    vbt = results["vectorbt"]
    print(f"tradingd time / vectorbt warm time: {td['seconds'] / vbt['seconds']:.2f}x (target <= 5x)")
    print(f"final equity vs vectorbt: {td['final'] / vbt['final'] - 1:+.3%}")
    if "backtrader" in results:
        bt = results["backtrader"]
        print(f"tradingd bars/s / backtrader bars/s: {bt['seconds'] / td['seconds']:.1f}x (target >= 50x)")
        print(f"final equity vs backtrader: {td['final'] / bt['final'] - 1:+.3%}")


if __name__ == "__main__":
    main()
