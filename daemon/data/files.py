"""Reading OHLCV files a person brings (CSV or Parquet) into checked, normalised rows.

Shapes: one file per symbol (the symbol from ``--symbol`` or the file name), a long file
with a ``symbol`` column, and Yahoo's CSV export (``Date,Open,High,Low,Close,Adj Close,
Volume``). Column names match case-insensitively with the usual aliases; open, high, low
and volume are optional (close-only history is common). Every problem is a ``Problem``
naming the file, the line (CSV: the physical line, header = 1; Parquet: the row, first = 1)
and the symbol. Pure: files in, frames and problems out; no lake, no logging.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

__all__ = ["ALIASES", "Problem", "SymbolRows", "check_rows", "read_table", "split_by_symbol"]

# canonical column -> accepted names (compared lower-cased, spaces/underscores/dashes dropped)
ALIASES: dict[str, tuple[str, ...]] = {
    "date": ("date", "datetime", "timestamp", "time", "ts", "day", "session"),
    "symbol": ("symbol", "ticker", "sym", "code", "instrument"),
    "open": ("open", "o", "openprice"),
    "high": ("high", "h", "highprice"),
    "low": ("low", "l", "lowprice"),
    "close": ("close", "c", "closeprice", "last", "price"),
    "adj_close": ("adjclose", "adjustedclose"),
    "volume": ("volume", "vol", "v"),
}
PRICES = ("open", "high", "low", "close")


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input file. ``level``: "error" (refuses the import unless
    bad rows are skipped) or "warning" (reported, imported anyway)."""

    file: str
    line: int | None
    symbol: str | None
    message: str
    level: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        who = f" {self.symbol}:" if self.symbol else ""
        return f"{where}:{who} {self.message}" + (" (warning)" if self.level == "warning" else "")


@dataclass(frozen=True, slots=True)
class SymbolRows:
    """The good rows of one symbol from one file: ``frame`` has ``date`` (datetime64, day
    precision), ``line`` and the price columns present (``open``.. ``volume``, NaN where
    the file has no such column); ``bad_lines`` are the lines left out."""

    file: str
    symbol: str
    frame: pd.DataFrame
    bad_lines: tuple[int, ...]


def _key(name: str) -> str:
    return "".join(ch for ch in str(name).lower() if ch.isalnum())


def _columns(raw: pd.DataFrame, file: str) -> tuple[dict[str, str], list[Problem]]:
    """Canonical name -> the file's column; problems for a missing date or close."""
    by_key = {_key(c): c for c in raw.columns}
    found = {}
    for canonical, names in ALIASES.items():
        for name in names:
            if name in by_key:
                found[canonical] = by_key[name]
                break
    if "close" not in found and "adj_close" in found:
        found["close"] = found["adj_close"]  # an adjusted-only series: use it as given
    problems = []
    for needed in ("date", "close"):
        if needed not in found:
            options = ", ".join(ALIASES[needed])
            problems.append(Problem(file, 1, None, f"no {needed} column (looked for: {options}; found: {', '.join(map(str, raw.columns))})"))
    return found, problems


def read_table(path: Path, fmt: str | None = None) -> tuple[pd.DataFrame, int]:
    """The file as strings/numbers, and the line number of its first data row."""
    fmt = fmt or ("parquet" if path.suffix.lower() in (".parquet", ".pq") else "csv")
    if fmt == "parquet":
        return pd.read_parquet(path), 1
    if fmt != "csv":
        raise ValueError(f"--format: expected csv or parquet, got {fmt!r}")
    # Strings first: a bad cell must become a reported problem, not a parser exception.
    return pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=False), 2


def _numbers(values: pd.Series) -> pd.Series:
    text = values.astype(str).str.strip().str.replace(",", "", regex=False)
    text = text.mask(text.str.lower().isin(["", "nan", "null", "none", "na", "n/a", "-"]), "nan")
    return pd.to_numeric(text, errors="coerce")


