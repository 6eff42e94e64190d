"""Does the dashboard slow the daemon's writes? Writer throughput alone vs beside readers.

A writer process commits N small transactions the way the live recorder does (WAL,
``synchronous=normal``, one ``BEGIN IMMEDIATE`` ... ``COMMIT`` per event, here an equity
row plus the run's heartbeat), first alone, then while a reader process re-reads the run
exactly as a dashboard refresh does (``dashboard.data.load_run`` + ``views.performance``)
in a tight loop, i.e. far more often than the default 10 s refresh. Rounds alternate so
machine load hits both sides alike. Also timed: one page refresh and one report.

    .venv/bin/python bench/dashboard_reads.py [--commits 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def write(db: str, run_id: str, commits: int) -> float:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("pragma synchronous = normal")
    conn.execute("pragma busy_timeout = 10000")
    (last, equity, cash), = conn.execute(
        "select ts, equity, cash from equity where run_id = ? order by ts desc limit 1", (run_id,)
    ).fetchall()
    when = datetime.fromisoformat(last)
    start = time.perf_counter()
    for k in range(commits):
        when += timedelta(days=1)
        conn.execute("begin immediate")
        conn.execute("insert into equity (run_id, ts, cash, equity, gross) values (?, ?, ?, ?, ?)",
                     (run_id, when.isoformat(), cash, equity + k, equity + k - cash))
        conn.execute("update runs set heartbeat_at = ? where run_id = ?", (when.isoformat(), run_id))
        conn.execute("commit")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def read_forever(db: str, run_id: str, stop, count, touch_db: bool) -> None:  # noqa: ANN001
    """Refresh in a loop; ``touch_db=False`` is the control: the same CPU work (the
    derived views) on one run read at the start, never touching the database again."""
    from dashboard.data import load_run, open_store
    from dashboard.views import performance

    run = None
    while not stop.is_set():
        if touch_db or run is None:
            store = open_store(db)
            try:
                run = load_run(store, run_id)
            finally:
                store.close()
        performance(run)
        with count.get_lock():
            count.value += 1


def writer_seconds(db: str, run_id: str, commits: int, readers: int, touch_db: bool = True) -> tuple[float, int]:
    ctx = mp.get_context("spawn")
    stop, count = ctx.Event(), ctx.Value("i", 0)
    procs = [ctx.Process(target=read_forever, args=(db, run_id, stop, count, touch_db)) for _ in range(readers)]
    for p in procs:
        p.start()
    if readers:
        while count.value < readers:  # every reader warmed up (imports, bundled prices)
            time.sleep(0.05)
    before = count.value
    elapsed = write(db, run_id, commits)
    reads = count.value - before
    stop.set()
    for p in procs:
        p.join()
    return elapsed, reads


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commits", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tradingd-bench-"))
    source = tmp / "source.db"
    subprocess.run([sys.executable, "-m", "daemon.cli", "backtest", "--db", str(source), "--start", "2019-06-01",
                    "--end", "2020-06-30", "--json", "--no-progress", "--log-level", "error"],
                   check=True, cwd=REPO, capture_output=True)
    run_id = sqlite3.connect(source).execute("select run_id from runs").fetchone()[0]
    results: dict[str, list[float]] = {"alone": [], "reader": [], "cpu": []}
    reads = []
    modes = ["alone", "reader", "cpu"]
    for r in range(args.rounds):
        for mode in modes[r % 3 :] + modes[: r % 3]:  # rotate the order between rounds
            db = tmp / f"round{r}-{mode}.db"
            shutil.copy(source, db)
            seconds, n = writer_seconds(str(db), run_id, args.commits, 0 if mode == "alone" else 1, mode == "reader")
            results[mode].append(seconds)
            if mode == "reader":
                reads.append(n)
    from dashboard.data import load_run, open_store
    from dashboard.report import build_report
    from dashboard.views import performance

    store = open_store(source)
    performance(load_run(store, run_id))  # warm: imports, bundled prices
    build_report(load_run(store, run_id))  # warm: vectorbt's JIT
    t0 = time.perf_counter()
    run = load_run(store, run_id)
    perf = performance(run)
    t1 = time.perf_counter()
    build_report(run)
    t2 = time.perf_counter()
    store.close()
    a, b, c = (statistics.median(results[m]) for m in modes)
    print(f"marks in the run: {len(perf.equity)}; commits per round: {args.commits}; rounds: {args.rounds}")
    for label, m, v in (("alone", "alone", a), ("beside a dashboard reader", "reader", b),
                        ("beside the same CPU work, no reads", "cpu", c)):
        rounded = [round(x, 3) for x in results[m]]
        print(f"writer {label}: median {v:.3f} s ({args.commits / v:,.0f} commits/s)  all {rounded}")
    print(f"reader / alone {b / a:.2f}x; cpu-only / alone {c / a:.2f}x; reader / cpu-only {b / c:.2f}x; "
          f"dashboard refreshes during the writes: {reads}")
    print(f"one refresh (load_run + performance, warm): {t1 - t0:.3f} s; report build (warm, incl. vectorbt): {t2 - t1:.2f} s")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
