import io
import json
import pickle
import shutil

import numpy as np
import pytest
import torch
from models_testkit import synthetic_market, tiny_run_config
from safetensors.torch import save_file

from models import registry
from models.registry import CheckpointRejected
from models.train import run_training


class Boom:
    """Unpickling this would call `print`; a weights_only loader must refuse it instead."""

    def __reduce__(self):
        return (print, ("pickle payload executed",))


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("registry")
    outcome = run_training(tiny_run_config(tmp), market=synthetic_market())
    return outcome.checkpoint


@pytest.fixture
def copy(published, tmp_path):
    target = tmp_path / published.name
    shutil.copytree(published, target)
    return target


def _rewrite_manifest(path, **changes):
    data = json.loads((path / "manifest.json").read_text())
    data.update(changes)
    (path / "manifest.json").write_text(json.dumps(data))


def _sha(path):
    return registry._sha256(path)


@pytest.mark.slow
class TestPublish:
    def test_writes_weights_manifest_and_logs_and_leaves_no_temporary_folder(self, published):
        names = {p.name for p in published.iterdir()}
        assert {"manifest.json", "weights.safetensors", "tensorboard"} <= names
        assert not [p for p in published.parent.iterdir() if p.name.startswith(".tmp")]
        manifest = registry.verify(published)
        assert manifest.model_class == "TemporalFusionTransformer"
        assert len(manifest.schema_hash) == 64 and manifest.weights_sha256 == _sha(
            published / "weights.safetensors"
        )
        assert set(manifest.normaliser) == {
            "feature_mean",
            "feature_std",
            "target_mean",
            "target_std",
        }
        assert manifest.training_window["train_last"] < manifest.training_window["val_first"]

    def test_latest_is_the_newest_published_folder(self, published, tmp_path):
        ckpt = registry.load(published)
        first = registry.publish(tmp_path, ckpt.model, ckpt.manifest)
        second = registry.publish(tmp_path, ckpt.model, ckpt.manifest, weights_format="pt")
        assert registry.list_checkpoints(tmp_path) == [first, second]
        assert registry.latest(tmp_path) == second
        again = registry.load(second)
        for key, value in ckpt.model.state_dict().items():
            torch.testing.assert_close(again.model.state_dict()[key], value)


@pytest.mark.slow
class TestLoadRefusals:
    def test_truncated_weights_are_refused(self, copy):
        weights = copy / "weights.safetensors"
        weights.write_bytes(weights.read_bytes()[:-100])
        with pytest.raises(CheckpointRejected, match="truncated"):
            registry.load(copy)

    def test_wrong_sha256_is_refused(self, copy):
        weights = copy / "weights.safetensors"
        blob = bytearray(weights.read_bytes())
        blob[-1] ^= 0xFF  # same size, different content
        weights.write_bytes(bytes(blob))
        with pytest.raises(CheckpointRejected, match="sha256"):
            registry.load(copy)

    def test_a_pickle_payload_is_refused_even_with_a_matching_sha(self, copy, capsys):
        bad = copy / "weights.pt"
        buf = io.BytesIO()
        torch.save({"x": Boom()}, buf)
        bad.write_bytes(buf.getvalue())
        _rewrite_manifest(
            copy,
            weights_file="weights.pt",
            weights_sha256=_sha(bad),
            weights_bytes=bad.stat().st_size,
        )
        with pytest.raises(CheckpointRejected, match="weights_only"):
            registry.load(copy)
        assert "pickle payload executed" not in capsys.readouterr().out

    def test_a_pickle_disguised_as_safetensors_is_refused(self, copy):
        weights = copy / "weights.safetensors"
        weights.write_bytes(pickle.dumps(Boom()))
        _rewrite_manifest(copy, weights_sha256=_sha(weights), weights_bytes=weights.stat().st_size)
        with pytest.raises(CheckpointRejected, match="unreadable safetensors"):
            registry.load(copy)

    def test_weights_of_the_wrong_shape_are_refused(self, copy):
        ckpt = registry.load(copy)
        state = {k: v.clone() for k, v in ckpt.model.state_dict().items()}
        key = next(k for k, v in state.items() if v.ndim == 2)
        state[key] = torch.zeros(state[key].shape[0] + 1, state[key].shape[1])
        weights = copy / "weights.safetensors"
        save_file(state, str(weights))
        _rewrite_manifest(copy, weights_sha256=_sha(weights), weights_bytes=weights.stat().st_size)
        with pytest.raises(CheckpointRejected, match="shape mismatch"):
            registry.load(copy)

    def test_a_missing_manifest_is_refused(self, copy):
        (copy / "manifest.json").unlink()
        with pytest.raises(CheckpointRejected, match="manifest.json missing"):
            registry.verify(copy)

    def test_an_intact_copy_loads(self, copy):
        ckpt = registry.load(copy)
        assert not ckpt.model.training
        assert np.isfinite(ckpt.normaliser.feature_std).all()
