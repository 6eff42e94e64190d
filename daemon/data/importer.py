"""``tradingd data import``: OHLCV files (and optionally splits and dividends) into the lake.

Everything is read and checked before anything is written: any error refuses the whole
import (the lake is not touched) unless ``skip_bad_rows``, which leaves the bad rows out
and reports them. Bars get ``ts`` at the session close (``close_time`` in ``zone``) and
``available_at`` at the close plus the publication delay. Importing the same file twice
adds nothing; a row that differs from what the lake holds for the same symbol and session
is a revision, stored as a new vintage known from the import time (``known_at``), so
a backtest of the past still sees what was known then.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from daemon.data.files import Problem, SymbolRows, check_rows, read_table, split_by_symbol
from state.lake import Lake

__all__ = ["ImportOptions", "ImportReport", "import_files", "read_actions"]

_BAR_VALUES = ["open", "high", "low", "close", "volume"]
_ACTION_ALIASES = {
    "date": ("date", "exdate", "ts", "day"),
    "symbol": ("symbol", "ticker", "sym"),
    "action": ("action", "type", "event", "kind"),
    "value": ("value", "ratio", "amount", "factor"),
}


@dataclass(frozen=True, slots=True)
class ImportOptions:
    """How to read the files (the CLI's flags; defaults from ``[market]`` and ``[feeds.yahoo]``)."""

    zone: str = "America/New_York"
    close_time: time = time(16, 0)
    publication_delay: timedelta = timedelta(minutes=15)
    fmt: str | None = None
    symbol: str | None = None
    skip_bad_rows: bool = False
    dry_run: bool = False
    max_gap_sessions: int = 5
    source: str = "import"


@dataclass
class ImportReport:
    """What an import found and did. ``written`` is False when it refused or was a dry run."""

    files: list[str] = field(default_factory=list)
    rows_read: dict[str, int] = field(default_factory=dict)  # symbol -> good rows in the files
    problems: list[Problem] = field(default_factory=list)
    skipped: int = 0
    bars_new: int = 0
    bars_revised: int = 0
    bars_unchanged: int = 0
    actions_new: int = 0
    written: bool = False

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "error"]

    def as_dict(self) -> dict[str, object]:
        return {
            "files": self.files, "rows_read": self.rows_read, "skipped_rows": self.skipped,
            "bars_new": self.bars_new, "bars_revised": self.bars_revised, "bars_unchanged": self.bars_unchanged,
            "actions_new": self.actions_new, "written": self.written,
            "problems": [{"file": p.file, "line": p.line, "symbol": p.symbol, "message": p.message, "level": p.level}
                         for p in self.problems],
        }


def session_close(dates: pd.Series | np.ndarray, zone: str, at: time) -> pd.DatetimeIndex:
    """``at`` in ``zone`` on each date, as UTC (as the bundled source stamps its bars)."""
    days = pd.DatetimeIndex(dates)
    local = (days + pd.Timedelta(hours=at.hour, minutes=at.minute)).tz_localize(
        zone, ambiguous=True, nonexistent="shift_forward"
    )
    return local.tz_convert("UTC")


def _read_bars(paths: Sequence[Path], options: ImportOptions, report: ImportReport, progress: bool) -> list[SymbolRows]:
    out: list[SymbolRows] = []
    for path in tqdm(paths, unit="file", disable=not progress, desc="reading"):
        name = str(path)
        report.files.append(name)
        try:
            raw, first_line = read_table(path, options.fmt)
        except (OSError, ValueError, ImportError) as exc:  # unreadable, not CSV/Parquet
            report.problems.append(Problem(name, None, None, f"cannot read: {exc}".splitlines()[0]))
            continue
        groups, problems = split_by_symbol(raw, name, first_line, options.symbol)
        report.problems += problems
        for symbol, rows in groups:
            checked, found = check_rows(name, symbol, rows, max_gap_sessions=options.max_gap_sessions)
            report.problems += found
            report.skipped += len(checked.bad_lines)
            out.append(checked)
    return out


def _cross_file_duplicates(parts: list[SymbolRows], report: ImportReport) -> list[SymbolRows]:
    """The same symbol and date from two files: an error on the later file's row."""
    seen: dict[str, set] = {}
    kept = []
    for part in parts:
        dates = seen.setdefault(part.symbol, set())
        clash = part.frame["date"].isin(dates).to_numpy()
        for k in np.flatnonzero(clash):
            report.problems.append(Problem(
                part.file, int(part.frame["line"].iat[k]), part.symbol,
                f"duplicate date {str(part.frame['date'].iat[k])[:10]} (also in an earlier file)",
            ))
        report.skipped += int(clash.sum())
        dates.update(part.frame["date"])
        kept.append(SymbolRows(part.file, part.symbol, part.frame[~clash], part.bad_lines))
    return kept


def _bars_frame(parts: list[SymbolRows], options: ImportOptions) -> pd.DataFrame:
    frames = []
    for part in parts:
        ts = session_close(part.frame["date"], options.zone, options.close_time)
        frame = pd.DataFrame({"symbol": part.symbol, "ts": ts})
        for column in _BAR_VALUES:
            frame[column] = part.frame[column].to_numpy(np.float64)
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["symbol", "ts", *_BAR_VALUES])
    return pd.concat(frames, ignore_index=True)


