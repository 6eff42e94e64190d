"""Fixtures for tests/dashboard: one short backtest in a real SQLite file, shared."""

from __future__ import annotations

from pathlib import Path

import pytest
from testkit import make_config, run_backtest


@pytest.fixture(scope="session")
def backtest_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """13 months of the shipped default strategy (HRP + GARCH + VaR, monthly), through
    the real components; includes the 2020 drawdown, so the vol target binds."""
    db = tmp_path_factory.mktemp("dashboard") / "tradingd.db"
    return db, run_backtest(make_config(), db, "2019-06-01", "2020-06-30")


