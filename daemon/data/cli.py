"""The ``tradingd data`` verbs: their arguments and dispatch (the work is in ``commands``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from daemon.config import Config, InputError
from daemon.data import commands

__all__ = ["add_data_parser", "run_data_command"]


def _clock_time(value: str) -> time:
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a time like 16:00, got {value!r}") from None


def add_data_parser(
    sub: argparse._SubParsersAction,
    common: Callable[..., None],
    day: Callable[[str], object],
) -> None:
    """``tradingd data import|backfill|list``; ``common`` adds --config and the log flags."""
    data = sub.add_parser("data", help="bring your own data: import files, backfill from Yahoo, list the lake")
    verbs = data.add_subparsers(dest="verb", required=True, metavar="VERB")
    imp = verbs.add_parser("import", help="OHLCV files (CSV or Parquet) into the lake's bars, checked first")
    common(imp, db=False)
    imp.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    imp.add_argument("--format", choices=["csv", "parquet"], help="default: from the file extension")
    imp.add_argument("--symbol", help="the symbol of every row (default: a symbol column, else the file name)")
    imp.add_argument("--tz", help="exchange time zone of the dates (default: market.timezone)")
    imp.add_argument("--close-time", type=_clock_time, help="session close, HH:MM (default: market.close_time)")
    imp.add_argument("--actions", type=Path, help="splits and dividends: date, symbol, action (split|dividend), value")
    imp.add_argument("--max-gap", type=int, default=5, help="warn about more missing sessions in a row (default 5)")
    imp.add_argument("--dry-run", action="store_true", help="check and report, write nothing")
    imp.add_argument("--skip-bad-rows", action="store_true", help="import the good rows, report the bad ones")
    imp.add_argument("--json", action="store_true")
    imp.add_argument("--no-progress", action="store_true")
    back = verbs.add_parser("backfill", help="daily history from Yahoo into the lake")
    common(back, db=False)
    back.add_argument("--symbols", required=True, help="comma-separated tickers, e.g. AAPL,MSFT")
    back.add_argument("--start", required=True, type=day, help="first session, YYYY-MM-DD")
    listing = verbs.add_parser("list", help="per dataset and symbol: first/last ts, rows, gaps, newest available_at")
    common(listing, db=False)
    listing.add_argument("--json", action="store_true")


def run_data_command(args: argparse.Namespace, config: Config) -> int:
    """Exit code: 0 done, 1 refused or failed (the reasons printed), InputError for bad flags."""
    if args.verb == "list":
        entries = commands.lake_inventory(commands.lake_of(config), now=datetime.now(UTC))
        print(commands.render_inventory(entries, as_json=args.json))
        return 0
    if args.verb == "backfill":
        return _backfill(args, config)
    if args.tz is not None:
        try:
            ZoneInfo(args.tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise InputError(f"--tz: unknown time zone {args.tz!r}") from None
    if args.max_gap < 0:
        raise InputError("--max-gap: must be >= 0")
    if missing := [str(p) for p in [*args.paths, *([args.actions] if args.actions else [])] if not p.is_file()]:
        raise InputError(f"no such file: {', '.join(missing)}")
    options = commands.import_options(
        config, zone=args.tz, close_time=args.close_time, fmt=args.format, symbol=args.symbol,
        skip_bad_rows=args.skip_bad_rows, dry_run=args.dry_run, max_gap_sessions=args.max_gap,
    )
    progress = sys.stderr.isatty() and not args.no_progress
    report = commands.run_import(config, args.paths, options, actions=args.actions, progress=progress)
    print(commands.render_import(report, options, as_json=args.json))
    return 1 if report.errors and not args.skip_bad_rows else 0


def _backfill(args: argparse.Namespace, config: Config) -> int:
    symbols = [s.strip() for s in args.symbols.split(",") if s.strip()]
    if not symbols:
        raise InputError("--symbols: give at least one ticker")
    report = commands.run_backfill(config, symbols, args.start)
    for symbol, reason in report.failures.items():
        print(f"tradingd: {symbol}: {reason}", file=sys.stderr)
    if report.error is not None:
        print(f"tradingd: backfill failed: {report.error}", file=sys.stderr)
        return 1
    added = ", ".join(f"{n} {dataset}" for dataset, n in report.rows_added.items()) or "nothing new"
    print(f"{len(symbols)} symbol(s) from {args.start}: {report.rows_fetched} rows fetched, added {added}")
    return 0 if report.ok else 1
