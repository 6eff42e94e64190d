"""Walk-forward evaluation of each model family on the bundled S&P 500 data (20 stocks),
against the zero-return, trailing-mean and GARCH(1,1) baselines on the same samples.

Expanding-window folds with purge = 20 days (the longest label) + embargo 5 days; the
normaliser and early stopping see only each fold's training window. CPU-sized on purpose:
small models, a capped number of steps per epoch, training windows sampled every 5th day.

    .venv/bin/python bench/models_walkforward.py [--folds 3] [--families tft,lstm,hybrid]

Writes bench/out/models_walkforward.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from models.config import RunConfig
from models.data import load_bundled
from models.dataset import prepare
from models.distributed import DistContext
from models.walkforward import walk_forward

MODELS = {
    "tft": {"family": "tft", "hidden_size": 16, "num_heads": 4, "lstm_layers": 2, "dropout": 0.1},
    "lstm": {
        "family": "lstm",
        "variant": "stacked",
        "hidden_size": 32,
        "num_layers": 2,
        "dropout": 0.1,
    },
    "hybrid": {"family": "hybrid", "preset": "tiny", "dropout": 0.1},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--families", default="tft,lstm,hybrid")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=25, help="max optimizer steps per epoch")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ctx = DistContext(0, 1, 0, torch.device("cpu"))
    base = {
        "data": {
            "universe": "sp500_20",
            "start": "2005-01-01",
            "end": "2019-12-31",
            "encoder_length": 60,
            "embargo": 5,
            "sample_stride": 5,
        },
        "train": {
            "epochs": args.epochs,
            "batch_size": 256,
            "lr": 1e-3,
            "patience": 3,
            "max_steps_per_epoch": args.steps,
            "eval_folds": args.folds,
        },
    }
    market = load_bundled("sp500_20")
    results = {}
    for family in args.families.split(","):
        cfg = RunConfig.model_validate({**base, "model": MODELS[family]})
        prep = prepare(cfg.data, market)
        began = time.perf_counter()
        report = walk_forward(cfg, prep, ctx, None)
        report["seconds"] = time.perf_counter() - began
        results[family] = report
        print(family, json.dumps(report["verdict"], indent=1), flush=True)
    out = Path("bench/out")
    out.mkdir(parents=True, exist_ok=True)
    (out / "models_walkforward.json").write_text(json.dumps(results, indent=2, default=float))
    print("\n| family | target | forecaster | pinball mean | P10-P90 coverage | IC | rank IC |")
    print("|---|---|---|---:|---:|---:|---:|")
    for family, report in results.items():
        for target, per in report["summary"].items():
            for name, m in per.items():
                print(
                    f"| {family} | {target} | {name} | {m['pinball_mean']:.6f} | {m['coverage']:.3f} "
                    f"| {m['ic']:.4f} | {m['rank_ic']:.4f} |"
                )
    for family, report in results.items():
        print(
            f"\n{family} ({report['seconds']:.0f}s): "
            + "; ".join(f"{t}: {v}" for t, v in report["verdict"].items())
        )


if __name__ == "__main__":
    main()
