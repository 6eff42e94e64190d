"""The ONNX Runtime path: export a classifier once, quantise it to int8, run it on the CPU.

The graph takes ``input_ids``, ``attention_mask`` (and ``token_type_ids`` when the
tokenizer makes them), batch and sequence axes dynamic, and returns ``logits``. The int8
graph comes from onnxruntime's own dynamic quantisation, not torch's. Built graphs are
kept in a folder keyed by a fingerprint of the weights, so a restart does not re-export.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from models.export import trace_to_onnx

__all__ = ["OnnxClassifier", "export_classifier", "fingerprint"]


@dataclass(frozen=True, slots=True)
class _Output:
    logits: torch.Tensor


def fingerprint(model: nn.Module) -> str:
    """sha256 of the config and every parameter: which weights a built graph came from."""
    digest = hashlib.sha256(model.config.to_json_string().encode())
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def export_classifier(model: nn.Module, tokenizer: Any, path: Path, opset: int = 17) -> tuple[str, ...]:
    """Export ``model`` to ``path`` (fp32); returns the graph's input names."""
    example = tokenizer(["an example headline", "a"], padding=True, return_tensors="pt")
    names = tuple(k for k in ("input_ids", "attention_mask", "token_type_ids") if k in example)
    axes = {name: {0: "batch", 1: "sequence"} for name in names} | {"logits": {0: "batch"}}
    path.parent.mkdir(parents=True, exist_ok=True)
    example_inputs = tuple(example[n] for n in names)
    trace_to_onnx(model, example_inputs, path, input_names=names, output_names=("logits",), dynamic_axes=axes, opset=opset)
    return names


class OnnxClassifier:
    """An int8 ONNX Runtime session that a ``FinbertScorer`` calls like the torch model."""

    def __init__(self, path: Path, config: Any, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.path = Path(path)
        self.config = config
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_names = tuple(i.name for i in self.session.get_inputs())

    @classmethod
    def build(cls, model: nn.Module, tokenizer: Any, folder: Path, threads: int | None = None) -> OnnxClassifier:
        """Export and quantise into ``folder`` unless a graph of these weights is there."""
        from onnxruntime.quantization import QuantType, quantize_dynamic

        target = folder / f"model-{fingerprint(model)}.int8.onnx"
        if not target.exists():
            fp32 = target.with_suffix(".fp32.tmp")
            export_classifier(model, tokenizer, fp32)
            partial = target.with_suffix(".tmp")
            quantize_dynamic(str(fp32), str(partial), weight_type=QuantType.QInt8)
            partial.replace(target)  # atomic: a crash never leaves a half-written graph
            fp32.unlink()
        return cls(target, model.config, threads)

    def __call__(self, **inputs: torch.Tensor) -> _Output:
        feed = {name: inputs[name].cpu().numpy().astype(np.int64) for name in self.input_names}
        (logits,) = self.session.run(["logits"], feed)
        return _Output(torch.from_numpy(logits))
