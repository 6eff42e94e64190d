"""Issue 9 bench: kill -9 at random points over a year of the paced daemon, resume each time.

An uninterrupted `tradingd run --pace max` over the window is the reference. Then one run
is killed (SIGKILL to its process group) at N seeded random moments in turn, each time
resumed with `tradingd run`, until it completes; its fills, orders and equity rows must
equal the reference's. Prints one JSON line per kill and a summary.

    PYTHONPATH=. python bench/kill_resume.py --kills 20 --start 2018-01-02 --end 2018-12-31
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from killkit import books, count, finish, kill_when, start_run, write_config  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--start", default="2018-01-02")
    parser.add_argument("--end", default="2018-12-31")
    parser.add_argument("--seed", type=int, default=9)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="kill_resume_"))
    (folder / "ref").mkdir()
    (folder / "killed").mkdir()
    started = time.monotonic()
    ref_config = write_config(folder / "ref", args.start, args.end, "max")
    finish(start_run(ref_config, folder / "ref" / "t.db"))
    expected = books(folder / "ref" / "t.db")
    reference_s = time.monotonic() - started
    print(json.dumps({"reference_s": round(reference_s, 1), "fills": len(expected["fills"]), "marks": len(expected["equity"])}), flush=True)
    rng = random.Random(args.seed)
    marks = sorted(rng.sample(range(1, len(expected["equity"]) - 1), args.kills))
    config = write_config(folder / "killed", args.start, args.end, "max")
    db = folder / "killed" / "t.db"
    killed = 0
    for target in marks:
        delay = rng.uniform(0.0, 0.3)
        t0 = time.monotonic()
        done = count(db, "select count(*) from equity")
        if done >= target:
            continue
        ok = kill_when(start_run(config, db), lambda t=target: count(db, "select count(*) from equity") >= t, delay=delay)
        killed += ok
        at = count(db, "select count(*) from equity")
        print(json.dumps({"kill_at_mark": target, "delay_s": round(delay, 3), "killed": ok, "marks_on_record": at,
                          "wall_s": round(time.monotonic() - t0, 1)}), flush=True)
    finish(start_run(config, db))
    got = books(db)
    same = {name: got[name] == expected[name] for name in expected}
    print(json.dumps({"kills": killed, "identical": same, "total_s": round(time.monotonic() - started, 1)}), flush=True)
    return 0 if all(same.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
