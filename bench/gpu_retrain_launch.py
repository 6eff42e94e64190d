"""Issue 11 device check: the retrain job's launch path with `nproc_per_node = "auto"`.

Runs `tradingd job retrain` (the daemon's own `RetrainSupervisor`: torchrun as a subprocess,
the trainer's lines re-emitted with `component=trainer`, the registry publish) on a config
with `models.train.nproc_per_node = "auto"` and `device = "auto"`: on a CUDA host that is
every visible GPU with NCCL and bf16, elsewhere 2 CPU processes with gloo. Prints, and
writes to `--out`, the plan the job chose (processes, backend), the trainer's samples/s
per epoch (rank 0's figure: the whole world's samples), the wall time and the version
published.

A short, prepared script for a lent GPU machine: `--require-cuda` exits 3 unless the job
took the NCCL path. On a CPU it is the same check on gloo (what CI's tests cover).

Usage: python bench/gpu_retrain_launch.py [--hidden 64] [--epochs 1] [--max-steps 200]
       [--batch-size 256] [--timeout 900] [--require-cuda] [--out FILE]
(default FILE: $OUT/gpu_retrain_launch.json when OUT is set, else bench/out/).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from learning_latency import toml  # noqa: E402 - the bench's TOML writer


def tables(tmp: Path, args: argparse.Namespace) -> dict:
    """The check's config over the built-in defaults: bundled 2018 replay, a TFT, "auto"."""
    return {
        "run": {"data_dir": str(tmp)},
        "market": {"replay_start": "2018-01-02", "replay_end": "2018-12-31"},
        "models": {
            "registry_dir": str(tmp / "registry"), "run_dir": str(tmp / "runs"),
            "model": {"family": "tft", "hidden_size": args.hidden, "num_heads": 4, "lstm_layers": 2},
            "train": {"nproc_per_node": "auto", "device": "auto", "epochs": args.epochs,
                      "max_steps_per_epoch": args.max_steps, "batch_size": args.batch_size},
            "retrain": {"timeout_s": float(args.timeout), "heartbeat_s": 5.0},
        },
    }


def summarise(lines: list[str]) -> dict:
    """What the job's JSON log lines say about the launch."""
    out: dict = {"epochs": [], "heartbeat_lag_ms": []}
    for line in lines:
        record = json.loads(line) if line.startswith("{") else {}
        event = record.get("event")
        if event == "retrain_started":
            out |= {"nproc": record["nproc"], "backend": record["backend"], "retrain_id": record["retrain_id"]}
        elif event == "epoch_finished" and record.get("component") == "trainer":
            # Re-emitted trainer fields arrive as text: numbers back to numbers.
            figures = ("epoch", "rank", "samples_per_s", "train_loss", "val_loss")
            out["epochs"].append({k: float(record[k]) for k in figures if k in record})
        elif event == "training_started" and record.get("component") == "trainer" and record.get("rank") == "0":
            out["trainer"] = {k: record.get(k) for k in ("device", "world_size", "family", "features", "symbols")}
        elif event == "retrain_heartbeat":
            out["heartbeat_lag_ms"].append(record.get("loop_lag_ms"))
        elif event == "retrain_published":
            out |= {"published": record["version"], "duration_s": record["duration_s"]}
        elif event == "retrain_failed":
            out["failed"] = record.get("reason")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hidden", type=int, default=64, help="TFT hidden size")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--max-steps", type=int, default=200, help="train.max_steps_per_epoch")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--timeout", type=int, default=900, help="models.retrain.timeout_s")
    parser.add_argument("--require-cuda", action="store_true", help="exit 3 unless the NCCL path ran")
    out_dir = Path(os.environ["OUT"]) if os.environ.get("OUT") else ROOT / "bench" / "out"  # $OUT on the device
    parser.add_argument("--out", default=str(out_dir / "gpu_retrain_launch.json"))
    args = parser.parse_args()
    import torch

    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        config = tmp / "config.toml"
        config.write_text(toml(tables(tmp, args)))
        command = [sys.executable, "-m", "daemon.cli", "job", "retrain", "--config", str(config),
                   "--db", str(tmp / "state.db"), "--log-format", "json"]
        env = dict(os.environ) | {"PYTHONPATH": str(ROOT)}
        started = time.monotonic()
        done = subprocess.run(command, cwd=tmp, env=env, capture_output=True, text=True, check=False,
                              timeout=args.timeout + 120)
        wall = time.monotonic() - started
    result = summarise((done.stdout + done.stderr).splitlines()) | {  # the log goes to stderr
        "exit_code": done.returncode, "wall_s": round(wall, 1), "cuda_devices": torch.cuda.device_count(),
        "torch": torch.__version__, "hidden": args.hidden, "batch_size": args.batch_size,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    if done.returncode != 0 or "published" not in result:
        print(done.stderr[-3000:], file=sys.stderr)
        raise SystemExit(1)
    if args.require_cuda and result.get("backend") != "nccl":
        print(f"the job took {result.get('backend')!r}, not NCCL ({result['cuda_devices']} CUDA devices)", file=sys.stderr)
        raise SystemExit(3)


if __name__ == "__main__":
    main()
