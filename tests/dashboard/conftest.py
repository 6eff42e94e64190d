"""Fixtures for tests/dashboard: one short backtest in a real SQLite file, shared."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from testkit import TRADINGD, cli_env, make_config, run_backtest


@pytest.fixture(scope="session")
def backtest_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """13 months of the shipped default strategy (HRP + GARCH + VaR, monthly), through
    the real components; includes the 2020 drawdown, so the vol target binds."""
    db = tmp_path_factory.mktemp("dashboard") / "tradingd.db"
    return db, run_backtest(make_config(), db, "2019-06-01", "2020-06-30")




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
