"""Fundamentals from Financial Modeling Prep: income, balance sheet, cash flow, ratios.

``available_at`` is the SEC acceptance time (``acceptedDate``, New York time), else the
start of the day after ``filingDate``; never the period end. A record with neither is
skipped. Ratios carry no filing date: they become known with the statement of the same
period (matched on date and period), and are skipped without one.

Frame ``fundamentals`` (long): ``symbol``, ``ts`` (fiscal period end, 00:00 UTC),
``available_at``, ``statement`` (income | balance | cashflow | ratios), ``period`` (Q1..Q4,
FY), ``fiscal_year``, ``field`` (FMP's name, e.g. ``revenue``), ``value``, ``currency``,
``source``. ``since`` bounds ``ts`` (the newest period stored): paging stops once a page
reaches it. Pages use FMP's ``page`` parameter; a server that ignores it is detected (a
repeated page) and paging stops.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from daemon.feeds.base import FetchResult, Since, as_utc, concat, empty_frame, known_by, next_day_start, since_for
from daemon.feeds.config import FmpConfig
from daemon.feeds.errors import BadResponse, FeedError
from daemon.feeds.http import HttpClient

__all__ = ["FmpSource", "parse_statements"]

_PATHS = {
    "income": "income-statement",
    "balance": "balance-sheet-statement",
    "cashflow": "cash-flow-statement",
    "ratios": "ratios",
}
# Identity and filing metadata, not values (both spellings FMP has used are listed).
_META = {
    "date",
    "symbol",
    "reportedCurrency",
    "cik",
    "filingDate",
    "fillingDate",
    "acceptedDate",
    "fiscalYear",
    "calendarYear",
    "period",
    "link",
    "finalLink",
}
_PERIODS = {"Q1", "Q2", "Q3", "Q4", "FY"}
_NEW_YORK = ZoneInfo("America/New_York")


def _when_known(record: dict[str, Any]) -> pd.Timestamp | None:
    accepted = record.get("acceptedDate")
    if isinstance(accepted, str):
        try:
            return pd.Timestamp(accepted).tz_localize(_NEW_YORK).tz_convert("UTC")
        except ValueError:
            pass
    filed = record.get("filingDate", record.get("fillingDate"))
    if isinstance(filed, str):
        try:
            return next_day_start(pd.Timestamp(filed).date())
        except ValueError:
            pass
    return None


def _period_end(value: Any) -> pd.Timestamp | None:
    try:
        return pd.Timestamp(date.fromisoformat(value), tz="UTC") if isinstance(value, str) else None
    except ValueError:
        return None


def _fiscal_year(record: dict[str, Any]) -> int | None:
    year = record.get("fiscalYear", record.get("calendarYear"))
    try:
        return int(year) if year is not None and not isinstance(year, bool) else None
    except (TypeError, ValueError):
        return None


def parse_statements(
    symbol: str,
    statement: str,
    records: Any,
    problems: list[str],
    known: dict[tuple[pd.Timestamp, str], pd.Timestamp] | None = None,
) -> pd.DataFrame:
    """FMP statement records (a JSON list of objects) -> long ``fundamentals`` rows.

    ``known`` maps (period end, period) to ``available_at``: filled from statements, read
    for ratios. Unusable records and values are skipped and described in ``problems``.
    Raises BadResponse when ``records`` is not a list (FMP's error object, say).
    """
    if isinstance(records, dict) and records:
        detail = next((v for v in records.values() if isinstance(v, str)), "")
        raise BadResponse(f"{symbol} {statement}: expected a list of records, got an object: {detail[:200]}")
    if not isinstance(records, list):
        raise BadResponse(f"{symbol} {statement}: expected a list of records, got {type(records).__name__}")
    known = {} if known is None else known
    rows: list[dict[str, Any]] = []
    for number, record in enumerate(records):
        where = f"{symbol} {statement} record {number}"
        if not isinstance(record, dict):
            problems.append(f"{where}: not an object")
            continue
        ts, period = _period_end(record.get("date")), record.get("period")
        if ts is None or period not in _PERIODS:
            problems.append(f"{where}: bad date {record.get('date')!r} or period {period!r}")
            continue
        available_at = known.get((ts, period)) if statement == "ratios" else _when_known(record)
        if available_at is None:
            problems.append(f"{where} ({ts.date()} {period}): no filing or acceptance date")
            continue
        if statement != "ratios":
            known.setdefault((ts, period), available_at)
        base = {
            "symbol": symbol,
            "ts": ts,
            "available_at": available_at,
            "statement": statement,
            "period": period,
            "fiscal_year": _fiscal_year(record),
            "currency": record.get("reportedCurrency") if isinstance(record.get("reportedCurrency"), str) else None,
            "source": "fmp",
        }
        for field, value in record.items():
            if field in _META or value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                problems.append(f"{where}: {field} is {type(value).__name__}, not a number")
                continue
            rows.append({**base, "field": field, "value": float(value)})
    if not rows:
        return empty_frame("fundamentals")
    frame = pd.DataFrame(rows)
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    frame["available_at"] = pd.to_datetime(frame["available_at"], utc=True)
    frame["fiscal_year"] = frame["fiscal_year"].astype("Int32")
    return frame[list(empty_frame("fundamentals").columns)]


class FmpSource:
    """``fetch(symbols, since, until)`` over the configured statements and periods."""

    name = "fmp"
    datasets = ("fundamentals",)
    since_column = "ts"

    def __init__(self, config: FmpConfig, http: HttpClient) -> None:
        self.config = config
        self.http = http

    async def fetch(self, symbols: Sequence[str], since: Since, until: datetime) -> FetchResult:
        until = as_utc(until, "until")
        frames, failures, problems = [], {}, []
        # ratios need the statements' filing dates, so they come last
        statements = sorted(self.config.statements, key=lambda s: s == "ratios")
        for symbol in symbols:
            start = since_for(since, symbol)
            known: dict[tuple[pd.Timestamp, str], pd.Timestamp] = {}
            errors = []
            for period in self.config.periods:
                for statement in statements:
                    try:
                        records = await self._pages(symbol, statement, period, start)
                        frames.append(parse_statements(symbol, statement, records, problems, known))
                    except FeedError as exc:
                        errors.append(f"{statement}/{period}: {exc}")
            if errors:
                failures[symbol] = self.http.redact("; ".join(errors))
        rows = known_by(concat(frames, "fundamentals"), until, problems, "fundamentals")
        return FetchResult(self.name, {"fundamentals": rows}, failures, problems)

    async def _pages(self, symbol: str, statement: str, period: str, start: pd.Timestamp | None) -> Any:
        """All records back to ``start`` (or ``max_pages`` pages), newest first; a non-list
        first page is returned as is for parse_statements to explain."""
        records: list[Any] = []
        first_seen: set[str] = set()
        for page in range(self.config.max_pages):
            params = {"symbol": symbol, "period": period, "limit": self.config.page_size, "page": page}
            batch = await self.http.get_json(_PATHS[statement], params)
            if not isinstance(batch, list):
                return batch if page == 0 else records  # parse_statements explains a non-list
            head = repr(batch[0])[:200] if batch else ""
            if head in first_seen:
                break  # the server ignores ``page``
            first_seen.add(head)
            records.extend(batch)
            dates = [r.get("date") for r in batch if isinstance(r, dict) and isinstance(r.get("date"), str)]
            reached_start = start is not None and dates and min(dates) <= start.date().isoformat()
            if len(batch) < self.config.page_size or reached_start:
                break
        return records
