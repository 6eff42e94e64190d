"""kill -9 and resume with a model change mid-run: the resumed run decides exactly as the
uninterrupted one (issue 11). Real `tradingd run` processes, SIGKILL to the group.

The active model changes at a known decision: right after the forecasts of trading day
``SWITCH`` are stored, the operator activates version B in the ``models`` table (as
`tradingd models activate --force` does), and the paced daemon serves B from the next
`infer` on. The resumed run is killed after that, so its replay crosses the change: it
must re-publish A's forecasts for the days A served, not B's.
"""

from __future__ import annotations

import sqlite3
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import torch
from killkit import books, count, finish, kill_group, start_run
from learning_testkit import copy_checkpoint, with_state, write_config
from testkit import query

from state.models_table import ModelsTable
from state.store import Store

pytestmark = pytest.mark.slow

SWITCH, KILL = 2, 6  # trading days with forecasts: B is activated after SWITCH, the kill after KILL
PACE = 3  # trading days per wall second: a third of a second between two `infer`s
FORECASTS = "select substr(ts, 1, 10), symbol, target, quantiles, model from forecasts order by ts, symbol, target"


def days(db: Path) -> int:
    """Trading days with stored forecasts (0 before the schema exists)."""
    try:
        return count(db, "select count(distinct ts) from forecasts")
    except sqlite3.Error:
        return 0


@pytest.fixture(scope="module")
def setup(champion, tmp_path_factory) -> tuple[Path, Path, Path]:
    """(registry holding A, version B outside the registry, folder): B is A with its
    weights moved a little, so the two forecast (and tilt) differently."""
    _, a = champion
    root = tmp_path_factory.mktemp("resume_models")
    registry = root / "registry"
    registry.mkdir()
    copy_checkpoint(a, registry, a.name)
    gen = torch.Generator().manual_seed(3)
    b = with_state(
        copy_checkpoint(a, root / "operator", "operator-b"),
        lambda s: {k: v + 0.05 * torch.randn(v.shape, generator=gen) for k, v in s.items()},
    )
    return registry, b, root


def activate(db: Path, b: Path) -> None:
    """Make B the active version, as `tradingd models activate --force` records it."""
    store = Store.open(db)
    try:
        table = ModelsTable(store)
        table.add_candidate(b.name, "tft", str(b), "", datetime.now(UTC))
        table.activate(b.name, "forced by operator", {}, datetime.now(UTC))
    finally:
        store.close()


def drive(runs: dict[str, tuple[subprocess.Popen[bytes], Path]], b: Path, kill: str) -> None:
    """Watch the runs side by side: B becomes active in each once its day SWITCH has
    forecasts; the run named ``kill`` is killed (whole group) once day KILL has them."""
    switched: set[str] = set()
    deadline = time.monotonic() + 180
    while switched != set(runs) or days(runs[kill][1]) < KILL:
        for name, (proc, db) in runs.items():
            if name not in switched and days(db) >= SWITCH:
                activate(db, b)
                switched.add(name)
            assert proc.poll() is None or name in switched, f"{name} ended before the switch day"
        assert time.monotonic() < deadline and runs[kill][0].poll() is None, "the kill point never came"
        time.sleep(0.005)
    time.sleep(0.05)
    kill_group(runs[kill][0])


def outcome(db: Path) -> dict[str, list[tuple]]:
    return books(db) | {"forecasts": query(db, FORECASTS)}


def served_by_day(forecasts: list[tuple]) -> list[str]:
    return [model for _, model in sorted({(day, model) for day, *_, model in forecasts})]


def config_in(folder: Path, registry: Path) -> Path:
    # Daily rebalances (the tilt acts at once); GARCH refits monthly, filters in between (speed).
    extra = '[strategy]\nrebalance = "daily"\n[risk.garch]\nrefit_every = 20\n'
    return write_config(folder, registry, extra, replay_end="2019-07-16", market=f"pace = {PACE}")


class TestResumeWithModels:
    def test_a_run_killed_after_a_model_change_resumes_to_the_same_forecasts_orders_and_fills(self, tmp_path, setup):
        registry, b, _ = setup
        a = next(registry.iterdir()).name
        runs = {}
        for name in ("reference", "resumed"):  # side by side: the start-up (imports) dominates
            (tmp_path / name).mkdir()
            config, db = config_in(tmp_path / name, registry), tmp_path / name / "t.db"
            runs[name] = (start_run(config, db), db)
        drive(runs, b, kill="resumed")
        finish(runs["reference"][0])
        expected = outcome(runs["reference"][1])
        served = served_by_day(expected["forecasts"])
        assert served[:SWITCH] == [a] * SWITCH and set(served[SWITCH:]) == {b.name}, (
            f"B was not first served right after day {SWITCH} (a slow machine?): {served}"
        )
        assert len(expected["fills"]) > 20, expected["fills"]

        db = runs["resumed"][1]
        assert SWITCH < days(db) < len(served)  # killed after the change, before the end
        finish(start_run(config_in(tmp_path / "resumed", registry), db))
        assert outcome(db) == expected
