"""``python -m dashboard serve|report``: what ``tradingd dashboard`` and ``tradingd report`` run.

Exit codes as ``tradingd``'s: 0 ok; 1 the work failed (no database, no such run), with a
one-line reason on stderr; 2 bad arguments.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]

APP = Path(__file__).resolve().parent / "ui" / "app.py"
ROOT = APP.parents[2]  # the folder that holds the ``dashboard`` package


def _positive(value: str) -> float:
    number = float(value)
    if number <= 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dashboard", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="start the Streamlit dashboard")
    serve.add_argument("--db", required=True)
    serve.add_argument("--run", help="run shown first (default: the most recent)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8501)
    serve.add_argument("--refresh", type=_positive, default=10.0, help="seconds between refreshes")
    report = sub.add_parser("report", help="write the offline HTML report of a run")
    report.add_argument("--db", required=True)
    report.add_argument("--run", help="run id (default: the most recent)")
    report.add_argument("--out", required=True, help="the HTML file to write")
    return parser


def serve_command(args: argparse.Namespace) -> list[str]:
    """The ``streamlit run`` command line: headless, no usage statistics, no file watcher."""
    command = [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.address", args.host,
        "--server.port", str(args.port),
        "--server.headless", "true",
        "--server.fileWatcherType", "none",
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "viewer",
        "--", "--db", str(Path(args.db).resolve()), "--refresh", str(args.refresh),
    ]
    return command + (["--run", args.run] if args.run else [])


def _serve(args: argparse.Namespace) -> int:
    if not Path(args.db).exists():
        print(f"tradingd: no database at {args.db} (has the daemon run yet?)", file=sys.stderr)
        return 1
    # Streamlit puts the script's folder on sys.path, not the project: name the project.
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    print(f"tradingd: dashboard on http://{args.host}:{args.port} over {args.db}", file=sys.stderr, flush=True)
    command = serve_command(args)
    os.execve(command[0], command, env)  # the dashboard process becomes Streamlit's (signals reach it)
    return 0  # not reached


def _report(args: argparse.Namespace) -> int:
    from dashboard.data import list_runs, load_run, open_store
    from dashboard.report import write_report

    try:
        store = open_store(args.db)
    except FileNotFoundError:
        print(f"tradingd: no database at {args.db} (has the daemon run yet?)", file=sys.stderr)
        return 1
    try:
        run_id = args.run
        if run_id is None:
            runs = list_runs(store)
            if not runs:
                print("tradingd: the database has no runs yet", file=sys.stderr)
                return 1
            run_id = str(runs[0]["run_id"])
        run = load_run(store, run_id)
    except LookupError as exc:
        print(f"tradingd: {exc.args[0]}", file=sys.stderr)
        return 1
    finally:
        store.close()
    out = write_report(run, args.out)
    print(f"tradingd: report of {run_id} written to {out}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return _serve(args) if args.command == "serve" else _report(args)


if __name__ == "__main__":
    raise SystemExit(main())
