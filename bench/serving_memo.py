"""Issue 11 bench: the TFT's forecast with its per-step memo against the plain forward.

`Forecaster` memoises the TFT's per-time-step stage (`select_past`, the embedding and
variable selection of the observed inputs) by exact input, one time step at a time, so
consecutive days compute it for the newest bar only (`models.forecaster.SelectedPastMemo`).
This bench serves every trading day of `--start`..`--end` twice in one process, in
alternating order: `Forecaster(ckpt)` (the memo, what the daemon runs) and
`Forecaster(ckpt, memo=False)` (the plain forward, the peer), on the same feature window
(the daemon's: `serving_window`, the `[models]` feature spec, features as of the day).
The model is `bench/learning_latency.py`'s: a hidden-64 TFT (4 heads, 2 LSTM layers) for
the 20 bundled S&P 500 stocks, briefly trained on 2018. One torch thread by default.

Prints the ms per forecast (p50 / p99), how far the two forecasts are apart, and whether
a fresh (cold) memo on the last day gives the warm memo's forecast bit for bit.

Usage: python bench/serving_memo.py [--start 2019-01-02 --end 2019-12-31] [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--start", default="2019-01-02")
    parser.add_argument("--end", default="2019-12-31")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from learning_latency import overrides

    from daemon.config import load_config
    from models import registry
    from models.data import load_bundled
    from models.features import serving_window
    from models.forecaster import Forecaster, feature_window
    from models.serving_spec import ServingSpec
    from models.train import run_training
    from models.validation import fit_panel

    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        tables = overrides(tmp, args.start, args.end, tmp / "registry", 1, "decision", args.threads)
        config = load_config(None, overrides=tables).models
        ckpt = registry.load(run_training(config).checkpoint)
    spec = ServingSpec.from_config(config)
    market = load_bundled()
    days = market.prices.loc[args.start : args.end].index
    servers = {"memo": Forecaster(ckpt), "plain": Forecaster(ckpt, memo=False)}
    times: dict[str, list[float]] = {k: [] for k in servers}
    apart, differing, values = 0.0, 0, 0
    for i, day in enumerate(days):
        history = market.prices.loc[:day]
        panel = spec.panel(serving_window(history, ckpt.manifest.encoder_length), day, market.macro)
        window = feature_window(fit_panel(servers["memo"], panel), ckpt.manifest.encoder_length)
        out = {}
        for label in sorted(servers, reverse=i % 2 == 1):  # alternate who goes first
            started = time.perf_counter()
            out[label] = servers[label].forecast(window).values
            times[label].append(time.perf_counter() - started)
        both = np.isfinite(out["plain"])
        apart = max(apart, float(np.abs(out["memo"] - out["plain"])[both].max(initial=0.0)))
        differing += int((out["memo"] != out["plain"])[both].sum())
        values += int(both.sum())
    cold = Forecaster(ckpt).forecast(window).values
    print(
        f"serving {len(days)} days {args.start}..{args.end}, hidden-64 TFT, 20 symbols, "
        f"{args.threads} thread(s); ms per forecast (the first day fills the memo)"
    )
    print(f"{'':8} {'p50':>8} {'p99':>8} {'mean':>8} {'first':>8}")
    for label, ts in times.items():
        ms = 1e3 * np.asarray(ts)
        print(f"{label:8} {np.percentile(ms, 50):8.2f} {np.percentile(ms, 99):8.2f} {ms.mean():8.2f} {ms[0]:8.2f}")
    print(f"memo vs plain: {differing} of {values} values differ, by at most {apart:.3g}")
    print(f"cold memo on the last day == warm memo: {bool(np.array_equal(cold, out['memo'], equal_nan=True))}")


if __name__ == "__main__":
    main()
