"""The paced daemon never skips or moves a decision (issue 9, part 2)."""

from __future__ import annotations

import sqlite3
import subprocess
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from killkit import finish, start_run, write_config
from testkit import TRADINGD, cli_env

pytestmark = pytest.mark.slow

FILLS = "select substr(ts, 1, 10), symbol, qty, price, fee from fills order by ts, symbol"
DECISIONS = "select fired_at, detail from jobs where job = 'rebalance' and detail like 'target set%' order by fired_at"


def query(db: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def backtest_fills(tmp_path_factory: pytest.TempPathFactory) -> list[tuple]:
    folder = tmp_path_factory.mktemp("backtest")
    config = write_config(folder, "2018-01-02", "2018-12-31", 1)
    db = folder / "t.db"
    done = subprocess.run(
        [*TRADINGD, "backtest", "--config", str(config), "--db", str(db), "--no-progress"],
        cwd=folder, env=cli_env(), capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    fills = query(db, FILLS)
    assert len(fills) > 150
    return fills


class TestPacedEqualsBacktest:
    @pytest.mark.parametrize("pace", [50, "max"])
    def test_a_paced_run_over_2018_fills_exactly_as_the_backtest_of_the_window(
        self, tmp_path: Path, backtest_fills: list[tuple], pace: str | int
    ) -> None:
        config = write_config(tmp_path, "2018-01-02", "2018-12-31", pace)
        db = tmp_path / "t.db"
        finish(start_run(config, db))
        assert query(db, FILLS) == backtest_fills
        decisions = query(db, DECISIONS)
        # Every month decided once, at the 16:45 New York cron time of its first session.
        assert len(decisions) == 12
        local = [datetime.fromisoformat(fired).astimezone(ZoneInfo("America/New_York")) for fired, _ in decisions]
        assert {t.strftime("%H:%M") for t in local} == {"16:45"}
        assert [t.month for t in local] == list(range(1, 13))
