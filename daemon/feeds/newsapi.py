"""News articles per ticker from NewsAPI's ``/everything`` endpoint.

The key travels in the ``X-Api-Key`` header, never in the URL. An article is known when
it is published: ``ts = available_at = publishedAt``. Frame ``texts`` with ``channel`` =
the ticker the query was for, ``source`` = ``newsapi``, ``id`` = the article URL,
``kind`` = ``article``, ``text`` = description and content (NewsAPI truncates content).
``since`` bounds ``ts``, and a pull never reaches back more than ``lookback_days``. Articles
come newest first, so a gap longer than ``max_pages`` pages is not filled later.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from daemon.feeds.base import FetchResult, Since, as_utc, concat, empty_frame, known_by, since_within
from daemon.feeds.config import NewsApiConfig
from daemon.feeds.errors import BadResponse, FeedError, RequestRejected
from daemon.feeds.http import HttpClient

__all__ = ["NewsApiSource", "parse_articles"]

_TEXT_FIELDS = ("author", "title", "description", "content")


def parse_articles(channel: str, payload: Any, problems: list[str]) -> tuple[pd.DataFrame, int]:
    """A ``/everything`` response -> (``texts`` rows, ``totalResults``).

    Raises RequestRejected for ``status: error`` and BadResponse for any other shape than
    NewsAPI documents; articles that cannot be used are skipped and described in ``problems``.
    """
    if not isinstance(payload, dict):
        raise BadResponse(f"{channel}: expected a JSON object, got {type(payload).__name__}")
    if payload.get("status") == "error":
        raise RequestRejected(f"{channel}: {payload.get('code')}: {payload.get('message')}")
    articles, total = payload.get("articles"), payload.get("totalResults")
    if payload.get("status") != "ok" or not isinstance(articles, list) or not isinstance(total, int):
        raise BadResponse(f"{channel}: response lacks status ok, an articles list or an integer totalResults")
    rows = []
    for number, article in enumerate(articles):
        where = f"{channel} article {number}"
        if not isinstance(article, dict):
            problems.append(f"{where}: not an object")
            continue
        url, published = article.get("url"), article.get("publishedAt")
        wrong = [f for f in _TEXT_FIELDS if article.get(f) is not None and not isinstance(article.get(f), str)]
        if not isinstance(url, str) or not url or wrong:
            problems.append(f"{where}: missing url or non-text fields {wrong}")
            continue
        try:
            ts = as_utc(published, "publishedAt") if isinstance(published, str) else None
        except ValueError:
            ts = None
        if ts is None:
            problems.append(f"{where}: publishedAt {published!r} is not a time with a zone")
            continue
        publisher = article.get("source", {}).get("name") if isinstance(article.get("source"), dict) else None
        text = "\n\n".join(t for t in (article.get("description"), article.get("content")) if t)
        rows.append(
            {
                "channel": channel,
                "ts": ts,
                "available_at": ts,
                "source": "newsapi",
                "id": url,
                "kind": "article",
                "author": article.get("author") or (publisher if isinstance(publisher, str) else None),
                "title": article.get("title"),
                "text": text or None,
                "url": url,
                "parent_id": None,
                "score": np.nan,
            }
        )
    return (pd.DataFrame(rows) if rows else empty_frame("texts")), total


class NewsApiSource:
    """``fetch(tickers, since, until)``: up to ``max_pages`` pages of articles per ticker."""

    name = "newsapi"
    datasets = ("texts",)
    since_column = "ts"

    def __init__(self, config: NewsApiConfig, http: HttpClient) -> None:
        self.config = config
        self.http = http

    async def fetch(self, tickers: Sequence[str], since: Since, until: datetime) -> FetchResult:
        until = as_utc(until, "until")
        frames, failures, problems = [], {}, []
        for ticker in tickers:
            start = since_within(since, ticker, until, timedelta(days=self.config.lookback_days))
            try:
                frames.extend(await self._pages(ticker, start, until, problems))
            except FeedError as exc:
                failures[ticker] = self.http.redact(str(exc))
        texts = known_by(concat(frames, "texts"), until, problems, "articles")
        return FetchResult(self.name, {"texts": texts}, failures, problems)

    async def _pages(
        self, ticker: str, start: pd.Timestamp, until: pd.Timestamp, problems: list[str]
    ) -> list[pd.DataFrame]:
        frames: list[pd.DataFrame] = []
        seen = 0
        for page in range(1, self.config.max_pages + 1):
            params = {
                "q": self.config.queries.get(ticker, ticker),
                "from": start.strftime("%Y-%m-%dT%H:%M:%S"),
                "to": until.strftime("%Y-%m-%dT%H:%M:%S"),
                "language": self.config.language,
                "sortBy": "publishedAt",
                "pageSize": self.config.page_size,
                "page": page,
            }
            try:
                payload = await self.http.get_json("everything", params)
            except RequestRejected as exc:
                if page == 1:
                    raise
                problems.append(f"{ticker}: stopped at page {page}: {exc}")  # e.g. the free plan's 100-result cap
                break
            frame, total = parse_articles(ticker, payload, problems)
            frames.append(frame)
            batch = len(payload["articles"])
            seen += batch
            if batch < self.config.page_size or seen >= total:
                break
        return frames
