"""Issue 11 check: two code trees decide the same with a loaded TFT (forecasts, orders, fills).

The latency work on the serving path must not change a decision. This runs the same
backtest (hidden-64 TFT trained once on 2018 and made the active model, the 20 bundled
stocks, daily rebalance, 2019-01-02 .. `--end`) on each tree in its own process (the tree
first on sys.path) and compares the stored rows exactly: every forecast's quantiles as
stored (JSON of the float64 values), every order and every fill.

Usage: python bench/learning_same_decisions.py OLD_TREE NEW_TREE [--end 2019-06-28]
  e.g. git archive main | tar -x -C /tmp/main && python bench/learning_same_decisions.py /tmp/main .
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

QUERIES = {
    "forecasts": "select ts, symbol, target, quantiles, model from forecasts order by ts, symbol, target",
    "orders": "select ts, symbol, side, qty, status from orders order by ts, symbol",
    "fills": "select ts, symbol, qty, price, fee from fills order by ts, symbol",
}
CHILD = """
import asyncio, json, sqlite3, sys
from datetime import UTC, datetime
from pathlib import Path
tree, work, end = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
sys.path.insert(0, tree)
from daemon.app import build_app
from daemon.backtest import run_backtest
from daemon.config import load_config
from state.models_table import ModelsTable
from state.store import Store
TFT = {"family": "tft", "hidden_size": 64, "num_heads": 4, "lstm_layers": 2, "dropout": 0.1}
cfg = load_config(None, overrides={
    "run": {"data_dir": str(work)}, "market": {"replay_start": "2019-01-02", "replay_end": end},
    "strategy": {"rebalance": "daily"},
    "models": {"registry_dir": str(work.parent / "registry"), "run_dir": str(work / "runs"), "model": TFT,
               "data": {"start": "2018-01-01", "end": "2018-12-31"},
               "train": {"epochs": 1, "max_steps_per_epoch": 2, "device": "cpu"}}})
found = sorted((work.parent / "registry").glob("2*"))
if not found:
    from models.train import run_training
    found = [run_training(cfg.models).checkpoint]
db = work / "run.db"
store = Store.open(db)
table = ModelsTable(store)
table.add_candidate(found[0].name, "tft", str(found[0]), "", datetime.now(UTC))
table.activate(found[0].name, "bench", {}, datetime.now(UTC))
store.close()
app = build_app(cfg, mode="backtest", db_path=db)
asyncio.run(run_backtest(app, progress=False))
app.close("completed")
conn = sqlite3.connect(db)
print(json.dumps({k: conn.execute(q).fetchall() for k, q in json.loads(sys.argv[4]).items()}))
"""


def run(tree: Path, work: Path, end: str) -> dict[str, list]:
    work.mkdir(parents=True)
    proc = subprocess.run([sys.executable, "-c", CHILD, str(tree.resolve()), str(work), end, json.dumps(QUERIES)],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--end", default="2019-06-28")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        old = run(args.old, Path(name) / "old", args.end)  # trains the shared checkpoint
        new = run(args.new, Path(name) / "new", args.end)
    for key in QUERIES:
        same = old[key] == new[key]
        print(f"{key:10} rows {len(old[key]):6d} / {len(new[key]):6d}  identical: {same}")


if __name__ == "__main__":
    main()
