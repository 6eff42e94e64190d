"""The ``tradingd`` argument parser: its commands, their options and value checks.

``daemon.cli`` parses with it and runs the commands.
"""

from __future__ import annotations

import argparse
from datetime import date
from typing import Any

from daemon.config import JOB_NAMES

__all__ = ["DEFAULT_CONFIG", "build_parser"]

DEFAULT_CONFIG = "config.toml"


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date like 2015-01-02, got {value!r}") from None


def _pace(value: str) -> float | str:
    if value == "max":
        return value
    return _positive(value)


def _positive(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
    if number <= 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return number


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {value!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError("must be between 1 and 65535")
    return port


def _common(parser: argparse.ArgumentParser, *, db: bool = True) -> None:
    parser.add_argument("--config", help=f"config file (default: ./{DEFAULT_CONFIG} if present, else built-in defaults)")
    if db:
        parser.add_argument("--db", help="SQLite database (default: run.db from the config, data/tradingd.db)")
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--log-format", choices=["auto", "json", "console"])


def build_parser() -> argparse.ArgumentParser:
    """The parser of every ``tradingd`` command (``train``/``tune`` pass their arguments on)."""
    parser = argparse.ArgumentParser(prog="tradingd", description="The ``tradingd`` command line.")
    from daemon.version import tradingd_version

    parser.add_argument("--version", action="version", version=f"tradingd {tradingd_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_run(sub)
    _add_backtest(sub)
    _add_inspection(sub)

    from daemon.data.cli import add_data_parser
    add_data_parser(sub, _common, _date)

    from daemon.modelctl import add_parser as add_models_parser

    add_models_parser(sub, _common)

    from daemon.sentiment_cli import add_sentiment_parser

    add_sentiment_parser(sub, _common, _date)

    for name, helptext in (("train", "train a forecaster (see docs/models.md)"), ("tune", "hyperparameter search")):
        extra = sub.add_parser(name, help=helptext, add_help=False)
        extra.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


def _add_run(sub: Any) -> None:  # noqa: ANN401 -- argparse's private subparser type
    """``tradingd run``: the daemon."""
    run = sub.add_parser("run", help="run the daemon (offline: replays bundled history as if live)")
    _common(run)
    run.add_argument("--exit-when-done", action="store_true", help="exit 0 when the replayed data runs out")
    run.add_argument("--new-run", action="store_true", help="start a new run instead of resuming the last one")
    run.add_argument(
        "--pace", type=_pace, help='override market.pace (trading days per second, a ceiling; "max": as fast as possible)'
    )
    run.add_argument(
        "--http-listen", metavar="HOST:PORT", help='override service.http_listen (/healthz, /metrics; "" turns it off)'
    )


def _add_backtest(sub: Any) -> None:  # noqa: ANN401 -- argparse's private subparser type
    """``tradingd backtest`` and ``tradingd job``: a replayed window, one job now."""
    bt = sub.add_parser("backtest", help="replay a window through the same components, no sleeping")
    _common(bt)
    bt.add_argument("--start", type=_date, help="first session (default: market.replay_start or first tradable day)")
    bt.add_argument("--end", type=_date, help="last session (default: market.replay_end or the last one)")
    bt.add_argument("--json", action="store_true", help="print the summary as JSON")
    bt.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
    bt.add_argument("--report", metavar="HTML", help="also write the run's offline HTML report to this file")

    job = sub.add_parser("job", help="run one scheduled job once, now, and exit")
    job.add_argument("name", help=f"one of: {', '.join(JOB_NAMES)}")
    _common(job)


def _add_inspection(sub: Any) -> None:  # noqa: ANN401 -- argparse's private subparser type
    """Commands that read a run or check the setup: status, risk, dashboard, report, doctor."""
    status = sub.add_parser("status", help="show a run's state from the database")
    _common(status)
    status.add_argument("--run", help="run id (default: the most recent)")
    status.add_argument("--json", action="store_true")

    risk = sub.add_parser("risk", help="the latest risk decision (vol, VaR, CVaR, binding limit) and the limits")
    _common(risk)
    risk.add_argument("--run", help="run id (default: the most recent with risk rows)")
    risk.add_argument("--json", action="store_true")

    dash = sub.add_parser("dashboard", help="a Streamlit dashboard over the database (read-only)")
    _common(dash)
    dash.add_argument("--run", help="run shown first (default: the most recent)")
    dash.add_argument("--host", help="listen address (default: dashboard.host, 127.0.0.1)")
    dash.add_argument("--port", type=_port, help="port (default: dashboard.port, 8501)")

    report = sub.add_parser("report", help="write a run's self-contained HTML report (plotly.js inlined)")
    _common(report)
    report.add_argument("--run", help="run id (default: the most recent)")
    report.add_argument("--out", required=True, metavar="HTML", help="the file to write")

    doctor = sub.add_parser("doctor", help="check config, credentials, sources, lake and database; exit 1 on problems")
    _common(doctor)
    doctor.add_argument("--json", action="store_true")

