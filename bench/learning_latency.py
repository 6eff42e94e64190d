"""Issue 11 bench: bar -> forecast -> weights -> orders latency with a loaded TFT.

A hidden-64 TFT (4 heads, 2 LSTM layers: config.toml's size) for the 20 bundled S&P 500
stocks, briefly trained on 2018 (latency does not depend on its skill) and made the active
model, then daily bars of 2019 (`--start`/`--end`) replayed through the real jobs with a
daily rebalance. Per trading day the latency is the wall time of `pull_prices` (bars ->
marks, fills of yesterday's orders) + `infer` (features, forecast, ForecastReady) +
`rebalance` (HRP x tilt, GARCH, VaR, target -> orders), each with its bus cascade drained.
The same replay without a model runs side by side in this process. Replayed without pacing
(the paced daemon adds only sleeps).

Usage: python bench/learning_latency.py [--start 2019-01-02 --end 2019-12-31]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TFT = {"family": "tft", "hidden_size": 64, "num_heads": 4, "lstm_layers": 2, "dropout": 0.1}


def config(tmp: Path, start: str, end: str, registry: Path):
    from daemon.config import load_config

    return load_config(None, overrides={
        "run": {"data_dir": str(tmp)},
        "market": {"replay_start": start, "replay_end": end},
        "strategy": {"rebalance": "daily"},
        "models": {"registry_dir": str(registry), "run_dir": str(tmp / "runs"), "model": TFT,
                   "data": {"start": "2018-01-01", "end": "2018-12-31"},
                   "train": {"epochs": 1, "max_steps_per_epoch": 2, "device": "cpu"}},
    })


def replay(cfg, db: Path) -> dict[str, list[float]]:
    """Per-day seconds of each trading job (fire + cascade), over the window."""
    from daemon.app import build_app
    from daemon.backtest import replay_timeline

    app = build_app(cfg, mode="backtest", db_path=db)
    per_day: dict[str, dict[str, float]] = defaultdict(dict)

    async def run() -> None:
        await app.data.open(set(app.triggers))
        for when, name in replay_timeline(app):
            app.clock.advance_to(when)
            t0 = time.perf_counter()
            await app.jobs.fire(name)
            app.bus.drain()
            if name in ("pull_prices", "infer", "rebalance"):
                per_day[when.date().isoformat()][name] = time.perf_counter() - t0
        await app.data.close()

    asyncio.run(run())
    app.close("completed")
    days = [d for d in per_day.values() if len(d) == 3]
    return {k: [d[k] for d in days] for k in ("pull_prices", "infer", "rebalance")} | {
        "total": [sum(d.values()) for d in days]
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--start", default="2019-01-02")
    parser.add_argument("--end", default="2019-12-31")
    args = parser.parse_args()
    from models.train import run_training
    from state.models_table import ModelsTable
    from state.store import Store

    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        with_model = config(tmp, args.start, args.end, tmp / "registry")
        ckpt = run_training(with_model.models).checkpoint
        store = Store.open(tmp / "model.db")
        table = ModelsTable(store)
        table.add_candidate(ckpt.name, "tft", str(ckpt), "", datetime.now(UTC))
        table.activate(ckpt.name, "bench", {}, datetime.now(UTC))
        store.close()
        results = {
            "with TFT": replay(with_model, tmp / "model.db"),
            "no model": replay(config(tmp, args.start, args.end, tmp / "empty"), tmp / "none.db"),
        }
    print(f"{'':10} {'days':>5} {'infer p50':>10} {'infer p99':>10} {'total p50':>10} {'total p99':>10}  (ms)")
    for label, r in results.items():
        q = lambda xs, p: 1e3 * float(np.percentile(xs, p))  # noqa: E731
        print(f"{label:10} {len(r['total']):5d} {q(r['infer'], 50):10.1f} {q(r['infer'], 99):10.1f} "
              f"{q(r['total'], 50):10.1f} {q(r['total'], 99):10.1f}")


if __name__ == "__main__":
    main()
