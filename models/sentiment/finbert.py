"""FinBERT (or any positive/negative/neutral BERT classifier) through transformers.

Loads with ``AutoTokenizer`` / ``AutoModelForSequenceClassification`` from a hub id
(default ``ProsusAI/finbert``) or a local folder; ``HF_HUB_OFFLINE=1`` (or ``offline=True``)
never touches the network. Labels are mapped by name from ``config.id2label``.

Inference: texts are tokenised once without padding, grouped into batches of similar
length (``length_buckets``) and padded per batch, under ``torch.inference_mode``, on CUDA
when present. ``backend="int8"`` quantises the Linear layers dynamically on the CPU;
``backend="onnx"`` runs an int8 ONNX Runtime graph (``models.sentiment.onnx``).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from models.sentiment.scores import Scores, label_columns, length_buckets

__all__ = ["FinbertScorer", "ModelUnavailable", "hub_offline", "load_pretrained", "quantize_int8"]


class ModelUnavailable(RuntimeError):
    """No weights could be loaded (offline without a cached copy, missing folder, not a
    positive/negative/neutral classifier); the message says which and why."""


def hub_offline() -> bool:
    """``HF_HUB_OFFLINE`` as huggingface_hub reads it (1/true/yes/on)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def load_pretrained(source: str, *, cache_dir: str | None = None, offline: bool | None = None) -> tuple[Any, nn.Module]:
    """(tokenizer, model in eval mode) from a hub id or a local folder.

    Raises ``ModelUnavailable`` instead of the many errors transformers can raise.
    """
    local = Path(source).expanduser()
    offline = hub_offline() if offline is None else offline
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    options: dict[str, Any] = {"cache_dir": cache_dir, "local_files_only": offline or local.is_dir()}
    path = str(local) if local.is_dir() else source
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, **options)
        # eager attention: the same graph on every backend, and exportable to ONNX.
        model = AutoModelForSequenceClassification.from_pretrained(path, attn_implementation="eager", **options)
    except (OSError, ValueError, KeyError) as exc:
        where = "offline (HF_HUB_OFFLINE)" if offline and not local.is_dir() else "from " + path
        raise ModelUnavailable(f"cannot load {source!r} {where}: {str(exc).splitlines()[0]}") from exc
    try:
        label_columns(model.config.id2label)
    except ValueError as exc:
        raise ModelUnavailable(f"{source!r}: {exc}") from exc
    return tokenizer, model.eval()


def quantize_int8(model: nn.Module) -> nn.Module:
    """Dynamic int8 quantisation of the Linear layers (weights int8, activations quantised
    per batch at run time); CPU only. The result is a new module."""
    with warnings.catch_warnings():
        # torch 2.10+ points eager quantisation at torchao; the eager API still works and
        # needs no extra dependency.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        return torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)


def _device(device: str) -> torch.device:
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelUnavailable("sentiment.device = 'cuda' but no CUDA device is available")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class FinbertScorer:
    """Scores texts with a sequence classifier. ``name`` is what score rows record.

    ``model``: a classifier in eval mode (fp32, int8-quantised) or an ``OnnxClassifier``,
    which has the same call signature; ``batch_size``: texts per forward pass.
    """

    def __init__(self, tokenizer: Any, model: Any, *, name: str, batch_size: int = 32, device: str = "auto") -> None:
        self.tokenizer = tokenizer
        self.model = model
        self.name = name
        self.batch_size = batch_size
        self.columns = label_columns(model.config.id2label)
        self.device = _device(device) if isinstance(model, nn.Module) else torch.device("cpu")
        if isinstance(model, nn.Module):
            self.model = model.to(self.device)

    @classmethod
    def load(
        cls,
        source: str,
        *,
        cache_dir: str | None = None,
        backend: str = "torch",
        device: str = "auto",
        batch_size: int = 32,
        offline: bool | None = None,
        onnx_dir: str | Path | None = None,
        threads: int | None = None,
    ) -> FinbertScorer:
        """Load ``source`` and prepare ``backend``; the name records both (``ProsusAI/finbert``,
        ``ProsusAI/finbert+int8``, ``ProsusAI/finbert+onnx-int8``)."""
        tokenizer, model = load_pretrained(source, cache_dir=cache_dir, offline=offline)
        if backend == "int8":
            return cls(tokenizer, quantize_int8(model), name=f"{source}+int8", batch_size=batch_size, device="cpu")
        if backend == "onnx":
            from models.sentiment.onnx import OnnxClassifier

            folder = Path(onnx_dir) if onnx_dir is not None else Path(cache_dir or ".") / "onnx"
            onnx = OnnxClassifier.build(model, tokenizer, folder / _slug(source), threads)
            return cls(tokenizer, onnx, name=f"{source}+onnx-int8", batch_size=batch_size)
        return cls(tokenizer, model, name=source, batch_size=batch_size, device=device)

    def encode(self, texts: Sequence[str], max_length: int) -> list[dict[str, list[int]]]:
        """Token ids per text, truncated to ``max_length``, unpadded."""
        encoded = self.tokenizer(list(texts), truncation=True, max_length=max_length)
        keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in encoded]
        return [{k: encoded[k][i] for k in keys} for i in range(len(texts))]

    def probabilities(self, texts: Sequence[str], max_length: int = 64) -> np.ndarray:
        """(N, 3) probabilities in (positive, negative, neutral) order."""
        if not texts:
            return np.zeros((0, 3), dtype=np.float32)
        encoded = self.encode(texts, max_length)
        out = np.empty((len(texts), 3), dtype=np.float32)
        lengths = np.array([len(e["input_ids"]) for e in encoded])
        with torch.inference_mode():
            for batch in length_buckets(lengths, self.batch_size):
                padded = self.tokenizer.pad([encoded[i] for i in batch], return_tensors="pt")
                inputs = {k: v.to(self.device) for k, v in padded.items()}
                logits = self.model(**inputs).logits
                out[batch] = torch.softmax(logits.float(), dim=-1).cpu().numpy()[:, self.columns]
        return out

    def score(self, texts: Sequence[str], max_length: int = 64) -> Scores:
        return Scores.from_probabilities(self.name, self.probabilities(texts, max_length))


def _slug(source: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in source.strip("/"))
