import pytest
import torch
from models_testkit import synthetic_market, tiny_run_config
from numpy.testing import assert_allclose

from models.dataset import prepare
from models.distributed import DistContext
from models.factory import build_model
from models.pipeline import candidate_positions, model_dims, split_datasets
from models.trainer import evaluate_loss, fit, warmup_cosine

CPU = DistContext(0, 1, 0, torch.device("cpu"))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """(config, prepared data, (train dataset, validation dataset)) shared by the class."""
    cfg = tiny_run_config(tmp_path_factory.mktemp("fit"), "lstm_stacked", train={"epochs": 3})
    prep = prepare(cfg.data, synthetic_market())
    _, _, train, val = split_datasets(cfg, prep, candidate_positions(prep, 10))
    return cfg, prep, (train, val)


def _model(cfg, prep):
    torch.manual_seed(0)
    return build_model(cfg.model, model_dims(prep, 3))


@pytest.mark.slow
class TestFit:
    def test_leaves_the_model_at_its_best_validation_loss(self, setup):
        cfg, prep, (train, val) = setup
        model = _model(cfg, prep)
        fast = cfg.train.model_copy(update={"lr": 0.05})  # large steps: val loss moves around
        result = fit(model, train, val, fast, cfg.data.quantiles, CPU)
        assert_allclose(
            evaluate_loss(model, val, cfg.data.quantiles, CPU, 256), result.best_val_loss, rtol=1e-6
        )
        assert result.best_val_loss == min(h["val_loss"] for h in result.history)

    def test_resumes_from_the_last_epoch_checkpoint(self, setup, tmp_path):
        cfg, prep, (train, val) = setup

        def run(run_dir, **kw):
            return fit(
                _model(cfg, prep), train, val, cfg.train, cfg.data.quantiles, CPU, run_dir, **kw
            )

        class Crash(Exception):
            pass

        def crash_after_two_epochs(epoch, _):
            if epoch == 1:
                raise Crash

        full = run(tmp_path / "a")
        with pytest.raises(Crash):
            run(tmp_path / "b", on_epoch=crash_after_two_epochs)
        resumed = run(tmp_path / "b", resume=True)  # a fresh model, state from last.pt
        assert resumed.epochs_run == 3
        assert_allclose(
            [h["val_loss"] for h in resumed.history],
            [h["val_loss"] for h in full.history],
            rtol=1e-5,
        )

    def test_writes_tensorboard_scalars(self, setup, tmp_path):
        cfg, prep, (train, val) = setup
        fit(_model(cfg, prep), train, val, cfg.train, cfg.data.quantiles, CPU, tmp_path)
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        events = EventAccumulator(str(tmp_path / "tensorboard"))
        events.Reload()
        tags = set(events.Tags()["scalars"])
        assert {"loss/train", "loss/val", "lr", "throughput/samples_per_s"} <= tags
        assert len(events.Scalars("loss/val")) == 3


class TestWarmupCosine:
    def test_ramps_up_then_decays_to_zero(self):
        f = warmup_cosine(100, 10)
        assert_allclose([f(0), f(9), f(10), f(55), f(100)], [0.1, 1.0, 1.0, 0.5, 0.0], atol=1e-9)
