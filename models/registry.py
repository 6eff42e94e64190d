"""Checkpoint registry: atomic publish, verified load.

Layout of one published checkpoint (a folder under the registry root, named
`<UTC yyyymmddThhmmssffffff>Z-<family>-<sha8>` so that names sort by publish time):

    manifest.json        `Manifest` below: model class + hyperparameters, feature schema and
                         its hash, normaliser statistics, training window, validation metrics,
                         sha256 + size of the weights, torch version, created_at
    weights.safetensors  state dict (or weights.pt, loaded with torch.load(weights_only=True))
    evaluation.json      walk-forward report (optional)
    tensorboard/         the run's TensorBoard logs (optional)

Publishing writes everything into `<root>/.tmp-*` and renames it into place, so a reader
never sees a half-written checkpoint. Loading refuses, with a reason, a manifest that does
not parse, a weights file of the wrong size or sha256, a pickle payload, and weights whose
names or shapes do not fit the model the manifest describes.

Listing and verifying need no torch, so a daemon that has no model yet never loads it;
`publish` and `load` import it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from models.config import ModelConfig
from models.normaliser import Normaliser

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = [
    "CheckpointRejected",
    "LoadedCheckpoint",
    "Manifest",
    "latest",
    "list_checkpoints",
    "load",
    "publish",
    "verify",
]

log = structlog.get_logger(component="models")
MANIFEST = "manifest.json"
_MODEL_CONFIG = TypeAdapter(ModelConfig)


class CheckpointRejected(Exception):
    """A checkpoint that must not serve. `reason` is one line for logs and events."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


def _torch_version() -> str:
    import torch

    return torch.__version__


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    format_version: int = 1
    model_class: str
    hyperparameters: dict[str, Any]  # the model config, including `family`
    dims: dict[str, int]
    feature_names: tuple[str, ...]
    future_names: tuple[str, ...]
    target_names: tuple[str, ...]
    schema_hash: str
    symbols: tuple[str, ...]
    encoder_length: int
    horizons: tuple[int, ...]
    vol_horizon: int | None
    quantiles: tuple[float, ...]
    normaliser: dict[str, list[float]]
    training_window: dict[str, str]
    validation: dict[str, float]
    evaluation_summary: dict[str, Any] = {}
    weights_file: str = "weights.safetensors"
    weights_sha256: str = ""
    weights_bytes: int = 0
    torch_version: str = Field(default_factory=_torch_version)
    created_at: str = ""


@dataclass(frozen=True, slots=True)
class LoadedCheckpoint:
    path: Path
    manifest: Manifest
    model: nn.Module  # eval mode, on the requested device
    normaliser: Normaliser


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _json_safe(value: Any) -> Any:
    """NaN (e.g. the IC of a constant forecast) is not JSON; write null instead."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and value != value:
        return None
    return value


def publish(
    root: Path,
    model: nn.Module,
    manifest: Manifest,
    *,
    evaluation: dict[str, Any] | None = None,
    tensorboard_dir: Path | None = None,
    weights_format: str = "safetensors",
) -> Path:
    """Write weights + manifest (+ report, TensorBoard logs) and rename into `root`.
    The manifest's weights fields and created_at are filled in here. Returns the folder."""
    import torch
    from safetensors.torch import save_file

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".tmp-{uuid.uuid4().hex}"
    tmp.mkdir()
    try:
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        weights = tmp / ("weights.safetensors" if weights_format == "safetensors" else "weights.pt")
        if weights_format == "safetensors":
            save_file(state, str(weights))
        else:
            torch.save(state, weights)
        now = dt.datetime.now(dt.UTC)
        sha = _sha256(weights)
        final = manifest.model_copy(
            update=dict(
                weights_file=weights.name,
                weights_sha256=sha,
                weights_bytes=weights.stat().st_size,
                created_at=now.isoformat(),
            )
        )
        (tmp / MANIFEST).write_text(final.model_dump_json(indent=2))
        if evaluation is not None:
            (tmp / "evaluation.json").write_text(json.dumps(_json_safe(evaluation), indent=2))
        if tensorboard_dir is not None and Path(tensorboard_dir).exists():
            shutil.copytree(tensorboard_dir, tmp / "tensorboard")
        name = f"{now:%Y%m%dT%H%M%S%f}Z-{manifest.hyperparameters['family']}-{sha[:8]}"
        target = root / name
        os.rename(tmp, target)  # atomic on one filesystem; fails rather than overwrite
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("checkpoint_published", path=str(target), sha256=sha)
    return target


def list_checkpoints(root: Path) -> list[Path]:
    """Published checkpoints, oldest first (temporary folders are skipped)."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def latest(root: Path) -> Path | None:
    found = list_checkpoints(root)
    return found[-1] if found else None


def verify(path: Path) -> Manifest:
    """Check manifest and weights integrity without building the model."""
    path = Path(path)
    try:
        manifest = Manifest.model_validate_json((path / MANIFEST).read_text())
    except FileNotFoundError:
        raise CheckpointRejected(path, "manifest.json missing") from None
    except ValidationError as exc:
        raise CheckpointRejected(path, f"manifest invalid: {exc.errors()[0]['msg']}") from None
    weights = path / manifest.weights_file
    if weights.parent != path or not weights.is_file():
        raise CheckpointRejected(path, f"weights file {manifest.weights_file!r} missing")
    size = weights.stat().st_size
    if size != manifest.weights_bytes:
        raise CheckpointRejected(
            path,
            f"weights truncated or padded: {size} bytes, manifest says {manifest.weights_bytes}",
        )
    if _sha256(weights) != manifest.weights_sha256:
        raise CheckpointRejected(path, "weights sha256 does not match the manifest")
    return manifest


def _read_state(path: Path, weights: Path) -> dict[str, torch.Tensor]:
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if weights.suffix == ".safetensors":
        try:
            return load_file(str(weights))
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointRejected(path, f"unreadable safetensors: {exc}") from None
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 -- the unpickler raises many types
        first = str(exc).strip().splitlines()[0]
        raise CheckpointRejected(path, f"refused by weights_only loader: {first}") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointRejected(path, "weights file is not a flat tensor state dict")
    return state


def load(path: Path, *, device: str | torch.device = "cpu") -> LoadedCheckpoint:
    """Verify, rebuild the model from the manifest and load its weights strictly."""
    from models.factory import ModelDims, build_model

    path = Path(path)
    manifest = verify(path)
    try:
        cfg = _MODEL_CONFIG.validate_python(manifest.hyperparameters)
        model = build_model(cfg, ModelDims(**manifest.dims))
    except (ValidationError, TypeError) as exc:
        raise CheckpointRejected(path, f"cannot build model from manifest: {exc}") from None
    if type(model).__name__ != manifest.model_class:
        raise CheckpointRejected(
            path, f"model class {manifest.model_class} != {type(model).__name__}"
        )
    state = _read_state(path, path / manifest.weights_file)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())[:300]
        raise CheckpointRejected(
            path, f"weights do not fit the model (shape mismatch): {detail}"
        ) from None
    model.to(device).eval()
    return LoadedCheckpoint(path, manifest, model, Normaliser.from_dict(manifest.normaliser))
