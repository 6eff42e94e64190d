"""Fixtures for tests/dashboard: real runs in real SQLite files (and lakes), shared.

- ``backtest_db``: 13 months of the shipped default strategy, no models, no lake;
- ``learning_run``: a short backtest that retrains a tiny model twice as it goes, and
  whose lake holds news scored by ``tradingd sentiment backfill``.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from browser_testkit import CHROMIUM, FLAGS
from dashboard_testkit import tradingd
from testkit import REPO, TRADINGD, cli_env, make_config, run_backtest

from state.lake import Lake

sys.path.insert(0, str(REPO / "tests" / "daemon"))
from learning_testkit import learning_config  # noqa: E402


@pytest.fixture(scope="session")
def backtest_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """13 months of the shipped default strategy (HRP + GARCH + VaR, monthly), through
    the real components; includes the 2020 drawdown, so the vol target binds."""
    db = tmp_path_factory.mktemp("dashboard") / "tradingd.db"
    return db, run_backtest(make_config(), db, "2019-06-01", "2020-06-30")


# (channel, headline): VADER scores them plainly positive, negative or neutral.
HEADLINES = [
    ("AAPL", "Apple shares soar to a wonderful record after great results"),
    ("AAPL", "Apple faces a terrible lawsuit, shares slump badly"),
    ("MSFT", "Microsoft wins a huge contract, a great success"),
    ("MSFT", "Microsoft outage angers customers, a bad week"),
    ("XOM", "Exxon suffers disastrous losses as oil crashes"),
    ("XOM", "Oil market update for the week"),
]


def store_texts(lake: Lake, first: str, days: int) -> None:
    """The headlines as NewsAPI texts in the lake, every third day from ``first``."""
    rows = []
    for day in range(days):
        for i, (channel, title) in enumerate(HEADLINES):
            at = pd.Timestamp(first) + pd.Timedelta(days=3 * day, minutes=i)
            rows.append({"channel": channel, "ts": at, "available_at": at, "source": "newsapi", "id": f"{day}-{i}",
                         "kind": "article", "author": None, "title": f"{title} (day {day})", "text": None,
                         "url": None, "parent_id": None, "score": None})
    lake.write("texts", pd.DataFrame(rows))


@pytest.fixture(scope="session")
def learning_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, Path]:
    """(database, run id, lake): eight weeks of the default strategy with a tiny TFT
    retrained in-process on the 1st of each month (two versions: the second replaces the
    first) and served daily; then `tradingd sentiment backfill` (VADER: no FinBERT weights
    here) scores news of six days in July 2019 into the run's lake."""
    tmp = tmp_path_factory.mktemp("learning")
    run_id = _learning_backtest(tmp)
    store_texts(Lake(tmp / "lake"), "2019-07-15T14:00Z", days=6)
    toml = tmp / "sentiment.toml"
    toml.write_text(f'[run]\ndata_dir = "{tmp}"\n\n[sentiment]\nthreads = 1\ncache_dir = "{tmp / "no-weights"}"\n')
    tradingd("sentiment", "backfill", "--start", "2019-07-01", "--end", "2019-07-31", "--config", str(toml), cwd=tmp)
    return tmp / "tradingd.db", run_id, tmp / "lake"


def _learning_backtest(tmp: Path) -> str:
    """``learning_run``'s backtest into ``tmp`` (database, registry, lake); its run id.
    Retrains reuse the checkpoints already in ``tmp / "registry"`` for the same window."""
    from daemon.app import build_app
    from daemon.backtest import run_backtest as drive

    config = learning_config(
        tmp, models={"retrain": {"window_days": 1200}},
        market={"replay_start": "2019-06-17", "replay_end": "2019-08-09"},
        jobs={"retrain": {"cron": "0 18 1 * *", "enabled": True}},
    )
    app = build_app(config, mode="backtest", db_path=tmp / "tradingd.db")
    asyncio.run(drive(app, progress=False))
    app.close("completed")
    return app.run_id


@pytest.fixture(scope="module")
def rejecting_run(learning_run, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """(database, run id, refused version): ``learning_run``'s backtest again, on a copy of
    its registry whose second version has truncated weights. Both retrains reuse the
    cached checkpoints (same windows), and the swap gate refuses the broken one."""
    from learning_testkit import break_checkpoint

    from models.registry import list_checkpoints

    _, _, lake = learning_run
    tmp = tmp_path_factory.mktemp("rejecting")
    shutil.copytree(lake.parent / "registry", tmp / "registry")
    (root,) = (tmp / "registry" / "backtests").iterdir()
    first, second = list_checkpoints(root)  # oldest first
    break_checkpoint(second, "truncated", tmp / "unused-marker")
    return tmp / "tradingd.db", _learning_backtest(tmp), second.name


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def report_file(backtest_db, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The backtest's HTML report, written by a real `tradingd report` process."""
    db, run_id = backtest_db
    out = tmp_path_factory.mktemp("report") / "report.html"
    result = subprocess.run([*TRADINGD, "report", "--db", str(db), "--run", run_id, "--out", str(out)],
                            env=cli_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == f"tradingd: report of {run_id} written to {out}"
    return out
