"""ONNX export (opset >= 17, dynamic batch) and a check against eager PyTorch in
onnxruntime. The graph takes (past, future, static) and returns quantiles (B, K, Q)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

__all__ = ["INPUT_NAMES", "check_onnx", "export_onnx"]

INPUT_NAMES = ("past", "future", "static")


def export_onnx(
    model: nn.Module,
    path: Path,
    example: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    opset: int = 17,
) -> Path:
    """Export in eval mode with a symbolic batch axis on every input and the output.

    Uses the TorchScript exporter: it handles nn.LSTM natively and needs no onnxscript.
    """
    if opset < 17:
        raise ValueError("opset must be >= 17")
    model = model.eval()
    axes = {name: {0: "batch"} for name in (*INPUT_NAMES, "quantiles")}
    with warnings.catch_warnings():
        # The exporter warns about LSTM batch sizes and its own deprecation; neither applies
        # (no h0/c0 inputs; we pin the legacy path on purpose, see above).
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            example,
            str(path),
            dynamo=False,
            opset_version=opset,
            input_names=list(INPUT_NAMES),
            output_names=["quantiles"],
            dynamic_axes=axes,
        )
    return Path(path)


def check_onnx(
    model: nn.Module, path: Path, inputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
) -> float:
    """Max absolute difference between onnxruntime and eager on `inputs` (any batch size)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {name: x.numpy() for name, x in zip(INPUT_NAMES, inputs, strict=True)}
    (onnx_out,) = session.run(["quantiles"], feed)
    with torch.no_grad():
        eager = model.eval()(*inputs).numpy()
    return float(np.abs(onnx_out - eager).max())
