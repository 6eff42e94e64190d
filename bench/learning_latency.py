"""Issue 11 bench: bar -> forecast -> weights -> orders latency with a loaded TFT.

A hidden-64 TFT (4 heads, 2 LSTM layers: config.toml's size) for the 20 bundled S&P 500
stocks, briefly trained on 2018 (latency does not depend on its skill) and made the active
model, then daily bars of 2019 (`--start`/`--end`) replayed through the real jobs with a
daily rebalance. Per trading day the latency is the wall time of `pull_prices` (bars ->
marks, fills of yesterday's orders) + `infer` (features, forecast, ForecastReady) +
`rebalance` (HRP x tilt, GARCH, VaR, target -> orders), each with its bus cascade drained.
The same replay without a model runs side by side in this process. Replayed without pacing
(the paced daemon adds only sleeps).

`--refit-every N` sets `risk.garch.refit_every` (the shipped default, 1, refits all 20
GARCH models at every rebalance; N > 1 filters with the last parameters in between).
`--refit-at after_decision` sets `risk.garch.refit_at`: due refits run in the `refit` job
after the rebalance's orders, so the decision only filters; that job's time is printed in
its own column and is not part of the bar -> orders total.
`--profile FILE` writes a cProfile of each job over the with-TFT replay (`FILE.<job>`, read
with `python -m pstats`).
`--paced` replays through the daemon itself instead: `tradingd run --pace max
--exit-when-done` in a subprocess (the live bus with a queue and worker per subscriber,
`infer` and `rebalance` in worker threads, one SQLite commit per cascade, data jobs beside
them), each trading job timed from its fire to its committed cascade by the daemon's
`cascade_committed` log lines.

Usage: python bench/learning_latency.py [--start 2019-01-02 --end 2019-12-31]
       [--refit-every 1] [--refit-at decision|after_decision] [--serve-threads 1]
       [--profile /tmp/latency.prof | --paced]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import re
import subprocess
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
STAGES = ("pull_prices", "infer", "rebalance")  # bar -> forecast -> weights -> orders
AFTER = ("refit",)  # after the orders (risk.garch.refit_at = "after_decision")


def overrides(tmp: Path, start: str, end: str, registry: Path, refit_every: int, refit_at: str, threads: int) -> dict:
    """The bench's config tables over the built-in defaults (models under `registry`)."""
    return {
        "run": {"data_dir": str(tmp)},
        "market": {"replay_start": start, "replay_end": end},
        "strategy": {"rebalance": "daily"},
        "risk": {"garch": {"refit_every": refit_every, "refit_at": refit_at}},
        "models": {"registry_dir": str(registry), "run_dir": str(tmp / "runs"), "model": TFT,
                   "data": {"start": "2018-01-01", "end": "2018-12-31"},
                   "train": {"epochs": 1, "max_steps_per_epoch": 2, "device": "cpu"},
                   "serve": {"threads": threads}},
    }


def toml(tables: dict, prefix: str = "") -> str:
    """`tables` (nested dicts of scalars) as TOML, dates bare (TOML dates)."""
    def value(v) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", v):
            return v
        return json.dumps(v)

    scalars = [f"{k} = {value(v)}" for k, v in tables.items() if not isinstance(v, dict)]
    text = (f"[{prefix}]\n" if prefix and scalars else "") + "".join(line + "\n" for line in scalars)
    for k, v in tables.items():
        if isinstance(v, dict):
            text += toml(v, f"{prefix}.{k}" if prefix else k)
    return text