def _vintages(
    new: pd.DataFrame, old: pd.DataFrame, key: list[str], values: list[str], first_known: pd.Series, known_at: pd.Timestamp
) -> tuple[pd.DataFrame, int, int]:
    """Rows of ``new`` to write with their ``available_at``: unseen keys become known at
    ``first_known``; keys the lake holds with other values are revisions known at
    ``known_at`` (never earlier than ``first_known``); equal rows are dropped.
    Returns (rows, revised, unchanged)."""
    new = new.assign(available_at=first_known.to_numpy())
    if old.empty:
        return new, 0, 0
    merged = new.merge(old[[*key, *values]], on=key, how="left", suffixes=("", "_old"), indicator=True)
    stored = (merged["_merge"] == "both").to_numpy()
    same = stored.copy()
    for column in values:
        a, b = merged[column], merged[f"{column}_old"]
        same &= ((a == b) | (a.isna() & b.isna())).to_numpy()
    revised = stored & ~same
    merged.loc[revised, "available_at"] = merged.loc[revised, "available_at"].clip(lower=known_at)
    out = merged.loc[~same, list(new.columns)].reset_index(drop=True)
    return out, int(revised.sum()), int(same.sum())


def read_actions(path: Path, options: ImportOptions) -> tuple[pd.DataFrame, list[Problem]]:
    """A splits/dividends file (date, symbol, action = split|dividend, value; a split's value
    may be written ``4:1``) -> ``corporate_actions`` rows at the start of each ex-date."""
    name = str(path)
    try:
        raw, first_line = read_table(path, options.fmt)
    except (OSError, ValueError, ImportError) as exc:
        return pd.DataFrame(), [Problem(name, None, None, f"cannot read: {exc}".splitlines()[0])]
    by_key = {"".join(ch for ch in str(c).lower() if ch.isalnum()): c for c in raw.columns}
    found = {k: next((by_key[a] for a in names if a in by_key), None) for k, names in _ACTION_ALIASES.items()}
    need = [k for k in ("date", "action", "value") if found[k] is None]
    if found["symbol"] is None and options.symbol is None:
        need.append("symbol")
    if need:
        return pd.DataFrame(), [Problem(name, 1, None, f"no {', '.join(need)} column(s) in a corporate actions file")]
    problems, rows = [], []
    for k in range(len(raw)):
        line = k + first_line
        symbol = options.symbol or str(raw[found["symbol"]].iat[k]).strip()
        day = pd.to_datetime(str(raw[found["date"]].iat[k]).strip(), errors="coerce")
        action = str(raw[found["action"]].iat[k]).strip().lower()
        text = str(raw[found["value"]].iat[k]).strip()
        new, _, old = text.partition(":")
        value = pd.to_numeric(new, errors="coerce") / (pd.to_numeric(old, errors="coerce") if old else 1.0)
        if pd.isna(day):
            problems.append(Problem(name, line, symbol, f"unparseable date {str(raw[found['date']].iat[k])!r}"))
        elif action not in ("split", "dividend"):
            problems.append(Problem(name, line, symbol, f"unknown action {action!r} (split or dividend)"))
        elif not (np.isfinite(value) and value > 0):
            problems.append(Problem(name, line, symbol, f"{action} value {text!r} is not a positive number"))
        else:
            rows.append((symbol, day.normalize(), action, float(value)))
    frame = pd.DataFrame(rows, columns=["symbol", "date", "action", "value"])
    frame["ts"] = session_close(frame["date"], options.zone, time(0)) if rows else pd.Series(dtype="datetime64[us, UTC]")
    return frame.drop(columns="date"), problems


def import_files(
    lake: Lake,
    paths: Sequence[Path],
    options: ImportOptions,
    *,
    actions: Path | None = None,
    known_at: datetime,
    progress: bool = False,
) -> ImportReport:
    """Read and check ``paths`` (and ``actions``), then write them unless refused or dry."""
    report = ImportReport()
    parts = _cross_file_duplicates(_read_bars(paths, options, report, progress), report)
    action_rows, action_problems = read_actions(actions, options) if actions else (pd.DataFrame(), [])
    report.problems += action_problems
    report.skipped += len(action_problems) if actions else 0
    for part in parts:
        report.rows_read[part.symbol] = report.rows_read.get(part.symbol, 0) + len(part.frame)
    if report.errors and not options.skip_bad_rows:
        return report
    known = pd.Timestamp(known_at).tz_convert("UTC")
    bars = _bars_frame(parts, options)
    symbols = sorted(set(bars["symbol"]))
    old = lake.read("bars", symbols, as_of=known) if symbols else pd.DataFrame()
    bars, report.bars_revised, report.bars_unchanged = _vintages(
        bars, old, ["symbol", "ts"], _BAR_VALUES, bars["ts"] + options.publication_delay, known
    )
    report.bars_new = len(bars) - report.bars_revised
    bars["source"] = options.source
    if not action_rows.empty:
        action_symbols = sorted(set(action_rows["symbol"]))
        old_actions = lake.read("corporate_actions", action_symbols, as_of=known)
        action_rows, _, _ = _vintages(action_rows, old_actions, ["symbol", "ts", "action"], ["value"], action_rows["ts"], known)
        action_rows["source"] = options.source
        report.actions_new = len(action_rows)
    if options.dry_run:
        return report
    columns = ["symbol", "ts", "available_at", *_BAR_VALUES, "source"]
    for _, rows in tqdm(bars.groupby("symbol", sort=True), unit="symbol", disable=not progress, desc="writing"):
        lake.write("bars", rows[columns])  # per symbol: the progress bar moves on large imports
    if len(action_rows):
        lake.write("corporate_actions", action_rows[["symbol", "ts", "available_at", "action", "value", "source"]])
    report.written = bool(len(bars) or len(action_rows))
    return report
