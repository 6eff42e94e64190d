"""ONNX export (opset >= 17, dynamic batch) and a check against eager PyTorch in
onnxruntime. The graph takes (past, future, static) and returns quantiles (B, K, Q).

``trace_to_onnx`` is the one call of torch's exporter in the project: the forecasters here
and the sentiment classifier (``models.sentiment.onnx``) both go through it."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

__all__ = ["INPUT_NAMES", "check_onnx", "export_onnx", "trace_to_onnx"]

INPUT_NAMES = ("past", "future", "static")


def trace_to_onnx(
    model: nn.Module,
    example: tuple[torch.Tensor, ...],
    path: Path,
    *,
    input_names: tuple[str, ...],
    output_names: tuple[str, ...],
    dynamic_axes: dict[str, dict[int, str]],
    opset: int = 17,
) -> Path:
    """Export ``model`` in eval mode with the TorchScript exporter (``dynamo=False``): it
    handles nn.LSTM natively and needs no onnxscript."""
    if opset < 17:
        raise ValueError("opset must be >= 17")
    with warnings.catch_warnings():
        # The exporter warns about LSTM batch sizes, traced shape asserts and its own
        # deprecation; none applies (no h0/c0 inputs, dynamic axes declared, legacy path
        # pinned on purpose).
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model.eval(),
            example,
            str(path),
            dynamo=False,
            opset_version=opset,
            input_names=list(input_names),
            output_names=list(output_names),
            dynamic_axes=dynamic_axes,
        )
    return Path(path)


def export_onnx(
    model: nn.Module,
    path: Path,
    example: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    opset: int = 17,
) -> Path:
    """Export a forecaster with a symbolic batch axis on every input and the output."""
    axes = {name: {0: "batch"} for name in (*INPUT_NAMES, "quantiles")}
    return trace_to_onnx(
        model, example, path, input_names=INPUT_NAMES, output_names=("quantiles",), dynamic_axes=axes, opset=opset
    )


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
