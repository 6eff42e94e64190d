"""Pick the scorer ``[sentiment]`` asks for, or VADER when no weights can be loaded."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from models.sentiment.config import SentimentConfig
from models.sentiment.scores import Scores

__all__ = ["Scorer", "open_scorer"]


class Scorer(Protocol):
    name: str

    def score(self, texts: Sequence[str], max_length: int = 64) -> Scores: ...


def open_scorer(config: SentimentConfig, *, onnx_dir: str | None = None) -> tuple[Scorer, str | None]:
    """(scorer, why the fallback is used or None).

    Raises ``ModelUnavailable`` when the model cannot load and ``fallback = "none"``.
    """
    from models.sentiment.finbert import FinbertScorer, ModelUnavailable

    if config.threads:
        import torch

        torch.set_num_threads(config.threads)
    try:
        scorer = FinbertScorer.load(
            config.model,
            cache_dir=config.cache_dir,
            backend=config.backend,
            device=config.device,
            batch_size=config.batch_size,
            onnx_dir=onnx_dir,
            threads=config.threads,
        )
    except ModelUnavailable as exc:
        if config.fallback == "none":
            raise
        from models.sentiment.vader import VaderScorer

        return VaderScorer(), str(exc)
    return scorer, None