def paced(tables: dict, db: Path) -> dict[str, list[float]]:
    """Per-day seconds of each trading job in `tradingd run --pace max` on config `tables`,
    from the daemon's `cascade_committed` lines (fire -> cascade handled -> committed)."""
    path = db.with_suffix(".toml")
    # At max pace the bundled macro "pull" (16:15) would still be parsing when pull_prices
    # (16:30) and infer (16:40) fire, which 25 minutes separate live; the forecasts read
    # the bundled macro series directly, so it changes nothing the bench times.
    path.write_text(toml(tables | {"jobs": {"pull_macro": {"enabled": False}}}))
    command = [
        sys.executable, "-m", "daemon.cli", "run", "--config", str(path), "--db", str(db), "--pace", "max",
        "--exit-when-done", "--log-format", "json", "--http-listen", "",
    ]
    env = dict(os.environ) | {"PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, cwd=db.parent, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"tradingd run exited {done.returncode}: {done.stderr[-2000:]}")
    per_day: dict[str, dict[str, float]] = defaultdict(dict)
    for line in done.stdout.splitlines():
        record = json.loads(line) if line.startswith("{") else {}
        if record.get("event") == "cascade_committed":
            per_day[record["fired_at"][:10]][record["job"]] = record["ms"] / 1e3
    return _per_stage(per_day)


def replay(tables: dict, db: Path, profile: str | None = None) -> dict[str, list[float]]:
    """Per-day seconds of each trading job (fire + cascade), over the window."""
    from daemon.app import build_app
    from daemon.backtest import replay_timeline
    from daemon.config import load_config

    app = build_app(load_config(None, overrides=tables), mode="backtest", db_path=db)
    per_day: dict[str, dict[str, float]] = defaultdict(dict)
    profiles = {name: cProfile.Profile() for name in STAGES + AFTER} if profile else {}

    async def run() -> None:
        await app.data.open(set(app.triggers))
        for when, name in replay_timeline(app):
            app.clock.advance_to(when)
            prof = profiles.get(name)
            t0 = time.perf_counter()
            if prof is not None:
                prof.enable()
            await app.jobs.fire(name)
            app.bus.drain()
            if prof is not None:
                prof.disable()
            if name in STAGES + AFTER:
                per_day[when.date().isoformat()][name] = time.perf_counter() - t0
        await app.data.close()

    asyncio.run(run())
    app.close("completed")
    for name, prof in profiles.items():
        prof.dump_stats(f"{profile}.{name}")
    return _per_stage(per_day)


def _per_stage(per_day: dict[str, dict[str, float]]) -> dict[str, list[float]]:
    """Seconds per stage, the bar -> orders total and the after-the-orders jobs, per day
    on which every stage ran."""
    days = [d for d in per_day.values() if all(k in d for k in STAGES)]
    out = {k: [d[k] for d in days] for k in STAGES} | {"total": [sum(d[k] for k in STAGES) for d in days]}
    return out | {k: [d.get(k, 0.0) for d in days] for k in AFTER}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--start", default="2019-01-02")
    parser.add_argument("--end", default="2019-12-31")
    parser.add_argument("--refit-every", type=int, default=1, help="risk.garch.refit_every")
    parser.add_argument("--refit-at", default="decision", choices=("decision", "after_decision"),
                        help="risk.garch.refit_at")
    parser.add_argument("--serve-threads", type=int, default=1, help="models.serve.threads")
    parser.add_argument("--profile", default=None, help="cProfile per job to FILE.<job> (with-TFT replay)")
    parser.add_argument("--paced", action="store_true", help="replay through `tradingd run --pace max`")
    args = parser.parse_args()
    if args.paced and args.profile:
        parser.error("--profile times the in-process replay; drop --paced")
    from daemon.config import load_config
    from models.train import run_training
    from state.models_table import ModelsTable
    from state.store import Store

    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        knobs = (args.refit_every, args.refit_at, args.serve_threads)
        tables = overrides(tmp, args.start, args.end, tmp / "registry", *knobs)
        empty = overrides(tmp, args.start, args.end, tmp / "empty", *knobs)  # no model: the tilt stays neutral
        ckpt = run_training(load_config(None, overrides=tables).models).checkpoint
        store = Store.open(tmp / "model.db")
        table = ModelsTable(store)
        table.add_candidate(ckpt.name, "tft", str(ckpt), "", datetime.now(UTC))
        table.activate(ckpt.name, "bench", {}, datetime.now(UTC))
        store.close()
        if args.paced:
            results = {"with TFT": paced(tables, tmp / "model.db"), "no model": paced(empty, tmp / "none.db")}
        else:
            results = {"with TFT": replay(tables, tmp / "model.db", args.profile), "no model": replay(empty, tmp / "none.db")}
    print(
        f"{'paced daemon' if args.paced else 'in-process replay'}: refit_every={args.refit_every}, "
        f"refit_at={args.refit_at}, serve threads {args.serve_threads}, {args.start}..{args.end}; ms per trading day"
    )
    columns = (*STAGES, "total", *AFTER)
    print(f"{'':10} {'days':>5} " + " ".join(f"{s + ' p50':>16} {s + ' p99':>16}" for s in columns))
    for label, r in results.items():
        q = lambda xs, p: 1e3 * float(np.percentile(xs, p))  # noqa: E731
        cells = " ".join(f"{q(r[s], 50):16.1f} {q(r[s], 99):16.1f}" for s in columns)
        print(f"{label:10} {len(r['total']):5d} {cells}")


if __name__ == "__main__":
    main()
