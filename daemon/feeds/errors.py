"""The errors a feed raises. Messages are redacted before construction: they never hold a
credential, and never a URL with its query string."""

from __future__ import annotations

__all__ = [
    "BadResponse",
    "CircuitOpen",
    "FeedError",
    "QuotaExhausted",
    "RequestRejected",
    "SourceUnavailable",
    "TransientError",
]


class FeedError(Exception):
    """Base of every feed failure a job should log and survive."""


class SourceUnavailable(FeedError):
    """The source kept failing (timeouts, connection errors, 429, 5xx) after retries."""


class CircuitOpen(SourceUnavailable):
    """The circuit breaker is open: the source failed recently and is not being called."""


class QuotaExhausted(FeedError):
    """The local rate limit would make the call wait longer than allowed."""


class RequestRejected(FeedError):
    """The source refused the request (a 4xx other than 429): retrying cannot help."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class BadResponse(FeedError):
    """The source answered, but not with what its API documents (malformed, wrong types)."""


class TransientError(FeedError):
    """One attempt failed in a way worth retrying; ``retry_after`` is the source's hint (s)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
