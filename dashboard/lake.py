"""Where a run's Parquet lake is: the dashboard reads prices and sentiment from it.

A run records its config (``runs.config_json``), whose ``run.data_dir`` holds the lake
(``<data_dir>/lake``, as the daemon's ``DataFeeds`` and ``tradingd data`` put it). A
relative ``data_dir`` was relative to the daemon's working folder, which the dashboard
does not know: it is looked for beside the database first (the default database is
``<data_dir>/tradingd.db``), then under the dashboard's own working folder.
"""

from __future__ import annotations

from pathlib import Path

from dashboard.data import RunData
from state.lake import Lake

__all__ = ["lake_candidates", "run_lake"]


def lake_candidates(run: RunData) -> list[Path]:
    """The folders the run's lake may be in, most likely first."""
    settings = run.config.get("run", {})
    data_dir = Path(settings.get("data_dir") or "data")
    if data_dir.is_absolute():
        return [data_dir / "lake"]
    found = []
    if run.db is not None and not settings.get("db"):  # the database sits in data_dir
        found.append(run.db.resolve().parent / "lake")
    found.append(Path.cwd() / data_dir / "lake")
    return list(dict.fromkeys(found))


def run_lake(run: RunData) -> Lake | None:
    """The run's lake, or ``None`` when none of its candidate folders exists."""
    root = next((p for p in lake_candidates(run) if p.is_dir()), None)
    return Lake(root) if root is not None else None
