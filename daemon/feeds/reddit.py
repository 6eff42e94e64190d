"""Posts and top comments from subreddits via asyncpraw.

asyncpraw does the Reddit API (OAuth, listings, comment trees); every HTTP request it
makes goes through ``GuardedRequestor`` (asyncprawcore's documented ``requestor_class``
hook), so Reddit shares the rate limiter, retries and circuit breaker of the other
sources, and asyncprawcore's own slower retry loop only sees final answers.

A post or comment is known when it is created: ``ts = available_at = created_utc``.
Frame ``texts`` with ``channel`` = subreddit, ``source`` = ``reddit``, ``id`` = Reddit
fullname (``t3_...`` posts, ``t1_...`` comments), ``parent_id`` = the post of a comment,
``score`` = as seen at fetch time (so it includes votes cast after ``available_at``: do
not use it as a point-in-time feature). ``since`` bounds ``ts``, never more than
``lookback_days`` back.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import asyncpraw
import asyncprawcore
import numpy as np
import pandas as pd
from asyncpraw.exceptions import AsyncPRAWException

from daemon.feeds.base import FetchResult, Since, as_utc, concat, empty_frame, known_by, since_within
from daemon.feeds.config import RedditConfig
from daemon.feeds.errors import BadResponse, FeedError, RequestRejected, TransientError
from daemon.feeds.http import retry_after_seconds
from daemon.feeds.resilience import Guard

__all__ = ["GuardedRequestor", "RedditSource"]


class GuardedRequestor(asyncprawcore.Requestor):
    """asyncprawcore's requestor with each request run through a Guard."""

    def __init__(self, *args: Any, guard: Guard, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._guard = guard

    @asynccontextmanager
    async def request(
        self, *args: Any, timeout: float | None = None, **kwargs: Any
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        method, url = args[0], args[1]
        what = f"{method} {urlsplit(str(url)).path}"
        response = await self._guard.call(functools.partial(self._attempt, args, kwargs), what=what)
        yield response

    async def _attempt(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> aiohttp.ClientResponse:
        try:
            # The configured timeout wins over the one asyncprawcore passes per call.
            async with super().request(*args, timeout=self.timeout, **kwargs) as response:
                await response.read()  # cache the body: the response is used after release
        except asyncprawcore.RequestException as exc:
            original = exc.original_exception
            if isinstance(original, TimeoutError):
                raise TransientError(f"timed out after {self.timeout:g}s") from None
            raise TransientError(f"connection failed: {type(original).__name__}") from None
        if response.status == 429 or response.status >= 500:
            raise TransientError(f"HTTP {response.status}", retry_after_seconds(response.headers))
        return response


def _text_row(subreddit: str, thing: dict[str, Any], kind: str, parent_id: str | None) -> dict[str, Any]:
    """One ``texts`` row from a post's or comment's attributes; raises ValueError if unusable."""
    thing_id, created = thing.get("id"), thing.get("created_utc")
    if not isinstance(thing_id, str) or isinstance(created, bool) or not isinstance(created, int | float):
        raise ValueError(f"id {thing_id!r} / created_utc {created!r} of the wrong type")
    score = thing.get("score")
    author = thing.get("author")
    ts = pd.Timestamp(created, unit="s", tz="UTC")
    text = thing.get("selftext" if kind == "post" else "body")
    permalink = thing.get("permalink")
    return {
        "channel": subreddit,
        "ts": ts,
        "available_at": ts,
        "source": "reddit",
        "id": f"{'t3' if kind == 'post' else 't1'}_{thing_id}",
        "kind": kind,
        "author": str(author) if author is not None else None,
        "title": thing.get("title") if isinstance(thing.get("title"), str) else None,
        "text": text if isinstance(text, str) and text else None,
        "url": f"https://www.reddit.com{permalink}" if isinstance(permalink, str) else None,
        "parent_id": parent_id,
        "score": float(score) if isinstance(score, int | float) and not isinstance(score, bool) else np.nan,
    }


class RedditSource:
    """``fetch(subreddits, since, until)``: new posts since ``since`` and their top comments."""

    name = "reddit"
    datasets = ("texts",)
    since_column = "ts"

    def __init__(
        self,
        config: RedditConfig,
        guard: Guard,
        *,
        client_id: str,
        client_secret: str,
        user_agent: str,
        redact: Callable[[str], str] = str,
    ) -> None:
        self.config = config
        self.guard = guard
        self._credentials = {"client_id": client_id, "client_secret": client_secret, "user_agent": user_agent}
        self._redact = redact

    def _client(self) -> asyncpraw.Reddit:
        return asyncpraw.Reddit(
            **self._credentials,
            oauth_url=self.config.oauth_url,
            reddit_url=self.config.reddit_url,
            check_for_updates=False,
            requestor_class=GuardedRequestor,
            requestor_kwargs={"guard": self.guard, "timeout": self.config.timeout_s},
        )

    async def fetch(self, subreddits: Sequence[str], since: Since, until: datetime) -> FetchResult:
        until = as_utc(until, "until")
        frames, failures, problems = [], {}, []
        reddit = self._client()
        try:
            for subreddit in subreddits:
                start = since_within(since, subreddit, until, timedelta(days=self.config.lookback_days))
                try:
                    frames.append(await self._subreddit(reddit, subreddit, start, problems))
                except FeedError as exc:
                    failures[subreddit] = self._redact(str(exc))
        finally:
            await reddit.close()
        texts = known_by(concat(frames, "texts"), until, problems, "posts")
        return FetchResult(self.name, {"texts": texts}, failures, problems)

    async def _subreddit(
        self, reddit: asyncpraw.Reddit, name: str, start: pd.Timestamp, problems: list[str]
    ) -> pd.DataFrame:
        try:
            return await self._posts(reddit, name, start, problems)
        except FeedError:
            raise
        except (asyncprawcore.RequestException, aiohttp.ClientError) as exc:
            original = getattr(exc, "original_exception", exc)
            if isinstance(original, FeedError):  # our Guard's verdict, wrapped by asyncprawcore
                raise original from None
            raise TransientError(f"r/{name}: {type(original).__name__}") from None
        except asyncprawcore.BadJSON:
            raise BadResponse(f"r/{name}: malformed JSON") from None
        except (asyncprawcore.AsyncPrawcoreException, AsyncPRAWException) as exc:
            raise RequestRejected(f"r/{name}: {type(exc).__name__}: {exc}") from None
        except (KeyError, TypeError, AttributeError, IndexError) as exc:  # a listing not shaped as documented
            raise BadResponse(f"r/{name}: unexpected response shape ({type(exc).__name__}: {exc})") from None

    async def _posts(
        self, reddit: asyncpraw.Reddit, name: str, start: pd.Timestamp, problems: list[str]
    ) -> pd.DataFrame:
        rows = []
        subreddit = await reddit.subreddit(name)
        async for post in subreddit.new(limit=self.config.posts_per_subreddit):
            try:
                row = _text_row(name, post.__dict__, "post", None)
            except ValueError as exc:
                problems.append(f"r/{name} post: {exc}")
                continue
            if row["ts"] <= start:
                break  # newest first: the rest are already stored
            rows.append(row)
            if self.config.comments_per_post:
                rows.extend(await self._comments(post, name, row["id"], problems))
        return pd.DataFrame(rows) if rows else empty_frame("texts")

    async def _comments(self, post: Any, name: str, post_id: str, problems: list[str]) -> list[dict[str, Any]]:
        post.comment_sort = "top"
        post.comment_limit = self.config.comments_per_post
        await post.load()
        await post.comments.replace_more(limit=0)
        rows = []
        for index in range(min(len(post.comments), self.config.comments_per_post)):
            try:
                rows.append(_text_row(name, post.comments[index].__dict__, "comment", post_id))
            except ValueError as exc:
                problems.append(f"r/{name} comment: {exc}")
        return rows
