"""Issue 9 bench: `tradingd run --pace max` over 1990-2022 on the shipped config.

Samples the daemon's RSS (main process, /proc) each time a new simulated month is on
record, and the database size (db + WAL) at each new simulated year. Prints JSON lines;
stops after --limit-s wall seconds if the run is not done (says so).

    PYTHONPATH=. python bench/long_run_rss.py --limit-s 2400

`--learning` (issue 11) runs the learning loop for weeks instead: the shipped config from
`--start` (2015-01-02) to `--end` (2018-12-31) with its daily `infer` serving the
shipped-size TFT (hidden 64) and the `retrain` job on, monthly (18:00 on the 1st: torchrun,
2 gloo processes, `--steps` batches of one epoch: ~20 s), paced (`--pace 0.7` trading
days a second) so that each month's retrain ends within the month, and a swap
tolerance that lets every validated retrain take over. So every month a checkpoint is
published, checked and swapped in while the daemon runs, and the RSS shows whether
retired models stay in memory. Each sample also counts the `models` rows by status; the
daemon's JSON log is left in the work folder.

    PYTHONPATH=. python bench/long_run_rss.py --learning --start 2017-01-03 --pace 0.7 --limit-s 3000
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def last_mark(db: Path) -> str | None:
    if not db.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.1)
        try:
            return conn.execute("select max(ts) from equity").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return None


def model_statuses(db: Path) -> dict[str, int]:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.1)
        try:
            return dict(conn.execute("select status, count(*) from models group by status").fetchall())
        finally:
            conn.close()
    except sqlite3.Error:
        return {}


def edited(text: str, changes: list[tuple[str, str]]) -> str:
    """`text` with each (old, new) replaced; each old must occur exactly once."""
    for old, new in changes:
        if text.count(old) != 1:
            raise SystemExit(f"config.toml changed: expected one {old!r}")
        text = text.replace(old, new)
    return text


def shipped_config(args: argparse.Namespace) -> str:
    changes = [("pace = 1.0 ", f'pace = "{args.pace}"' if args.pace == "max" else f"pace = {float(args.pace)}")]
    if not args.learning:
        return edited((REPO / "config.toml").read_text(), [("replay_start = 2018-01-02", "replay_start = 1990-01-02"), *changes])
    return edited((REPO / "config.toml").read_text(), [
        *changes,
        ("replay_start = 2018-01-02", f"replay_start = {args.start}"),
        ("# replay_end = 2022-12-28", f"replay_end = {args.end}"),
        ('cron = "0 18 * * sat"\nenabled = false', 'cron = "0 18 1 * *"\nenabled = true'),
        ("epochs = 20", f"epochs = 1\nmax_steps_per_epoch = {args.steps}"),
        ("tolerance = 0.02 ", "tolerance = 100.0"),
        ("heartbeat_s = 10.0", "heartbeat_s = 5.0"),
    ])  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit-s", type=float, default=2400)
    parser.add_argument("--learning", action="store_true", help="daily infer and monthly retrains with swaps")
    parser.add_argument("--start", default="2015-01-02")
    parser.add_argument("--end", default="2018-12-31")
    parser.add_argument("--steps", type=int, default=5, help="--learning: batches per retrain")
    parser.add_argument("--pace", default="max", help='trading days per second or "max"; --learning: slow enough '
                        "that a month outlasts a retrain (0.7), else the daemon, which never waits for one, skips "
                        "the months whose retrain finds the last one still running")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="long_run_"))
    config = folder / "config.toml"
    config.write_text(shipped_config(args))
    db = folder / "t.db"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    log = open(folder / "daemon.jsonl", "wb")  # noqa: SIM115 - open for the daemon's whole life
    proc = subprocess.Popen(
        [sys.executable, "-m", "daemon.cli", "run", "--config", str(config), "--db", str(db), "--exit-when-done",
         "--log-format", "json", "--http-listen", ""],
        cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    print(json.dumps({"work": str(folder), "learning": args.learning}), flush=True)
    started = time.monotonic()
    month = year = None
    while proc.poll() is None and time.monotonic() - started < args.limit_s:
        ts = last_mark(db)
        if ts and ts[:7] != month:
            month = ts[:7]
            sample = {"sim_month": month, "rss_mb": round(rss_mb(proc.pid), 1),
                      "wall_s": round(time.monotonic() - started, 1)}
            if args.learning:
                sample["models"] = model_statuses(db)
            print(json.dumps(sample), flush=True)
            if ts[:4] != year:
                year = ts[:4]
                size = sum(p.stat().st_size for p in folder.glob("t.db*"))
                print(json.dumps({"sim_year": year, "db_mb": round(size / 2**20, 2)}), flush=True)
        time.sleep(0.5)
    finished = proc.poll() is not None
    if not finished:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)
    size = sum(p.stat().st_size for p in folder.glob("t.db*"))
    log.close()
    print(json.dumps({"finished": finished, "last_sim_month": month, "db_mb": round(size / 2**20, 2),
                      "wall_s": round(time.monotonic() - started, 1), "rc": proc.returncode,
                      "models": model_statuses(db)}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