def _dates(values: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        stamps = pd.to_datetime(values)
    else:
        stamps = pd.to_datetime(values.astype(str).str.strip(), errors="coerce", format="mixed")
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_localize(None)
    return stamps.dt.normalize()


def split_by_symbol(
    raw: pd.DataFrame, file: str, first_line: int, symbol: str | None
) -> tuple[list[tuple[str, pd.DataFrame]], list[Problem]]:
    """Per symbol: a frame of ``line``, ``date``, prices, ``volume`` (NaN when absent)."""
    found, problems = _columns(raw, file)
    if problems:
        return [], problems
    frame = pd.DataFrame({"line": np.arange(len(raw)) + first_line})
    blank_line = raw.astype(str).apply(lambda c: c.str.strip()).eq("").all(axis=1).to_numpy()
    raw, frame = raw[~blank_line], frame[~blank_line]  # blank lines count, but are no rows
    frame["raw_date"] = raw[found["date"]].astype(str).to_numpy()
    frame["date"] = _dates(raw[found["date"]]).to_numpy()
    for column in (*PRICES, "volume"):
        frame[column] = _numbers(raw[found[column]]).to_numpy() if column in found else np.nan
    frame.attrs["present"] = tuple(c for c in (*PRICES, "volume") if c in found)
    if symbol is None and "symbol" in found:
        names = raw[found["symbol"]].astype(str).str.strip()
        blank = names == ""
        problems += [Problem(file, int(line), None, "empty symbol") for line in frame["line"][blank.to_numpy()]]
        frame["symbol"] = names.to_numpy()
        frame = frame[~blank.to_numpy()]
    else:
        frame["symbol"] = symbol or Path(file).stem.upper()
    groups = [(str(s), rows.drop(columns="symbol")) for s, rows in frame.groupby("symbol", sort=True)]
    for _, rows in groups:
        rows.attrs["present"] = frame.attrs["present"]
    return groups, problems


def check_rows(file: str, symbol: str, rows: pd.DataFrame, *, max_gap_sessions: int) -> tuple[SymbolRows, list[Problem]]:
    """Validate one symbol's rows in file order; the good rows and every problem.

    Errors: unparseable dates, duplicate dates, dates out of order, NaN/zero/negative
    prices (in the columns the file has), high below low, close outside [low, high],
    negative volume. Warning: more than ``max_gap_sessions`` weekdays missing between
    two rows.
    """
    present = rows.attrs.get("present", (*PRICES, "volume"))
    problems: list[Problem] = []
    bad = np.zeros(len(rows), dtype=bool)

    def flag(mask: np.ndarray, message: Callable[[int], str]) -> None:
        for k in np.flatnonzero(mask & ~bad):
            problems.append(Problem(file, int(rows["line"].iat[k]), symbol, message(k)))
        bad[mask] = True

    dates = rows["date"].to_numpy()
    raw = rows["raw_date"].to_numpy()
    flag(pd.isna(dates), lambda k: f"unparseable date {raw[k]!r}")
    for column in (c for c in PRICES if c in present):
        values = rows[column].to_numpy(np.float64)
        flag(~np.isfinite(values), lambda k, c=column: f"{c} is missing or not a number")
        flag(values <= 0, lambda k, c=column, v=values: f"{c} {v[k]:g} is not positive")
    if "high" in present and "low" in present:
        high, low = rows["high"].to_numpy(np.float64), rows["low"].to_numpy(np.float64)
        flag(high < low, lambda k: f"high {high[k]:g} is below low {low[k]:g}")
        close = rows["close"].to_numpy(np.float64)
        flag((close < low) | (close > high), lambda k: f"close {close[k]:g} is outside [low {low[k]:g}, high {high[k]:g}]")
    if "volume" in present:
        volume = rows["volume"].to_numpy(np.float64)
        flag(volume < 0, lambda k: f"volume {volume[k]:g} is negative")
    # Order: each dated row against the latest good date before it.
    previous: np.datetime64 | None = None
    seen: set[np.datetime64] = set()
    for k in range(len(rows)):
        if pd.isna(dates[k]):
            continue
        day = dates[k]
        if day in seen:
            flag(_one(len(rows), k), lambda k: f"duplicate date {str(dates[k])[:10]}")
        elif previous is not None and day < previous:
            flag(_one(len(rows), k), lambda k, p=previous: f"date {str(dates[k])[:10]} is before the previous row's {str(p)[:10]} (not in order)")
        seen.add(day)
        if not bad[k]:
            previous = day
    problems.sort(key=lambda p: p.line or 0)
    good = rows[~bad]
    problems += _gaps(file, symbol, good, max_gap_sessions)
    bad_lines = tuple(int(x) for x in rows["line"][bad])
    return SymbolRows(file, symbol, good.drop(columns="raw_date").reset_index(drop=True), bad_lines), problems


def _one(n: int, k: int) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    mask[k] = True
    return mask


def _gaps(file: str, symbol: str, good: pd.DataFrame, max_gap: int) -> list[Problem]:
    if len(good) < 2:
        return []
    days = good["date"].to_numpy().astype("datetime64[D]")
    missing = np.busday_count(days[:-1] + 1, days[1:])  # weekdays strictly between
    return [
        Problem(
            file, int(good["line"].iat[k + 1]), symbol,
            f"{int(missing[k])} sessions missing between {days[k]} and {days[k + 1]} (more than {max_gap})", "warning",
        )
        for k in np.flatnonzero(missing > max_gap)
    ]
