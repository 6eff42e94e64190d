"""Real torchrun runs on CPU (gloo): DDP parity with one process, and train -> publish ->
load -> forecast end to end on the bundled data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from models import registry
from models.config import TFTConfig
from models.data import load_bundled
from models.factory import ModelDims, build_model
from models.forecaster import Forecaster

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]  # the `torchrun` script itself
CONFIG = """
[model]
family = "tft"
hidden_size = 8
num_heads = 2
lstm_layers = 2
dropout = 0.0
[data]
symbols = ["AAPL", "JPM", "KO", "XOM"]
start = 2015-01-01
end = 2017-12-29
encoder_length = 20
[train]
epochs = 2
batch_size = 32
max_steps_per_epoch = 3
lr = 0.003
"""


def _train(tmp: Path, name: str, launcher: list[str]) -> Path:
    config = tmp / "train.toml"
    config.write_text(CONFIG)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [
        *launcher,
        "-m",
        "models",
        "--config",
        str(config),
        "--registry",
        str(tmp / name / "registry"),
        "--run-dir",
        str(tmp / name / "run"),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    published = registry.latest(tmp / name / "registry")
    assert published is not None
    return published


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ddp")
    single = _train(tmp, "single", [sys.executable])
    double = _train(tmp, "double", [*TORCHRUN, "--standalone", "--nproc_per_node=2"])
    return single, double


class TestTorchrunTraining:
    def test_two_gloo_processes_match_one_process_at_the_same_global_batch(self, runs):
        single, double = (load_file(str(p / "weights.safetensors")) for p in runs)
        assert single.keys() == double.keys()
        for key in single:
            torch.testing.assert_close(double[key], single[key], rtol=0, atol=1e-5, msg=key)
        # ... and training moved them: the published weights are not the seeded init.
        torch.manual_seed(0)
        ckpt = registry.load(runs[0])
        init = build_model(
            TFTConfig(**ckpt.manifest.hyperparameters), ModelDims(**ckpt.manifest.dims)
        )
        assert any((init.state_dict()[k] - single[k]).abs().max() > 1e-4 for k in single)

    def test_published_checkpoint_loads_and_forecasts_the_bundled_cross_section(self, runs):
        ckpt = registry.load(runs[1])
        assert ckpt.manifest.symbols == ("AAPL", "JPM", "KO", "XOM")
        assert ckpt.manifest.validation["epochs_run"] == 2.0
        assert (runs[1] / "tensorboard").is_dir()
        market = load_bundled("sp500_20", ("AAPL", "JPM", "KO", "XOM"))
        forecast = Forecaster(ckpt).forecast_frames(market.prices, "2018-03-01", macro=market.macro)
        assert forecast.values.shape == (4, 4, 3)
        assert np.isfinite(forecast.values).all()
        assert (np.diff(forecast.values, axis=-1) > 0).all()
        # daily-vol forecasts in a plausible range for large caps (0.2%–10% a day)
        assert ((forecast.values[:, 3, 1] > 0.002) & (forecast.values[:, 3, 1] < 0.1)).all()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TestMultiNodeRendezvous:
    def test_two_nodes_on_a_c10d_rendezvous_train_like_one_process(self, runs, tmp_path: Path):
        """Two torchrun "nodes" (one process each) meet on a c10d rendezvous over loopback,
        as two machines would, and end where one process at the same global batch ends."""
        config = tmp_path / "train.toml"
        config.write_text(CONFIG)
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
        endpoint = f"127.0.0.1:{_free_port()}"
        procs = [
            subprocess.Popen(
                [*TORCHRUN, "--nnodes=2", f"--node_rank={rank}", "--nproc_per_node=1", "--rdzv-backend=c10d",
                 f"--rdzv-endpoint={endpoint}", "--rdzv-id=tradingd-test", "-m", "models",
                 "--config", str(config), "--registry", str(tmp_path / "registry"),
                 "--run-dir", str(tmp_path / f"run{rank}")],
                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            )
            for rank in (0, 1)
        ]
        outputs = [p.communicate(timeout=240)[0] for p in procs]
        assert [p.returncode for p in procs] == [0, 0], "\n".join(o[-1500:] for o in outputs)
        published = registry.latest(tmp_path / "registry")
        assert published is not None
        single = load_file(str(runs[0] / "weights.safetensors"))
        multi = load_file(str(published / "weights.safetensors"))
        for key in single:
            torch.testing.assert_close(multi[key], single[key], rtol=0, atol=1e-5, msg=key)
