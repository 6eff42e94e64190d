"""A writer that may never wait: ``python strict_writer.py DB RUN_ID N GO_FILE``.

It waits for GO_FILE, then commits N transactions (one equity row each, after the run's
last mark) with ``busy_timeout = 0``: had any reader held a lock the writer needs, a
commit would fail at once with "database is locked" and the process would exit 1.
Prints the number of commits.
"""

from __future__ import annotations

import sqlite3
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path


def main(db: str, run_id: str, n: int, go: str) -> int:
    while not Path(go).exists():
        time.sleep(0.01)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("pragma busy_timeout = 0")
    (last, equity, cash), = conn.execute(
        "select ts, equity, cash from equity where run_id = ? order by ts desc limit 1", (run_id,)
    ).fetchall()
    when = datetime.fromisoformat(last)
    for k in range(n):
        when += timedelta(days=1)
        try:
            conn.execute("begin immediate")
            conn.execute("insert into equity (run_id, ts, cash, equity, gross) values (?, ?, ?, ?, ?)",
                         (run_id, when.isoformat(), cash, equity + k, equity + k - cash))
            conn.execute("update runs set heartbeat_at = ? where run_id = ?", (when.isoformat(), run_id))
            conn.execute("commit")
        except sqlite3.OperationalError as exc:
            print(f"commit {k} failed: {exc}", file=sys.stderr)
            return 1
    print(n)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]))
