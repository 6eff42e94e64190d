"""``tradingd data import | backfill | list``: getting history into the lake and seeing it.

The lake is ``<run.data_dir>/lake``. ``import`` reads files (``daemon.data.importer``),
``backfill`` pulls Yahoo through the same source and resilience layer as the live daemon,
``list`` says per dataset and symbol what is stored: what a person checks before a
backtest on ``market.source = "lake"``.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from daemon.config import Config
from daemon.data.importer import ImportOptions, ImportReport, import_files
from daemon.feeds.base import local_time
from daemon.feeds.pull import PullReport, pull
from daemon.feeds.resilience import Guard
from daemon.feeds.yahoo import Download, YahooSource, yfinance_download
from state.lake import DATASETS, Lake

__all__ = ["LakeEntry", "backfill", "import_options", "lake_inventory", "render_import", "render_inventory", "run_import"]


def lake_of(config: Config) -> Lake:
    return Lake(Path(config.run.data_dir) / "lake")


def import_options(config: Config, **flags: object) -> ImportOptions:
    """Defaults from ``[market]`` (zone, close) and ``[feeds.yahoo]`` (publication delay)."""
    base = {
        "zone": config.market.timezone,
        "close_time": config.market.close_time,
        "publication_delay": timedelta(minutes=config.feeds.yahoo.publication_delay_min),
    }
    base.update({k: v for k, v in flags.items() if v is not None})
    return ImportOptions(**base)  # type: ignore[arg-type]


def run_import(
    config: Config, paths: list[Path], options: ImportOptions, *, actions: Path | None, progress: bool
) -> ImportReport:
    return import_files(lake_of(config), paths, options, actions=actions, known_at=datetime.now(UTC), progress=progress)


def render_import(report: ImportReport, options: ImportOptions, *, as_json: bool) -> str:
    if as_json:
        return json.dumps(report.as_dict(), indent=2)
    lines = [str(p) for p in report.problems]
    refused = bool(report.errors) and not options.skip_bad_rows
    if refused:
        lines.append(f"refused: {len(report.errors)} problem(s); nothing written (--skip-bad-rows imports the rest)")
        return "\n".join(lines)
    if report.skipped:
        lines.append(f"skipped {report.skipped} bad row(s) (listed above)")
    verb = "would add" if options.dry_run else "added"
    lines.append(
        f"{len(report.rows_read)} symbol(s) from {len(report.files)} file(s): {verb} {report.bars_new} bars, "
        f"{report.bars_revised} revised (new vintages), {report.bars_unchanged} already stored"
        + (f", {report.actions_new} corporate actions" if report.actions_new else "")
    )
    return "\n".join(lines)


async def backfill(
    config: Config, symbols: list[str], start: date, *, until: datetime, download: Download = yfinance_download
) -> PullReport:
    """Pull daily history from ``start`` for ``symbols`` through the Yahoo source into the
    lake (rate limit, retries, breaker as live; rows already stored are not added twice)."""
    yahoo = config.feeds.yahoo
    source = YahooSource(
        yahoo, Guard.from_config("yahoo", yahoo), download=download,
        zone=ZoneInfo(config.market.timezone), close_time=config.market.close_time,
    )
    first = local_time(start, time(0), ZoneInfo(config.market.timezone)).to_pydatetime()  # the exchange's midnight
    return await pull(source, lake_of(config), symbols, until=until, start=first, since=first)


def run_backfill(config: Config, symbols: list[str], start: date) -> PullReport:
    return asyncio.run(backfill(config, symbols, start, until=datetime.now(UTC)))


@dataclass(frozen=True, slots=True)
class LakeEntry:
    """What the lake holds for one dataset and key. ``gaps``: (bars only) spans of more
    than ``max_gap`` missing weekdays between two stored sessions."""

    dataset: str
    symbol: str
    first_ts: str
    last_ts: str
    rows: int
    vintages: int
    gaps: int | None
    newest_available_at: str


def lake_inventory(lake: Lake, *, now: datetime, max_gap: int = 5) -> list[LakeEntry]:
    out = []
    for dataset, spec in DATASETS.items():
        if not lake.symbols(dataset):
            continue
        key = [c for c in spec.key if c not in (spec.partition, "ts")]
        frame = lake.read(dataset, as_of=now, columns=key, vintages="all")
        for symbol, rows in frame.groupby(spec.partition, sort=True):
            gaps = None
            if dataset == "bars":
                days = np.unique(rows["ts"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[D]"))
                gaps = int((np.busday_count(days[:-1] + 1, days[1:]) > max_gap).sum()) if len(days) > 1 else 0
            identities = len(rows.drop_duplicates(["ts", *key]))
            out.append(LakeEntry(
                dataset, str(symbol), rows["ts"].min().isoformat(), rows["ts"].max().isoformat(),
                identities, len(rows), gaps, rows["available_at"].max().isoformat(),
            ))
    return out


def render_inventory(entries: list[LakeEntry], *, as_json: bool) -> str:
    if as_json:
        return json.dumps([_entry_dict(e) for e in entries], indent=2)
    if not entries:
        return "the lake is empty (tradingd data import FILES, or tradingd data backfill --symbols ...)"
    table = pd.DataFrame([_entry_dict(e) for e in entries])
    table["gaps"] = table["gaps"].map(lambda g: "" if g is None or pd.isna(g) else str(int(g)))
    return table.to_string(index=False)


def _entry_dict(entry: LakeEntry) -> dict[str, object]:
    return {name: getattr(entry, name) for name in LakeEntry.__slots__}
