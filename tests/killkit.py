"""Kill -9 and resume harness: real ``tradingd run`` processes, SIGKILL to the process group.

Shared by ``tests/daemon/test_resume.py`` and ``bench/kill_resume.py``.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from testkit import TRADINGD, cli_env

# What a book is compared on (decision timestamps may differ by pacing jitter; bar dates not).
BOOK_QUERIES = {
    "fills": "select substr(ts, 1, 10), symbol, qty, price, fee from fills where run_id = ? order by ts, symbol",
    "orders": "select substr(ts, 1, 10), symbol, side, qty, status, filled_qty from orders where run_id = ? order by ts, symbol",
    "equity": "select ts, cash, equity, gross from equity where run_id = ? order by ts",
}


def write_config(folder: Path, start: str, end: str, pace: str | float, extra: str = "") -> Path:
    """config.toml for a paced replay of [start, end]; ``extra``: more TOML after [market]."""
    path = folder / "config.toml"
    pace_value = f'"{pace}"' if pace == "max" else str(pace)
    path.write_text(f"[market]\nreplay_start = {start}\nreplay_end = {end}\npace = {pace_value}\n{extra}")
    return path


def start_run(config: Path, db: Path, *extra: str) -> subprocess.Popen[bytes]:
    """``tradingd run --exit-when-done`` in its own process group (GARCH workers included)."""
    return subprocess.Popen(
        [*TRADINGD, "run", "--config", str(config), "--db", str(db), "--exit-when-done", "--log-format", "json",
         "--http-listen", "127.0.0.1:0", *extra],
        cwd=config.parent, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )


def finish(proc: subprocess.Popen[bytes], timeout: float = 600) -> None:
    """Wait for a run to complete; raise with its stderr when it failed."""
    try:
        _, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    if proc.returncode != 0:
        raise AssertionError(f"tradingd run exited {proc.returncode}: {err.decode()[-2000:]}")


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def kill_when(
    proc: subprocess.Popen[bytes], ready: Callable[[], bool], *, delay: float = 0.0, timeout: float = 300
) -> bool:
    """SIGKILL the group ``delay`` seconds after ``ready()``; False when the run ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if ready():
                time.sleep(delay)
                if proc.poll() is not None:
                    return False
                kill_group(proc)
                return True
        except sqlite3.Error:
            pass
        time.sleep(0.01)
    if proc.poll() is None:
        kill_group(proc)
        raise AssertionError("kill point never came")
    return False


def books(db: Path) -> dict[str, list[tuple]]:
    """The one run in ``db``: its fills, orders and equity rows."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        (run_id,) = [r[0] for r in conn.execute("select run_id from runs")]
        return {name: conn.execute(sql, (run_id,)).fetchall() for name, sql in BOOK_QUERIES.items()}
    finally:
        conn.close()


def count(db: Path, sql: str) -> int:
    if not db.exists():
        return 0
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.05)
    try:
        return int(conn.execute(sql).fetchone()[0] or 0)
    finally:
        conn.close()
