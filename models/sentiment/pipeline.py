"""From raw texts to score rows: clean, de-duplicate, link, score. No storage, no clock.

Input: rows of the lake's ``texts`` dataset. Output: rows of its ``sentiment`` dataset
(``SCORE_COLUMNS``), one per new text and model.
"""

from __future__ import annotations

from collections.abc import MutableSet
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.sentiment.config import SentimentConfig
from models.sentiment.linking import EntityLinker
from models.sentiment.select import Scorer
from models.sentiment.text import clean_text, content_hash

__all__ = ["SCORE_COLUMNS", "ScoredTexts", "score_texts"]

SCORE_COLUMNS = (
    "channel", "ts", "available_at", "source", "id", "model", "hash", "kind", "symbols",
    "p_positive", "p_negative", "p_neutral", "score", "label", "snippet",
)  # fmt: skip
SNIPPET = 200


@dataclass(frozen=True, slots=True)
class ScoredTexts:
    """``rows``: ``SCORE_COLUMNS`` for the texts scored; ``duplicates``: texts whose content
    was scored before (in this batch, or in ``seen``); ``skipped``: empty texts."""

    rows: pd.DataFrame
    duplicates: int
    skipped: int


def _prepared(texts: pd.DataFrame, include_body: bool) -> pd.DataFrame:
    title = texts["title"].map(clean_text) if "title" in texts else pd.Series("", index=texts.index)
    body = texts["text"].map(clean_text) if "text" in texts else pd.Series("", index=texts.index)
    if not include_body:
        body = body.where(title == "", "")  # a comment has no title: its text is all there is
    joined = [t if not b else b if not t else f"{t}{'' if t[-1] in '.!?:' else '.'} {b}" for t, b in zip(title, body, strict=True)]
    return texts.assign(
        _content=joined,
        _has_body=(body != "").to_numpy(),
        # A headline identifies an article whatever body a source sends with it (NewsAPI's
        # description, a Reddit link post's empty one); a text without one is its body.
        hash=[content_hash(t or b) for t, b in zip(title, body, strict=True)],
    )


def score_texts(
    texts: pd.DataFrame,
    scorer: Scorer,
    linker: EntityLinker,
    config: SentimentConfig,
    seen: MutableSet[str] | None = None,
) -> ScoredTexts:
    """Score the texts of ``texts`` (lake ``texts`` rows) not seen before.

    A text's content hash (its headline, else its body; case and markup ignored) joins ``seen``
    once scored, so the same article from another source, channel or pull is scored once:
    the earliest ``available_at`` wins. Headlines truncate at ``headline_max_length``
    tokens, texts with a body at ``body_max_length``.
    """
    seen = set() if seen is None else seen
    empty = pd.DataFrame({c: pd.Series(dtype=object) for c in SCORE_COLUMNS})
    if texts.empty:
        return ScoredTexts(empty, 0, 0)
    frame = _prepared(texts.sort_values("available_at", kind="stable"), config.include_body)
    blank = frame["_content"] == ""
    fresh = frame[~blank & ~frame["hash"].duplicated() & ~frame["hash"].isin(seen)]
    duplicates = int((~blank).sum()) - len(fresh)
    if fresh.empty:
        return ScoredTexts(empty, duplicates, int(blank.sum()))
    probabilities = np.empty((len(fresh), 3), dtype=np.float32)
    score = np.empty(len(fresh), dtype=np.float32)
    labels = np.empty(len(fresh), dtype=object)
    for has_body, length in ((False, config.headline_max_length), (True, config.body_max_length)):
        mask = (fresh["_has_body"] == has_body).to_numpy()
        if mask.any():
            scores = scorer.score(fresh["_content"][mask].tolist(), max_length=length)
            probabilities[mask], score[mask], labels[mask] = scores.probabilities, scores.score, scores.labels
    rows = pd.DataFrame(
        {
            "channel": fresh["channel"].to_numpy(),
            "ts": fresh["ts"].to_numpy(),
            "available_at": fresh["available_at"].to_numpy(),
            "source": fresh["source"].to_numpy(),
            "id": fresh["id"].astype(str).to_numpy(),
            "model": scorer.name,
            "hash": fresh["hash"].to_numpy(),
            "kind": fresh["kind"].to_numpy() if "kind" in fresh else None,
            "symbols": [" ".join(linker.link(c)) for c in fresh["_content"]],
            "p_positive": probabilities[:, 0].astype(np.float64),
            "p_negative": probabilities[:, 1].astype(np.float64),
            "p_neutral": probabilities[:, 2].astype(np.float64),
            "score": score.astype(np.float64),
            "label": labels,
            "snippet": [c[:SNIPPET] for c in fresh["_content"]],
        }
    )
    rows["ts"] = pd.to_datetime(rows["ts"], utc=True)
    rows["available_at"] = pd.to_datetime(rows["available_at"], utc=True)
    seen.update(rows["hash"])
    return ScoredTexts(rows, duplicates, int(blank.sum()))
