"""Backtests that retrain as they go: in-process quarterly retrains, no look-ahead,
deterministic fills, a checkpoint cache keyed by (config hash, data end)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from learning_testkit import learning_config

from core.events import CheckpointPublished, ForecastReady, ModelSwapped
from daemon.app import build_app
from daemon.backtest import run_backtest
from models import registry

pytestmark = pytest.mark.slow

QUARTERLY = {"retrain": {"cron": "0 18 1 1,4,7,10 *", "enabled": True}}


def backtest(tmp: Path, registry_dir: Path, db: Path) -> dict:
    config = learning_config(
        tmp,
        models={"registry_dir": str(registry_dir), "retrain": {"window_days": 1200}},
        market={"replay_start": "2019-06-03", "replay_end": "2019-10-31"},
        jobs=QUARTERLY,
    )
    app = build_app(config, mode="backtest", db_path=db)
    seen: list = []
    for kind in (CheckpointPublished, ModelSwapped, ForecastReady):
        app.bus.subscribe(kind, seen.append, name=f"test:{kind.__name__}")
    asyncio.run(run_backtest(app, progress=False))
    app.close("completed")
    conn = sqlite3.connect(db)
    fills = conn.execute("select ts, symbol, qty, price, fee from fills order by ts, symbol").fetchall()
    gate = conn.execute("select detail from jobs where job = 'infer' and detail like 'swapped%' order by id").fetchall()
    return {"fills": fills, "gate": [d for (d,) in gate], "seen": seen, "received": app.retrainer.received, "root": app.retrainer.root}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict, dict]:
    tmp = tmp_path_factory.mktemp("bt")
    first = backtest(tmp, tmp / "reg-a", tmp / "a.db")
    second = backtest(tmp, tmp / "reg-b", tmp / "b.db")
    cached = backtest(tmp, tmp / "reg-a", tmp / "c.db")
    return first, second, cached


class TestBacktestRetrain:
    def test_each_quarterly_retrain_saw_no_row_after_its_decision_time(self, runs) -> None:
        first, _, _ = runs
        assert [d.date().isoformat() for d, _ in first["received"]] == ["2019-07-01", "2019-10-01"]
        for decision, last_row in first["received"]:
            assert last_row < decision.normalize()
        for event in (e for e in first["seen"] if isinstance(e, CheckpointPublished)):
            window = registry.verify(Path(event.path)).training_window
            assert pd.Timestamp(window["end"]) < pd.Timestamp(event.ts).tz_convert(None).normalize()

    def test_the_retrained_models_serve_the_forecasts_after_they_are_published(self, runs) -> None:
        first, _, _ = runs
        published = [e.version for e in first["seen"] if isinstance(e, CheckpointPublished)]
        swapped = [e.version for e in first["seen"] if isinstance(e, ModelSwapped)]
        assert swapped[0] == published[0]
        models = {e.model for e in first["seen"] if isinstance(e, ForecastReady)}
        assert models and models <= set(published)

    def test_each_swap_is_recorded_in_the_jobs_table_of_the_backtest(self, runs) -> None:
        first, _, _ = runs
        swaps = [e for e in first["seen"] if isinstance(e, ModelSwapped)]
        assert swaps and len(first["gate"]) == len(swaps)
        for line, swap in zip(first["gate"], swaps, strict=True):
            assert line.startswith(f"swapped {swap.previous or 'none'} -> {swap.version} ({swap.reason})")

    def test_two_runs_give_the_same_checkpoints_and_identical_fills(self, runs) -> None:
        first, second, _ = runs
        sha = lambda run: [registry.verify(p).weights_sha256 for p in registry.list_checkpoints(run["root"])]  # noqa: E731
        assert sha(first) == sha(second) and len(sha(first)) == 2
        assert first["fills"] and first["fills"] == second["fills"]

    def test_a_rerun_reuses_the_cached_checkpoints_and_fills_the_same(self, runs) -> None:
        first, _, cached = runs
        assert cached["received"] == []  # nothing was trained again
        assert cached["fills"] == first["fills"]
        assert len(registry.list_checkpoints(cached["root"])) == 2
