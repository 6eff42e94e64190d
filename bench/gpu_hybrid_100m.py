"""GPU benchmark: the `100m` CNN-LSTM-Transformer hybrid, bf16 autocast, DDP over NCCL on
one GPU. Reports training samples/s and model FLOPs utilisation (MFU). Bounded to ~5 min.

    python bench/gpu_hybrid_100m.py                  # one GPU, NCCL process group of 1
    torchrun --nproc_per_node=1 bench/gpu_hybrid_100m.py
    python bench/gpu_hybrid_100m.py --smoke          # CPU/gloo/fp32 tiny check of the script

FLOPs per step are counted once with torch's FlopCounterMode on a meta-device copy (no
memory), because cuDNN's fused LSTM kernels are invisible to the counter on CUDA. MFU =
counted FLOPs/s over the card's dense bf16 peak (override with --peak-tflops).
Writes $OUT/gpu_hybrid_100m.json when OUT is set.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere

from models.config import HybridConfig  # noqa: E402
from models.factory import ModelDims, build_model, count_parameters, example_inputs  # noqa: E402
from models.losses import pinball_loss  # noqa: E402

DIMS = ModelDims(n_past=23, n_future=6, n_symbols=20, n_targets=4, n_quantiles=3)
QUANTILES = (0.1, 0.5, 0.9)
# Dense bf16 peaks (no sparsity), TFLOP/s.
PEAKS = {
    "H200": 989.4,
    "H100 SXM": 989.4,
    "H100 80GB HBM3": 989.4,
    "H100 PCIe": 756.0,
    "H100": 989.4,
    "A100": 312.0,
    "L40S": 362.0,
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _flops_per_step(cfg: HybridConfig, batch: int, length: int) -> int:
    with torch.device("meta"):
        model = build_model(cfg, DIMS)
        past, future, static = (x.to("meta") for x in example_inputs(DIMS, batch, length))
    counter = FlopCounterMode(display=False)
    with counter:
        pinball_loss(
            model(past, future, static),
            torch.zeros(batch, DIMS.n_targets, device="meta"),
            QUANTILES,
        ).backward()
    return counter.get_total_flops()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="100m")
    p.add_argument("--batch", type=int, default=256, help="per-GPU batch")
    p.add_argument("--length", type=int, default=60, help="encoder length")
    p.add_argument("--seconds", type=float, default=150.0, help="timed training wall-clock")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--compile", action="store_true", help="torch.compile the model first")
    p.add_argument("--grad-checkpointing", action="store_true")
    p.add_argument("--peak-tflops", type=float, default=None)
    p.add_argument("--smoke", action="store_true", help="tiny preset on CPU with gloo, fp32")
    args = p.parse_args()
    deadline = time.monotonic() + 280  # the whole run, including start-up, stays under 5 min

    cuda = torch.cuda.is_available() and not args.smoke
    if not cuda and not args.smoke:
        print("no CUDA device; use --smoke to check the script on CPU", file=sys.stderr)
        return 1
    for key, value in {
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(_free_port()),
        "RANK": "0",
        "WORLD_SIZE": "1",
        "LOCAL_RANK": "0",
    }.items():
        os.environ.setdefault(key, value)
    local = int(os.environ["LOCAL_RANK"])
    device = torch.device("cuda", local) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    dist.init_process_group("nccl" if cuda else "gloo")
    world = dist.get_world_size()

    preset = "tiny" if args.smoke else args.preset
    batch, seconds = (16, 2.0) if args.smoke else (args.batch, args.seconds)
    cfg = HybridConfig(preset=preset, dropout=0.1)
    torch.manual_seed(0)
    model = build_model(cfg, DIMS).to(device)
    model.grad_checkpointing = args.grad_checkpointing
    n_params = count_parameters(model)
    flops = _flops_per_step(cfg, batch, args.length)
    net = DistributedDataParallel(model, device_ids=[local] if cuda else None)
    if args.compile:
        net = torch.compile(net)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=cuda)
    past, future, static = (x.to(device) for x in example_inputs(DIMS, batch, args.length))
    target = torch.randn(batch, DIMS.n_targets, device=device)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda)

    def step() -> None:
        with autocast:
            loss = pinball_loss(net(past, future, static), target, QUANTILES)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    sync = torch.cuda.synchronize if cuda else (lambda: None)
    for _ in range(2 if args.smoke else args.warmup):
        step()
    sync()
    steps, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds and time.monotonic() < deadline:
        step()
        steps += 1
        if steps % 10 == 0:
            sync()
    sync()
    elapsed = time.perf_counter() - began

    name = torch.cuda.get_device_name(device) if cuda else "cpu"
    peak = args.peak_tflops or next((v for k, v in PEAKS.items() if k in name), None)
    achieved = flops * steps / elapsed / 1e12
    result = {
        "device": name,
        "world_size": world,
        "preset": preset,
        "params": n_params,
        "batch_per_gpu": batch,
        "encoder_length": args.length,
        "dtype": "bf16" if cuda else "fp32",
        "backend": dist.get_backend(),
        "compile": args.compile,
        "steps": steps,
        "seconds": round(elapsed, 2),
        "samples_per_s": round(steps * batch * world / elapsed, 1),
        "gflop_per_step": round(flops / 1e9, 1),
        "achieved_tflops": round(achieved, 2),
        "peak_tflops": peak,
        "mfu": round(achieved / peak, 4) if peak and cuda else None,
        "max_memory_gib": round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
        if cuda
        else None,
        "torch": torch.__version__,
    }
    if dist.get_rank() == 0:
        print(json.dumps(result))
        if os.environ.get("OUT"):
            Path(os.environ["OUT"], "gpu_hybrid_100m.json").write_text(json.dumps(result, indent=2))
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
