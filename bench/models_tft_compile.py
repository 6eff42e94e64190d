"""Does `torch.compile` speed up our TFT's training step on the CPU? (issue 14, not a test)

The hidden-64 TFT of `bench/models_tft_peer.py` (same batches, same AdamW loop through its
`Trainer`), eager against `torch.compile(model)` (inductor, default mode), alternating in
rounds so that load from other processes hits both alike. Reports the compile time (the
first two compiled steps) and train samples/s per round and their medians.

`PYTHONPATH=$PWD .venv/bin/python bench/models_tft_compile.py [--threads 1] [--rounds 4]`
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from models_tft_peer import BATCH, Trainer, load_batches  # noqa: E402

from models.config import TFTConfig  # noqa: E402
from models.factory import build_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=4, help="timed steps per round")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    batches, _, dims = load_batches(24)

    def model() -> torch.nn.Module:
        torch.manual_seed(0)
        return build_model(TFTConfig(hidden_size=64, num_heads=4, lstm_layers=2, dropout=0.1), dims)

    same = lambda p, f, s: (p, f, s)  # noqa: E731
    trainers = {"eager": Trainer(model(), same, batches), "compiled": Trainer(torch.compile(model()), same, batches)}
    began = time.perf_counter()
    trainers["compiled"].step(), trainers["compiled"].step()
    print(f"compile + first 2 steps: {time.perf_counter() - began:.1f} s", flush=True)
    rates: dict[str, list[float]] = {name: [] for name in trainers}
    for r in range(args.rounds):
        for name, t in trainers.items():
            t.step()  # warm-up after the other one ran
            wall = sum(t.step()[0] for _ in range(args.steps))
            rates[name].append(BATCH * args.steps / wall)
            print(f"round {r} {name:8s} {rates[name][-1]:7.1f} samples/s", flush=True)
    eager, compiled = (statistics.median(rates[n]) for n in ("eager", "compiled"))
    print(f"median: eager {eager:.1f}, compiled {compiled:.1f} samples/s; compiled/eager {compiled / eager:.2f}x")


if __name__ == "__main__":
    main()
