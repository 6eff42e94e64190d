"""Rate limiting, retries with backoff and jitter, and circuit breaking for one source.

``Guard.call`` wraps each request of a source: wait for a rate-limit slot, refuse fast
while the breaker is open, retry a ``TransientError`` with exponential backoff and full
jitter (or the source's ``Retry-After``), and give up with ``SourceUnavailable``. Time
comes from an injected monotonic clock and sleep, so tests run without waiting.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog

from daemon.feeds.config import SourceConfig
from daemon.feeds.errors import CircuitOpen, FeedError, QuotaExhausted, SourceUnavailable, TransientError

__all__ = ["CircuitBreaker", "Guard", "TokenBucket"]

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]
Monotonic = Callable[[], float]


class TokenBucket:
    """``rate_per_s`` tokens a second, holding at most ``capacity``; starts full."""

    def __init__(
        self,
        rate_per_s: float,
        capacity: int,
        *,
        max_wait_s: float,
        monotonic: Monotonic = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.rate_per_s = rate_per_s
        self.capacity = capacity
        self.max_wait_s = max_wait_s
        self._monotonic = monotonic
        self._sleep = sleep
        self._tokens = float(capacity)
        self._last = monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate_per_s)
        self._last = now

    async def acquire(self) -> None:
        """Take one token, sleeping until one is free; QuotaExhausted if that is too long."""
        async with self._lock:
            self._refill()
            if self._tokens < 1:
                wait = (1 - self._tokens) / self.rate_per_s
                if wait > self.max_wait_s:
                    raise QuotaExhausted(f"rate limit reached; next request slot in {wait:.0f}s")
                await self._sleep(wait)
                self._refill()
            self._tokens -= 1


class CircuitBreaker:
    """Closed -> open after ``failure_threshold`` failures in a row -> half-open after
    ``reset_after_s`` (one trial call) -> closed on success, open again on failure."""

    def __init__(
        self, source: str, failure_threshold: int, reset_after_s: float, *, monotonic: Monotonic = time.monotonic
    ):
        self.source = source
        self.failure_threshold = failure_threshold
        self.reset_after_s = reset_after_s
        self._monotonic = monotonic
        self._failures = 0
        self._open_until: float | None = None
        self._log = structlog.get_logger(component=f"feeds.{source}")

    @property
    def state(self) -> str:
        if self._open_until is None:
            return "closed"
        return "open" if self._monotonic() < self._open_until else "half_open"

    def before_call(self) -> None:
        if self.state == "open":
            left = self._open_until - self._monotonic()
            raise CircuitOpen(
                f"{self.source} is down (circuit open after {self._failures} failures); next try in {left:.0f}s"
            )

    def record_success(self) -> None:
        if self._open_until is not None:
            self._log.info("circuit_closed", source=self.source)
        self._failures = 0
        self._open_until = None

    def record_failure(self, reason: str, hold_s: float | None = None) -> None:
        """Count a failure; ``hold_s`` (a long Retry-After) opens the circuit that long."""
        self._failures += 1
        if hold_s is None and self._open_until is None and self._failures < self.failure_threshold:
            return
        was_closed = self._open_until is None
        self._open_until = self._monotonic() + max(hold_s or 0.0, self.reset_after_s)
        if was_closed:
            self._log.warning(
                "circuit_opened",
                source=self.source,
                failures=self._failures,
                reason=reason,
                retry_in_s=self.reset_after_s,
            )


class Guard:
    """Rate limiter + retries + breaker around one source's requests."""

    def __init__(
        self,
        source: str,
        limiter: TokenBucket,
        breaker: CircuitBreaker,
        *,
        attempts: int,
        backoff_base_s: float,
        backoff_max_s: float,
        max_retry_after_s: float,
        sleep: Sleep = asyncio.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.source = source
        self.limiter = limiter
        self.breaker = breaker
        self.attempts = attempts
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.max_retry_after_s = max_retry_after_s
        self._sleep = sleep
        self._rng = rng
        self._log = structlog.get_logger(component=f"feeds.{source}")

    @classmethod
    def from_config(
        cls,
        source: str,
        config: SourceConfig,
        *,
        sleep: Sleep = asyncio.sleep,
        monotonic: Monotonic = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> Guard:
        limit, retry = config.rate_limit, config.retry
        limiter = TokenBucket(
            limit.rate_per_s, limit.burst, max_wait_s=limit.max_wait_s, monotonic=monotonic, sleep=sleep
        )
        breaker = CircuitBreaker(
            source, config.breaker.failure_threshold, config.breaker.reset_after_s, monotonic=monotonic
        )
        return cls(
            source,
            limiter,
            breaker,
            attempts=retry.attempts,
            backoff_base_s=retry.backoff_base_s,
            backoff_max_s=retry.backoff_max_s,
            max_retry_after_s=retry.max_retry_after_s,
            sleep=sleep,
            rng=rng,
        )

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max, base * 2**(attempt-1))]."""
        return self._rng() * min(self.backoff_max_s, self.backoff_base_s * 2 ** (attempt - 1))

    async def call(self, request: Callable[[], Awaitable[T]], *, what: str) -> T:
        """Run ``request`` (one attempt; raises TransientError to ask for a retry).

        ``what`` names the request in logs and errors; it must hold no secret and no
        query string.
        """
        for attempt in range(1, self.attempts + 1):
            self.breaker.before_call()
            await self.limiter.acquire()
            try:
                result = await request()
            except TransientError as exc:
                too_long = exc.retry_after is not None and exc.retry_after > self.max_retry_after_s
                self.breaker.record_failure(str(exc), hold_s=exc.retry_after if too_long else None)
                if too_long:
                    raise SourceUnavailable(
                        f"{self.source}: {what}: {exc}; Retry-After {exc.retry_after:.0f}s exceeds max_retry_after_s"
                    ) from None
                if attempt == self.attempts:
                    raise SourceUnavailable(
                        f"{self.source}: {what}: {exc} (gave up after {attempt} attempts)"
                    ) from None
                delay = max(exc.retry_after or 0.0, self.backoff(attempt))
                self._log.warning(
                    "request_retry",
                    source=self.source,
                    what=what,
                    attempt=attempt,
                    reason=str(exc),
                    delay_s=round(delay, 3),
                )
                await self._sleep(delay)
            except FeedError:
                # The source answered (a 4xx, a bad payload): it is up, our request or its data is wrong.
                self.breaker.record_success()
                raise
            else:
                self.breaker.record_success()
                return result
        raise AssertionError("unreachable")  # pragma: no cover
