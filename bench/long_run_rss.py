"""Issue 9 bench: `tradingd run --pace max` over 1990-2022 on the shipped config.

Samples the daemon's RSS (main process, /proc) each time a new simulated month is on
record, and the database size (db + WAL) at each new simulated year. Prints JSON lines;
stops after --limit-s wall seconds if the run is not done (says so).

    PYTHONPATH=. python bench/long_run_rss.py --limit-s 2400
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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit-s", type=float, default=2400)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="long_run_"))
    config = folder / "config.toml"
    text = (REPO / "config.toml").read_text().replace("replay_start = 2018-01-02", "replay_start = 1990-01-02")
    config.write_text(text.replace('pace = 1.0 ', 'pace = "max"'))
    db = folder / "t.db"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, "-m", "daemon.cli", "run", "--config", str(config), "--db", str(db), "--exit-when-done",
         "--log-format", "json", "--http-listen", ""],
        cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )
    started = time.monotonic()
    month = year = None
    while proc.poll() is None and time.monotonic() - started < args.limit_s:
        ts = last_mark(db)
        if ts and ts[:7] != month:
            month = ts[:7]
            print(json.dumps({"sim_month": month, "rss_mb": round(rss_mb(proc.pid), 1),
                              "wall_s": round(time.monotonic() - started, 1)}), flush=True)
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
    print(json.dumps({"finished": finished, "last_sim_month": month, "db_mb": round(size / 2**20, 2),
                      "wall_s": round(time.monotonic() - started, 1), "rc": proc.returncode}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
