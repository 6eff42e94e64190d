"""Helpers for the learning-loop tests: a tiny model config, a trained champion, and
checkpoints broken in each way the swap gate must refuse."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from testkit import make_config

from daemon.config import Config
from models import registry

TINY = {"family": "tft", "hidden_size": 8, "num_heads": 2, "lstm_layers": 1, "dropout": 0.0}


def learning_config(tmp: Path, *, end: str = "2019-03-29", **tables: dict[str, Any]) -> Config:
    """Defaults with a tiny TFT trained on 2016..`end`, a registry and data under `tmp`."""
    models = {
        "registry_dir": str(tmp / "registry"),
        "run_dir": str(tmp / "run"),
        "model": TINY,
        "data": {"start": "2016-01-01", "end": end, "encoder_length": 20},
        "train": {"epochs": 1, "batch_size": 64, "max_steps_per_epoch": 3, "device": "cpu"},
        **tables.pop("models", {}),
    }
    market = {"replay_start": "2019-07-01", "replay_end": "2019-07-31", **tables.pop("market", {})}
    return make_config(models=models, run={"data_dir": str(tmp)}, market=market, **tables)


def _rewrite(path: Path, weights: Path, **manifest: Any) -> None:
    data = json.loads((path / "manifest.json").read_text())
    data.update(
        weights_file=weights.name,
        weights_bytes=weights.stat().st_size,
        weights_sha256=registry._sha256(weights),
        **manifest,
    )
    (path / "manifest.json").write_text(json.dumps(data))


def copy_checkpoint(source: Path, root: Path, name: str) -> Path:
    target = root / name
    shutil.copytree(source, target)
    return target


def with_state(path: Path, change) -> Path:  # noqa: ANN001
    """Rewrite the weights through `change(state) -> state`, with a matching manifest."""
    weights = path / "weights.safetensors"
    save_file(change(load_file(str(weights))), str(weights))
    _rewrite(path, weights)
    return path


class Payload:
    """Unpickling this would create `marker`; a weights-only loader must refuse it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def break_checkpoint(path: Path, how: str, marker: Path) -> Path:
    """Damage a copied checkpoint in one way; the manifest stays consistent otherwise."""
    weights = path / "weights.safetensors"
    if how == "truncated":
        data = weights.read_bytes()
        weights.write_bytes(data[: len(data) // 2])
    elif how == "sha256":
        data = bytearray(weights.read_bytes())
        data[-8] ^= 0xFF
        weights.write_bytes(bytes(data))
    elif how == "shapes":
        with_state(path, lambda s: {k: torch.zeros(*(d + 1 for d in v.shape)) for k, v in s.items()})
    elif how == "nan":
        with_state(path, lambda s: {k: (v.fill_(float("nan")) if i == 0 else v) for i, (k, v) in enumerate(s.items())})
    elif how == "pickle":
        weights.unlink()
        pt = path / "weights.pt"
        with open(pt, "wb") as fh:
            pickle.dump({"w": Payload(marker)}, fh)
        _rewrite(path, pt)
    elif how == "schema":
        manifest = json.loads((path / "manifest.json").read_text())
        names = list(reversed(manifest["feature_names"]))
        from models.features import schema_hash

        _rewrite(
            path, weights, feature_names=names,
            schema_hash=schema_hash(tuple(names), tuple(manifest["future_names"]), tuple(manifest["target_names"])),
        )
    elif how == "worse":
        gen = torch.Generator().manual_seed(7)
        with_state(path, lambda s: {k: v + 3.0 * torch.randn(v.shape, generator=gen) for k, v in s.items()})
    else:
        raise ValueError(how)
    return path


def write_config(
    tmp: Path, registry: Path, extra: str = "", *, replay_end: str = "2019-09-30", market: str = "", data: str = ""
) -> Path:
    """A config.toml for `tradingd` subprocesses: the tiny model, data under `tmp`
    (`market` / `data`: more `[market]` / `[models.data]` lines, e.g. the pace)."""
    model = "\n".join(f"{k} = {json.dumps(v)}" for k, v in TINY.items())
    path = tmp / "config.toml"
    path.write_text(
        f"""
[run]
data_dir = "{tmp}"
[market]
replay_start = 2019-07-01
replay_end = {replay_end}
{market}
[models]
registry_dir = "{registry}"
run_dir = "{tmp / 'runs'}"
[models.model]
{model}
[models.data]
start = 2016-01-01
end = 2019-03-29
encoder_length = 20
{data}
[models.train]
epochs = 1
batch_size = 64
max_steps_per_epoch = 3
device = "cpu"
{extra}
"""
    )
    return path
