"""CPU benchmark of the forecasting families: training throughput (samples/s) at a tiny and
a mid size, inference latency for one 20-symbol cross-section, and the onnxruntime speed-up.

Eager latency is measured twice per model, the same way for every family: `fresh` right
after construction, before the model has trained (a fresh process serving a checkpoint),
and `trained` right after the training timing in the same process (warm allocator and
caches). The two can differ by 2x on a loaded machine; the table shows both.

Shapes match the bundled sp500_20 setup: 23 features, 60-day encoder, 4 targets, 3 quantiles.
Run by hand: `.venv/bin/python bench/models_throughput.py [--seconds 3] [--threads 1]
[--clock cpu]`; writes bench/out/models_throughput.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import onnxruntime as ort
import torch

from models.config import HybridConfig, LSTMConfig, TFTConfig
from models.export import INPUT_NAMES, export_onnx
from models.factory import ModelDims, build_model, count_parameters, example_inputs
from models.losses import pinball_loss

DIMS = ModelDims(n_past=23, n_future=6, n_symbols=20, n_targets=4, n_quantiles=3)
L, BATCH, QUANTILES = 60, 256, (0.1, 0.5, 0.9)
CASES = {
    ("tft", "tiny"): TFTConfig(hidden_size=16, num_heads=4, lstm_layers=2),
    ("tft", "mid"): TFTConfig(hidden_size=64, num_heads=4, lstm_layers=2),
    ("lstm", "tiny"): LSTMConfig(variant="stacked", hidden_size=32, num_layers=2),
    ("lstm", "mid"): LSTMConfig(variant="stacked", hidden_size=128, num_layers=3),
    ("hybrid", "tiny"): HybridConfig(preset="tiny"),
    ("hybrid", "mid"): HybridConfig(preset="small"),
}


def train_throughput(model: torch.nn.Module, seconds: float, clock=time.perf_counter) -> float:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    past, future, static = example_inputs(DIMS, BATCH, L)
    target = torch.randn(BATCH, DIMS.n_targets)
    model.train()

    def step() -> None:
        loss = pinball_loss(model(past, future, static), target, QUANTILES)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(2):  # warm-up: allocator, oneDNN kernel selection
        step()
    steps, began = 0, clock()
    while clock() - began < seconds or steps < 3:
        step()
        steps += 1
    return steps * BATCH / (clock() - began)


def latency_ms(fn, runs: int = 30, clock=time.perf_counter) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(runs):
        began = clock()
        fn()
        times.append((clock() - began) * 1e3)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="timed training per case")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="intra-op threads (1: stable on a shared, oversubscribed CPU)",
    )
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="cpu: this process's CPU time, i.e. an idle core's time at 1 thread, for a "
        "shared machine where wall time mostly measures waiting for a core",
    )
    args = parser.parse_args()
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows = []
    for (family, size), cfg in CASES.items():
        model = build_model(cfg, DIMS)
        xs = example_inputs(DIMS, DIMS.n_symbols, L, seed=1)  # one cross-section
        with torch.no_grad():
            fresh = latency_ms(lambda: model.eval()(*xs), clock=clock)  # noqa: B023
        samples_s = train_throughput(model, args.seconds, clock)
        model.eval()
        with torch.no_grad():
            eager = latency_ms(lambda: model(*xs), clock=clock)  # noqa: B023 (called at once)
        with tempfile.TemporaryDirectory() as tmp:
            path = export_onnx(model, Path(tmp) / "m.onnx", example_inputs(DIMS, 2, L))
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = args.threads  # same thread budget as eager
            session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
            feed = {n: x.numpy() for n, x in zip(INPUT_NAMES, xs, strict=True)}
            onnx_ms = latency_ms(lambda: session.run(None, feed), clock=clock)  # noqa: B023
        rows.append(
            dict(
                family=family,
                size=size,
                params=count_parameters(model),
                train_samples_per_s=round(samples_s, 1),
                fresh_ms=round(fresh, 3),
                eager_ms=round(eager, 3),
                onnx_ms=round(onnx_ms, 3),
                onnx_speedup=round(eager / onnx_ms, 2),
            )
        )
        print(json.dumps(rows[-1]), flush=True)
    meta = dict(
        machine=platform.processor() or platform.machine(),
        torch=torch.__version__,
        threads=torch.get_num_threads(),
        clock=args.clock,
        batch=BATCH,
        encoder_length=L,
    )
    out = Path("bench/out")
    out.mkdir(parents=True, exist_ok=True)
    (out / "models_throughput.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(
        "\n| family | size | params | train samples/s | eager ms fresh (20 sym) "
        "| eager ms trained | ONNX ms | speed-up |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['family']} | {r['size']} | {r['params']:,} | {r['train_samples_per_s']:,.0f} | "
            f"{r['fresh_ms']:.2f} | {r['eager_ms']:.2f} | {r['onnx_ms']:.2f} | "
            f"{r['onnx_speedup']:.1f}x |"
        )


if __name__ == "__main__":
    main()
