import numpy as np
import torch
from numpy.testing import assert_allclose

from models.dataset import make_dataset, prepare
from models.distributed import DistContext
from models.factory import build_model
from models.normaliser import Normaliser
from models.pipeline import candidate_positions, model_dims
from models.splits import train_val_split
from models.trainer import evaluate_loss, fit, warmup_cosine

from models_testkit import synthetic_market, tiny_run_config

CPU = DistContext(0, 1, 0, torch.device("cpu"))


def _setup(tmp_path, **train):
    cfg = tiny_run_config(tmp_path, "lstm_stacked", train={"epochs": 3, **train})
    prep = prepare(cfg.data, synthetic_market())
    split = train_val_split(
        candidate_positions(prep, 10), 0.2, cfg.data.label_horizon, cfg.data.embargo
    )
    rows = np.zeros(len(prep.panel.times), bool)
    rows[split.train] = True
    norm = Normaliser.fit(prep.panel.values, prep.targets, rows)
    datasets = (
        make_dataset(prep, norm, split.train, cfg.data),
        make_dataset(prep, norm, split.test, cfg.data),
    )
    return cfg, prep, datasets


def _model(cfg, prep):
    torch.manual_seed(0)
    return build_model(cfg.model, model_dims(prep, 3))


class TestFit:
    def test_leaves_the_model_at_its_best_validation_loss(self, tmp_path):
        cfg, prep, (train, val) = _setup(tmp_path, lr=0.05)
        model = _model(cfg, prep)
        result = fit(model, train, val, cfg.train, cfg.data.quantiles, CPU)
        assert_allclose(
            evaluate_loss(model, val, cfg.data.quantiles, CPU, 256), result.best_val_loss, rtol=1e-6
        )
        assert result.best_val_loss == min(h["val_loss"] for h in result.history)

    def test_resumes_from_the_last_epoch_checkpoint(self, tmp_path):
        cfg, prep, (train, val) = _setup(tmp_path)
        full = fit(
            _model(cfg, prep), train, val, cfg.train, cfg.data.quantiles, CPU, tmp_path / "a"
        )
        short = cfg.train.model_copy(update={"epochs": 3})

        # Simulate a crash after epoch 2: train 3 epochs' schedule but stop after two.
        class Crash(Exception):
            pass

        def crash_after_two(epoch, _):
            if epoch == 1:
                raise Crash

        try:
            fit(
                _model(cfg, prep),
                train,
                val,
                short,
                cfg.data.quantiles,
                CPU,
                tmp_path / "b",
                on_epoch=crash_after_two,
            )
        except Crash:
            pass
        resumed = fit(
            _model(cfg, prep),
            train,
            val,
            short,
            cfg.data.quantiles,
            CPU,
            tmp_path / "b",
            resume=True,
        )
        assert resumed.epochs_run == 3
        assert_allclose(
            [h["val_loss"] for h in resumed.history],
            [h["val_loss"] for h in full.history],
            rtol=1e-5,
        )

    def test_writes_tensorboard_scalars(self, tmp_path):
        cfg, prep, (train, val) = _setup(tmp_path)
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
