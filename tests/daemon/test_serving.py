"""Serving and the swap gate with real components: a tiny TFT trained on the bundled data,
the real registry, SQLite, the replay bus and the portfolio strategy."""

from __future__ import annotations

import asyncio
import gc
import json
import weakref
from pathlib import Path

import numpy as np
import pytest
from learning_testkit import break_checkpoint, copy_checkpoint, learning_config, with_state
from testkit import query as rows

from core.events import ForecastReady, ModelRejected, ModelSwapped
from daemon.app import build_app
from daemon.backtest import run_backtest
from state.models_table import ModelsTable

pytestmark = pytest.mark.slow


class Harness:
    """A live-mode app (manages the models table) on a replay clock, July 2019 replayed."""

    def __init__(self, tmp: Path, db: Path, **market: str) -> None:
        self.config = learning_config(tmp, market=market) if market else learning_config(tmp)
        self.db = db
        self.app = build_app(self.config, mode="live", db_path=db, live=False)
        self.seen: list = []
        for kind in (ForecastReady, ModelSwapped, ModelRejected):
            self.app.bus.subscribe(kind, self.seen.append, name=f"test:{kind.__name__}")

    def replay(self) -> None:
        asyncio.run(run_backtest(self.app, progress=False))

    def infer(self) -> bool:
        ok = asyncio.run(self.app.jobs.fire("infer"))
        self.app.bus.drain()
        return ok

    def of(self, kind: type) -> list:
        return [e for e in self.seen if isinstance(e, kind)]


@pytest.fixture(scope="module")
def served(champion, tmp_path_factory) -> Harness:
    tmp, _ = champion
    harness = Harness(tmp, tmp_path_factory.mktemp("db") / "tradingd.db")
    harness.replay()
    yield harness
    harness.app.close("completed")


