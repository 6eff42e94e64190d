"""Our TFT against pytorch-forecasting's TFT, in one process, on the same data (issue 14).

Both models: hidden 64, 4 heads, 2 LSTM layers, dropout 0.1, encoder 60, 4 decoder slots,
23 past inputs, 6 known-future inputs, one static symbol, 3 quantiles; our pinball loss and
the same AdamW loop (lr 1e-3, weight decay 1e-2, gradient clipping 1.0) over batches built
before timing from the bundled sp500_20 data (default `RunConfig`: 2005-2019, purged split).

The peer (pytorch-forecasting, installed with `pip install -e .[bench]`) runs with
`hidden_continuous_size` 32 (`--peer-hcs`; its default is 8), encoder variables = the 23
past inputs, decoder variables = the 6 known-future inputs, symbol embedding 16 wide; it
predicts the 4 slots as its 4 decoder steps, so both output (B, 4, 3).

Per thread count (`--threads 1 2`), timings alternate ours / peer in rounds so that load
from other processes hits both alike; medians over rounds and the ratio are reported:
train samples/s and minor page faults per step (`resource.getrusage`), latency of one
20-symbol cross-section (eval, no_grad, median of 30 after 3 warm-ups, measured once in a
fresh model before any training and once after training), and batch-256 inference
samples/s. Quality (`--quality-seconds`, at the first thread count): both models from the
same seed on the same batch sequence, stepping whichever has used less training time, the
validation pinball at regular checkpoints; reported at equal steps and at equal wall time.

Every timing is taken both as wall time and as this process's CPU time
(`time.process_time`): on the shared, oversubscribed development machine wall time mostly
measures waiting for a core; at 1 thread CPU time is what an idle core would take.

`PYTHONPATH=$PWD .venv/bin/python bench/models_tft_peer.py [--threads 1 2] [--rounds 5]`
writes bench/out/models_tft_peer.json and prints markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from models.config import RunConfig, TFTConfig
from models.data import load_bundled
from models.dataset import prepare
from models.factory import build_model, count_parameters
from models.losses import pinball_loss
from models.pipeline import candidate_positions, model_dims, split_datasets

QUANTILES = (0.1, 0.5, 0.9)
BATCH, CROSS_SECTION = 256, 20
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


class PeerAdapter(nn.Module):
    """pytorch-forecasting's TFT behind our (past, future, static) -> (B, K, Q) signature.

    `prepare` turns our tensors into its input dict once, outside any timed region."""

    def __init__(self, n_past: int, n_future: int, n_symbols: int, hcs: int) -> None:
        super().__init__()
        from pytorch_forecasting import TemporalFusionTransformer as PeerTFT
        from pytorch_forecasting.data.encoders import TorchNormalizer
        from pytorch_forecasting.metrics import QuantileLoss

        past = [f"past_{i}" for i in range(n_past)]
        future = [f"future_{i}" for i in range(n_future)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # lightning's hyper-parameter notices
            self.net = PeerTFT(
                hidden_size=64,
                lstm_layers=2,
                dropout=0.1,
                output_size=len(QUANTILES),
                loss=QuantileLoss(list(QUANTILES)),
                attention_head_size=4,
                max_encoder_length=60,
                static_categoricals=["symbol"],
                static_reals=[],
                time_varying_categoricals_encoder=[],
                time_varying_categoricals_decoder=[],
                categorical_groups={},
                time_varying_reals_encoder=past,
                time_varying_reals_decoder=future,
                x_reals=past + future,
                x_categoricals=["symbol"],
                hidden_continuous_size=hcs,
                hidden_continuous_sizes={},
                embedding_sizes={"symbol": (n_symbols + 1, 16)},
                embedding_paddings=[],
                embedding_labels={"symbol": {}},
                output_transformer=TorchNormalizer(method="identity", center=False),
            )

    @staticmethod
    def prepare(past: torch.Tensor, future: torch.Tensor, static: torch.Tensor) -> dict:
        (b, length, n_past), (k, n_future) = past.shape, future.shape[1:]
        symbol = static.view(b, 1, 1)
        return dict(
            encoder_cont=torch.cat([past, past.new_zeros(b, length, n_future)], -1),
            decoder_cont=torch.cat([future.new_zeros(b, k, n_past), future], -1),
            encoder_cat=symbol.expand(b, length, 1).contiguous(),
            decoder_cat=symbol.expand(b, k, 1).contiguous(),
            encoder_lengths=torch.full((b,), length, dtype=torch.long),
            decoder_lengths=torch.full((b,), k, dtype=torch.long),
            target_scale=torch.tensor([[0.0, 1.0]]).expand(b, 2),
        )

    def forward(self, x: dict) -> torch.Tensor:
        return self.net(x)["prediction"]


def make_models(dims, hcs: int, seed: int = 0) -> dict[str, tuple[nn.Module, Callable]]:
    """name -> (model, batch converter); both start from the same seed."""
    torch.manual_seed(seed)
    ours = build_model(TFTConfig(hidden_size=64, num_heads=4, lstm_layers=2, dropout=0.1), dims)
    torch.manual_seed(seed)
    peer = PeerAdapter(dims.n_past, dims.n_future, dims.n_symbols, hcs)
    return {
        "ours": (ours, lambda p, f, s: (p, f, s)),
        "peer": (peer, lambda p, f, s: (peer.prepare(p, f, s),)),
    }


def load_batches(n_train: int, seed: int = 0) -> tuple[list[Batch], Batch, object]:
    cfg = RunConfig()
    prep = prepare(cfg.data, load_bundled(cfg.data.universe, macro=cfg.data.use_macro))
    positions = candidate_positions(prep, cfg.data.encoder_length)
    _, _, train_ds, val_ds = split_datasets(cfg, prep, positions)
    gen = np.random.default_rng(seed)
    order = gen.permutation(len(train_ds))
    n_train = min(n_train, len(train_ds) // BATCH)  # one epoch at most: no repeats
    batches = [
        train_ds.__getitems__(order[i * BATCH : (i + 1) * BATCH].tolist()) for i in range(n_train)
    ]
    val_rows = gen.choice(len(val_ds), size=min(2048, len(val_ds)), replace=False)
    return batches, val_ds.__getitems__(sorted(val_rows.tolist())), model_dims(prep, len(QUANTILES))


class Trainer:
    """One model's AdamW loop; `step` returns (wall s, CPU s, minor faults). `seconds` sums
    this process's CPU time (user + system) over the steps: on an oversubscribed machine
    wall time mostly measures waiting for a core, CPU time the work itself."""

    def __init__(self, model: nn.Module, convert: Callable, batches: list[Batch]) -> None:
        self.model, self.convert = model, convert
        self.inputs = [(convert(p, f, s), y) for p, f, s, y in batches]
        self.opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
        self.steps, self.seconds = 0, 0.0

    def step(self) -> tuple[float, float, int]:
        x, y = self.inputs[self.steps % len(self.inputs)]
        self.model.train()
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        began, cpu = time.perf_counter(), time.process_time()
        loss = pinball_loss(self.model(*x), y, QUANTILES)
        self.opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        took, cpu = time.perf_counter() - began, time.process_time() - cpu
        self.steps, self.seconds = self.steps + 1, self.seconds + cpu
        return took, cpu, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults

    @torch.no_grad()
    def val_loss(self, val: Batch) -> float:
        self.model.eval()
        p, f, s, y = val
        chunks = [slice(i, i + 512) for i in range(0, len(p), 512)]
        preds = [self.model(*self.convert(p[c], f[c], s[c])) for c in chunks]
        return float(pinball_loss(torch.cat(preds), y, QUANTILES))


def median_ms(fn: Callable[[], object], runs: int = 30) -> tuple[float, float]:
    """Median wall and CPU milliseconds of `fn` (after 3 warm-up calls)."""
    with torch.no_grad():
        for _ in range(3):
            fn()
        wall, cpu = [], []
        for _ in range(runs):
            began, cpu_began = time.perf_counter(), time.process_time()
            fn()
            wall.append((time.perf_counter() - began) * 1e3)
            cpu.append((time.process_time() - cpu_began) * 1e3)
    return statistics.median(wall), statistics.median(cpu)


def speed(trainers: dict[str, Trainer], rounds: int, steps: int, batches: list[Batch]) -> dict:
    """Interleaved timings; per model the medians over rounds."""
    p, f, s, _ = batches[-1]
    cut = slice(0, CROSS_SECTION)
    cross = {n: t.convert(p[cut], f[cut], s[cut]) for n, t in trainers.items()}
    full = {n: t.convert(p, f, s) for n, t in trainers.items()}
    out: dict[str, dict[str, list[float]]] = {n: {} for n in trainers}
    for n, t in trainers.items():
        t.model.eval()
        wall, cpu = median_ms(lambda: t.model(*cross[n]))  # noqa: B023
        out[n] |= {"latency_fresh_ms": [wall], "latency_fresh_cpu_ms": [cpu]}
    for _ in range(rounds):
        for n, t in trainers.items():
            t.step()  # warm-up after the other model ran
            timed = [t.step() for _ in range(steps)]
            row = out[n]
            wall, cpu, faults = (sum(x) for x in zip(*timed, strict=True))
            t.model.eval()
            lat, lat_cpu = median_ms(lambda: t.model(*cross[n]), 15)  # noqa: B023
            inf, inf_cpu = median_ms(lambda: t.model(*full[n]), 3)  # noqa: B023
            for key, value in dict(
                train_samples_s=BATCH * steps / wall,
                train_samples_cpu_s=BATCH * steps / cpu,
                faults_per_step=faults / steps,
                latency_ms=lat,
                latency_cpu_ms=lat_cpu,
                infer_samples_s=BATCH / inf * 1e3,
                infer_samples_cpu_s=BATCH / inf_cpu * 1e3,
            ).items():
                row.setdefault(key, []).append(value)
    medians = {n: {k: statistics.median(v) for k, v in m.items()} for n, m in out.items()}
    return {n: medians[n] | {"rounds": out[n]} for n in out}


def quality(trainers: dict[str, Trainer], val: Batch, seconds: float, every: int) -> dict:
    """Step whichever model has used less training CPU time until both used `seconds`;
    the validation pinball every `every` steps and at the end (CPU seconds equal wall
    seconds on an idle core at 1 thread)."""
    curves = {n: [(0, 0.0, t.val_loss(val))] for n, t in trainers.items()}
    while any(t.seconds < seconds for t in trainers.values()):
        name = min(trainers, key=lambda n: trainers[n].seconds)
        t = trainers[name]
        t.step()
        if t.steps % every == 0 or t.seconds >= seconds:
            curves[name].append((t.steps, round(t.seconds, 2), round(t.val_loss(val), 5)))
    common = min(c[-1][0] for c in curves.values())
    common -= common % every  # a step count every model has a checkpoint at
    at_steps = {n: next(v for s, _, v in c if s == common) for n, c in curves.items()}
    return dict(
        budget_s=seconds,
        equal_steps=common,
        val_at_equal_steps=at_steps,
        val_at_equal_time={n: c[-1][2] for n, c in curves.items()},
        steps_in_budget={n: c[-1][0] for n, c in curves.items()},
        curves=curves,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds")
    parser.add_argument("--steps", type=int, default=3, help="timed training steps per round")
    parser.add_argument("--quality-seconds", type=float, default=150.0, help="budget per model")
    parser.add_argument("--every", type=int, default=20, help="steps between validation checks")
    parser.add_argument("--peer-hcs", type=int, default=32, help="peer's hidden_continuous_size")
    args = parser.parse_args()
    batches, val, dims = load_batches(400)
    report: dict = dict(
        dims=str(dims), peer_hidden_continuous_size=args.peer_hcs, torch=torch.__version__
    )
    for threads in args.threads:
        torch.set_num_threads(threads)
        models = make_models(dims, args.peer_hcs)
        trainers = {n: Trainer(m, conv, batches) for n, (m, conv) in models.items()}
        res = speed(trainers, args.rounds, args.steps, batches)
        res["params"] = {n: count_parameters(m) for n, (m, _) in models.items()}
        res["loadavg"] = os.getloadavg()
        report[f"threads_{threads}"] = res
        print(json.dumps(res, default=str), flush=True)
    if args.quality_seconds > 0:
        torch.set_num_threads(args.threads[0])
        models = make_models(dims, args.peer_hcs)
        trainers = {n: Trainer(m, conv, batches) for n, (m, conv) in models.items()}
        report["quality"] = quality(trainers, val, args.quality_seconds, args.every) | {
            "threads": args.threads[0],
            "loadavg": os.getloadavg(),
        }
        print(json.dumps(report["quality"]), flush=True)
    out = Path("bench/out")
    out.mkdir(parents=True, exist_ok=True)
    (out / "models_tft_peer.json").write_text(json.dumps(report, indent=2, default=str))
    print_tables(report, args.threads)


def print_tables(report: dict, threads: list[int]) -> None:
    print(
        "\n| model | params | threads | train samples/s wall (CPU) | minor faults/step "
        "| ms per 20 symbols fresh / trained (CPU) | inference samples/s B=256 wall (CPU) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for t in threads:
        r = report[f"threads_{t}"]
        for n in ("ours", "peer"):
            m = r[n]
            print(
                f"| {n} | {r['params'][n]:,} | {t} | {m['train_samples_s']:.0f} "
                f"({m['train_samples_cpu_s']:.0f}) | {m['faults_per_step']:,.0f} "
                f"| {m['latency_fresh_ms']:.1f} / {m['latency_ms']:.1f} "
                f"({m['latency_fresh_cpu_ms']:.1f} / {m['latency_cpu_ms']:.1f}) "
                f"| {m['infer_samples_s']:.0f} ({m['infer_samples_cpu_s']:.0f}) |"
            )
        ours, peer = r["ours"], r["peer"]
        ratio = {k: ours[k] / peer[k] for k in ("train_samples_s", "train_samples_cpu_s")}
        print(
            f"| ours / peer | | {t} | {ratio['train_samples_s']:.2f}x "
            f"({ratio['train_samples_cpu_s']:.2f}x) | | | |"
        )
    if "quality" in report:
        q = report["quality"]
        print(
            f"\nquality ({q['threads']} thread(s), {q['budget_s']:.0f} CPU s each): "
            f"steps {q['steps_in_budget']}, val pinball at step {q['equal_steps']}: "
            f"{q['val_at_equal_steps']}, at equal time: {q['val_at_equal_time']}"
        )


if __name__ == "__main__":
    main()
