"""W1's engine in CPU seconds, for comparing two source trees on a busy machine.

Wall-clock time on a shared, loaded machine mostly measures the other jobs; the CPU
time of the replay loop (``time.process_time`` around ``run_backtest``; the background
writer is another process and not counted) moves much less. Run it per tree, alternating:

    for k in 1 2 3; do for t in /path/to/base /path/to/branch; do
        PYTHONPATH=$t python bench/w1_cpu.py --root $t --repeat 3; done; done

and compare the minimums (``--root``: the checkout to measure, by default this one).
Usage: python bench/w1_cpu.py [--repeat N] [--root DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args()
    root = args.root.resolve()
    sys.path.insert(0, str(root))

    from daemon import logs
    from daemon.app import build_app
    from daemon.backtest import run_backtest
    from daemon.config import load_config

    logs.configure("error", "json")
    config = load_config(root / "bench" / "w1.toml")
    seconds = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.repeat):
            app = build_app(config, mode="backtest", db_path=Path(tmp) / f"w1-{k}.db")
            started = time.process_time()
            asyncio.run(run_backtest(app, progress=False))
            seconds.append(time.process_time() - started)
            equity = app.broker.equity()
            app.close("completed")
    runs = " ".join(f"{s:.3f}" for s in seconds)
    print(f"{root}: engine CPU min {min(seconds):.3f} s (runs {runs}), final equity {equity:,.2f}")


if __name__ == "__main__":
    main()
