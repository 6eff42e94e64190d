"""Sentiment of news and social texts: FinBERT through transformers (VADER as fallback),
entity linking to the universe, and per-symbol daily features.

Names load on first use (PEP 562): the daemon reads ``SentimentConfig`` without torch.
"""

from __future__ import annotations

from core.lazy import lazy_exports

_HOME = {
    "DEFAULT_ALIASES": "models.sentiment.config",
    "LABELS": "models.sentiment.scores",
    "EntityLinker": "models.sentiment.linking",
    "FinbertScorer": "models.sentiment.finbert",
    "ModelUnavailable": "models.sentiment.finbert",
    "OnnxClassifier": "models.sentiment.onnx",
    "Scorer": "models.sentiment.select",
    "Scores": "models.sentiment.scores",
    "SCORE_COLUMNS": "models.sentiment.pipeline",
    "ScoredTexts": "models.sentiment.pipeline",
    "SentimentConfig": "models.sentiment.config",
    "VaderScorer": "models.sentiment.vader",
    "clean_text": "models.sentiment.text",
    "content_hash": "models.sentiment.text",
    "daily_features": "models.sentiment.daily",
    "label_columns": "models.sentiment.scores",
    "model_rows": "models.sentiment.training",
    "length_buckets": "models.sentiment.scores",
    "open_scorer": "models.sentiment.select",
    "quantize_int8": "models.sentiment.finbert",
    "read_rows": "models.sentiment.training",
    "score_texts": "models.sentiment.pipeline",
}

__all__ = sorted(_HOME)

__getattr__ = lazy_exports(__name__, _HOME, globals())
