"""The ``tradingd`` command line.

Exit codes: 0 success; 1 the work failed (one-line reason on stderr); 2 bad input
(config file, arguments, dates), with a message naming what is wrong.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC
from pathlib import Path

from core.settings import ConfigError
from daemon.cli_parser import DEFAULT_CONFIG, build_parser
from daemon.config import JOB_NAMES, Config, InputError, load_config

__all__ = ["main"]


class UsageError(InputError):
    """Bad command-line input: exit 2."""


def _load(args: argparse.Namespace) -> Config:
    """The config named by --config, or ./config.toml, or the built-in defaults."""
    path = args.config
    if path is None and Path(DEFAULT_CONFIG).exists():
        path = DEFAULT_CONFIG
    overrides: dict[str, dict[str, object]] = {}
    if getattr(args, "pace", None) is not None:
        overrides.setdefault("market", {})["pace"] = args.pace
    if getattr(args, "http_listen", None) is not None:
        overrides.setdefault("service", {})["http_listen"] = args.http_listen
    return load_config(path, overrides=overrides)


def _setup_logging(args: argparse.Namespace, config: Config | None, *, daemon: bool = False) -> None:
    """The daemon logs to stdout (journald, docker logs); commands that print a result
    log to stderr so their stdout stays parseable (``backtest --json | jq``)."""
    from daemon import logs

    level = args.log_level or (config.logging.level if config else "info")
    fmt = args.log_format or (config.logging.format if config else "auto")
    logs.configure(level, fmt, sys.stdout if daemon else sys.stderr)


# -- commands ----------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    from daemon.app import build_app
    from daemon.service import serve

    config = _load(args)
    _setup_logging(args, config, daemon=True)
    app = build_app(
        config, mode="live", db_path=args.db, resume=config.run.resume and not args.new_run, live=True
    )
    status = asyncio.run(serve(app, exit_when_done=args.exit_when_done))
    return 0 if status in ("stopped", "completed") else 1


def cmd_backtest(args: argparse.Namespace) -> int:
    from daemon.app import build_app
    from daemon.backtest import run_backtest
    from daemon.data.commands import lake_of
    from daemon.report import format_summary, summarize, with_benchmark

    config = _load(args)
    _setup_logging(args, config)
    if args.start and args.end and args.end < args.start:
        raise UsageError("--end is before --start")
    app = build_app(config, mode="backtest", db_path=args.db, start=args.start, end=args.end)
    try:
        asyncio.run(run_backtest(app, progress=None if not args.no_progress else False))
    except BaseException:
        app.close("failed")
        raise
    summary = summarize(app.store, app.run_id)
    if config.market.benchmark:  # a lake symbol to compare with
        summary = with_benchmark(summary, lake_of(config), config.market.benchmark)
    db = str(app.store.path)
    app.close("completed")
    if args.json:
        print(json.dumps(summary.as_dict(), indent=2))
    else:
        print(format_summary(summary))
    if args.report:
        return _dashboard_report(db, app.run_id, args.report)
    return 0


# The dashboard layer sits above the daemon: the daemon starts it as a process and never
# imports it (docs/architecture.md, "Dashboard and report").


def _dashboard_report(db: str, run_id: str | None, out: str) -> int:
    command = [sys.executable, "-m", "dashboard", "report", "--db", db, "--out", out]
    return subprocess.run(command + (["--run", run_id] if run_id else []), check=False).returncode


def cmd_report(args: argparse.Namespace) -> int:
    config = _load(args)
    return _dashboard_report(str(args.db or config.run.db_path), args.run, args.out)


def cmd_dashboard(args: argparse.Namespace) -> int:
    config = _load(args)
    settings = config.dashboard
    command = [
        sys.executable, "-m", "dashboard", "serve", "--db", str(args.db or config.run.db_path),
        "--host", args.host or settings.host, "--port", str(args.port or settings.port),
        "--refresh", str(settings.refresh_s),
    ]
    if args.run:
        command += ["--run", args.run]
    sys.stdout.flush()
    os.execv(command[0], command)  # this process becomes the dashboard (Ctrl-C and SIGTERM reach it)
    return 0  # not reached


def cmd_job(args: argparse.Namespace) -> int:
    from daemon.app import build_app, next_session_start
    from daemon.status import pid_alive
    from state.store import Store

    if args.name not in JOB_NAMES:
        raise UsageError(f"unknown job {args.name!r} (known: {', '.join(JOB_NAMES)})")
    config = _load(args)
    _setup_logging(args, config)
    db = args.db or config.run.db_path
    if Path(db).exists():
        store = Store.open(db)
        active = store.resumable_run("live", config.config_hash())
        store.close()
        if active and active.status == "running" and active.pid != os.getpid() and pid_alive(active.pid):
            print(f"tradingd: run {active.run_id} is active in pid {active.pid}; stop it first", file=sys.stderr)
            return 1
    app = build_app(config, mode="live", db_path=args.db, resume=config.run.resume)
    # The bundled source lives in replayed time: "now" is when the job would fire next.
    from core.clock import ReplayClock
    from daemon.cron import parse_cron

    if isinstance(app.clock, ReplayClock):
        trigger = parse_cron(config.jobs[args.name].cron, config.market.timezone)
        when = trigger.get_next_fire_time(None, next_session_start(app))
        if when is not None:
            app.clock.advance_to(when.astimezone(UTC))

    async def once() -> bool:
        await app.data.open({args.name})
        try:
            return await app.jobs.fire(args.name)
        finally:
            await app.data.close()

    ok = asyncio.run(once())
    app.bus.drain()
    app.close("stopped")  # a later `tradingd run` resumes this run
    if not ok:  # a pull whose every key failed is a failure; some keys failing is in the detail
        print(f"tradingd: job {args.name} failed: {app.jobs.last_error}", file=sys.stderr)
    else:
        print(f"{args.name}: {app.jobs.last_detail}")
    return 0 if ok else 1


def _report(args: argparse.Namespace, collect, render) -> int:  # noqa: ANN001
    """Open the database read-only (safe beside a running daemon), collect, print."""
    from state.store import Store

    db = args.db or str(_load(args).run.db_path)
    try:
        store = Store.open(db, readonly=True)
    except FileNotFoundError:
        print(f"tradingd: no database at {db} (has the daemon run yet?)", file=sys.stderr)
        return 1
    try:
        report = collect(store, args.run)
    except LookupError as exc:
        print(f"tradingd: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    print(render(report, as_json=args.json))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from daemon.status import collect_status, render_status

    return _report(args, collect_status, render_status)


def cmd_risk(args: argparse.Namespace) -> int:
    from daemon.status import collect_risk, render_risk

    return _report(args, collect_risk, render_risk)


def cmd_doctor(args: argparse.Namespace) -> int:
    from daemon.doctor import render_checks, run_checks

    config = _load(args)
    _setup_logging(args, config)
    path = args.config or (DEFAULT_CONFIG if Path(DEFAULT_CONFIG).exists() else None)
    checks = run_checks(config, path, Path(args.db) if args.db else config.run.db_path)
    print(render_checks(checks, as_json=args.json))
    return 1 if any(c.level == "error" for c in checks) else 0


def cmd_data(args: argparse.Namespace) -> int:
    from daemon.data.cli import run_data_command
    config = _load(args)
    _setup_logging(args, config)
    return run_data_command(args, config)

def cmd_models_admin(args: argparse.Namespace) -> int:
    from daemon.modelctl import run_models_command

    config = _load(args)
    _setup_logging(args, config)
    return run_models_command(config, Path(args.db or config.run.db_path), args)


def cmd_models(command: str, rest: list[str]) -> int:
    try:
        from models import cli as models_cli
    except ImportError as exc:
        print(f"tradingd: {command} is unavailable: {exc}", file=sys.stderr)
        return 1
    if command == "train":
        from daemon.sentiment_training import train_sentiment_rows

        return int(models_cli.train_main(rest, sentiment_rows=train_sentiment_rows))
    return int(models_cli.tune_main(rest))


def cmd_sentiment(args: argparse.Namespace) -> int:
    from daemon.sentiment_cli import cmd_sentiment as run

    config = _load(args)
    _setup_logging(args, config)
    return run(args, config)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("train", "tune"):
        return cmd_models(argv[0], argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    commands = {"run": cmd_run, "backtest": cmd_backtest, "job": cmd_job, "status": cmd_status, "risk": cmd_risk,
                "doctor": cmd_doctor, "dashboard": cmd_dashboard, "report": cmd_report, "data": cmd_data,
                "models": cmd_models_admin, "sentiment": cmd_sentiment}
    try:
        return commands[args.command](args)
    except ConfigError as exc:  # every bad key, each line naming the file and the key
        for line in exc.located():
            print(f"tradingd: {line}", file=sys.stderr)
        return 2
    except InputError as exc:  # config, arguments, or values that only show once data loads
        print(f"tradingd: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        print(f"tradingd: {args.command} failed: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