class TestServing:
    def test_the_first_valid_checkpoint_becomes_the_champion_and_forecasts_carry_its_version(self, served, champion):
        _, path = champion
        swaps = served.of(ModelSwapped)
        assert swaps[0].version == path.name and swaps[0].previous is None
        forecasts = served.of(ForecastReady)
        assert len(forecasts) >= 20 and {f.model for f in forecasts} == {path.name}
        assert forecasts[-1].levels == (0.1, 0.5, 0.9) and forecasts[-1].horizon == 20
        assert (forecasts[-1].quantiles[:, 0] <= forecasts[-1].quantiles[:, 2]).all()
        served.app.serving.forecasts.flush()
        stored = rows(served.db, "select symbol, target, levels, quantiles, model from latest_forecasts")
        assert {r[1] for r in stored} == {"ret_1", "ret_5", "ret_20", "rv_20"}
        assert len({r[0] for r in stored}) == 20 and {r[4] for r in stored} == {path.name}
        assert json.loads(stored[0][2]) == [0.1, 0.5, 0.9] and len(json.loads(stored[0][3])) == 3

    def test_forecasts_carry_the_rv_20_quantiles_the_forecasts_table_stores(self, served):
        last = served.of(ForecastReady)[-1]
        assert last.vol_horizon == 20 and last.vol is not None and last.vol.shape == last.quantiles.shape
        assert (last.vol > 0).all() and (last.vol[:, 0] <= last.vol[:, 2]).all()
        served.app.serving.forecasts.flush()
        stored = rows(served.db, "select symbol, quantiles from latest_forecasts where target = 'rv_20'")
        by_symbol = {symbol: json.loads(values) for symbol, values in stored}
        for i, symbol in enumerate(last.symbols):
            np.testing.assert_allclose(last.vol[i], by_symbol[symbol], rtol=1e-6)

    def test_a_resumed_run_republishes_each_forecast_event_exactly_vol_included(self, served):
        """What a resume's replay publishes for a decision time is the event the run
        published then: the tilt's quantiles and the vol source's rv quantiles alike."""
        published = served.of(ForecastReady)
        for live in (published[0], published[len(published) // 2], published[-1]):
            again = served.app.serving.stored_event(live.ts)
            assert again is not None and again.ts == live.ts and again.model == live.model
            assert again.symbols == live.symbols and again.levels == live.levels
            assert (again.horizon, again.vol_horizon) == (live.horizon, live.vol_horizon)
            np.testing.assert_array_equal(again.quantiles, live.quantiles)
            np.testing.assert_array_equal(again.vol, live.vol)

    def test_the_portfolio_tilt_acts_on_the_forecasts(self, served):
        (diagnostics,) = rows(served.db, "select diagnostics from risk order by ts desc limit 1")[0:1]
        tilts = [d["tilt"] for d in json.loads(diagnostics[0]).values() if d["tilt"] == d["tilt"]]
        assert tilts and any(abs(t - 1.0) > 1e-6 for t in tilts)

    def test_the_models_table_records_the_champion_as_active(self, served, champion):
        _, path = champion
        (row,) = rows(served.db, "select status, family, activated_at, reason from models where version = ?", path.name)
        assert row[0] == "active" and row[1] == "tft" and row[2] > "2026"  # wall time


BROKEN = {
    "truncated": "weights truncated or padded",
    "sha256": "sha256 does not match",
    "shapes": "shape mismatch",
    "nan": "non-finite weights",
    "pickle": "refused by weights_only loader",
    "schema": "feature schema mismatch",
    "worse": "worse than the champion",
}


class TestSwapGate:
    @pytest.mark.parametrize("how", list(BROKEN))
    def test_a_bad_checkpoint_is_rejected_with_its_reason_and_the_champion_keeps_serving(
        self, served, champion, how, tmp_path
    ):
        tmp, path = champion
        marker = tmp_path / "payload-ran"
        name = f"29990101T000000000000Z-tft-{how}"
        break_checkpoint(copy_checkpoint(path, Path(served.config.models.registry_dir), name), how, marker)
        before = len(served.seen)
        assert served.infer()
        new = served.seen[before:]
        rejected = [e for e in new if isinstance(e, ModelRejected)]
        assert [e.version for e in rejected] == [name] and BROKEN[how] in rejected[0].reason
        assert not [e for e in new if isinstance(e, ModelSwapped)]
        assert [e.model for e in new if isinstance(e, ForecastReady)] == [path.name]
        (status, reason) = rows(served.db, "select status, reason from models where version = ?", name)[0]
        assert status == "rejected" and BROKEN[how] in reason
        (detail,) = rows(served.db, "select detail from jobs where job = 'infer' order by id desc limit 1")[0]
        assert detail.startswith(f"rejected {name}: ") and BROKEN[how] in detail
        assert ModelsTable(served.app.store).active() == path.name
        assert not marker.exists()


class TestSwapAndRollback:
    def test_a_good_challenger_swaps_in_and_a_rollback_restores_the_champion(self, champion, tmp_path):
        tmp, path = champion
        harness = Harness(tmp, tmp_path / "tradingd.db")
        try:
            harness.replay()
            name = "29991231T000000000000Z-tft-good"
            registry = Path(harness.config.models.registry_dir)
            with_state(copy_checkpoint(path, registry, name), lambda s: {k: v * 1.0001 for k, v in s.items()})
            retiring = weakref.ref(harness.app.serving.served.forecaster.checkpoint.model)
            assert harness.infer()
            assert harness.of(ModelSwapped)[-1].version == name
            assert harness.of(ForecastReady)[-1].model == name
            gc.collect()
            assert retiring() is None  # a daemon that swaps for weeks keeps no retired model
            table = ModelsTable(harness.app.store)
            assert table.get(name)["metrics"]["holdout_loss"] > 0
            assert table.get(path.name)["status"] == "retired"

            old, restored = table.rollback(harness.app.clock.now())
            assert (old, restored) == (name, path.name)
            rolled_back = weakref.ref(harness.app.serving.served.forecaster.checkpoint.model)
            assert harness.infer()
            gc.collect()
            assert rolled_back() is None
            swap = harness.of(ModelSwapped)[-1]
            assert (swap.version, swap.previous, swap.reason) == (path.name, name, "operator")
            assert harness.of(ForecastReady)[-1].model == path.name
            assert table.get(name)["status"] == "rejected"
        finally:
            harness.app.close("completed")
            for p in Path(harness.config.models.registry_dir).glob("2999*"):
                __import__("shutil").rmtree(p)

    def test_a_restarted_daemon_serves_the_version_the_table_says_is_active(self, served, champion):
        _, path = champion
        served.app.serving.forecasts.flush()
        again = build_app(served.config, mode="live", db_path=served.db, live=False, resume=False)
        try:
            seen: list = []
            again.bus.subscribe(ModelSwapped, seen.append, name="test:swaps")
            asyncio.run(again.jobs.fire("infer"))
            again.bus.drain()
            assert again.serving.version == ModelsTable(again.store).active()
            assert seen and seen[0].reason == "restart"
        finally:
            again.close("completed")


class TestNoChampion:
    def test_without_a_champion_infer_says_so_once_and_trading_goes_on(self, tmp_path, capsys):
        harness = Harness(tmp_path, tmp_path / "tradingd.db")
        try:
            harness.replay()
            assert not harness.of(ForecastReady)
            fills = rows(harness.db, "select count(*) from fills")[0][0]
            assert fills > 0
        finally:
            harness.app.close("completed")
        said = [line for line in capsys.readouterr().out.splitlines() if "no_champion" in line]
        assert len(said) == 1

    def test_a_model_never_forecasts_before_its_training_window_ends(self, champion, tmp_path):
        tmp, path = champion
        harness = Harness(tmp, tmp_path / "tradingd.db", replay_start="2019-03-01", replay_end="2019-03-29")
        try:
            harness.replay()
            assert harness.of(ModelSwapped) and not harness.of(ForecastReady)
            assert rows(harness.db, "select count(*) from forecasts")[0][0] == 0
        finally:
            harness.app.close("completed")
