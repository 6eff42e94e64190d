"""Token bucket, circuit breaker and the retrying Guard, on a fake clock."""

from __future__ import annotations

import asyncio

import pytest
from feeds_testkit import FakeTime, make_guard
from numpy.testing import assert_allclose
from structlog.testing import capture_logs

from daemon.feeds.config import FmpConfig
from daemon.feeds.errors import CircuitOpen, QuotaExhausted, RequestRejected, SourceUnavailable, TransientError
from daemon.feeds.resilience import CircuitBreaker, Guard, TokenBucket


class Script:
    """An attempt function that raises or returns the scripted outcomes in order."""

    def __init__(self, *outcomes: object) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    async def __call__(self) -> object:
        outcome = self.outcomes[min(self.calls, len(self.outcomes) - 1)]
        self.calls += 1
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


class TestTokenBucket:
    def test_a_burst_passes_then_requests_are_spaced_at_the_rate(self) -> None:
        clock = FakeTime()
        bucket = TokenBucket(2.0, 3, max_wait_s=10, monotonic=clock.monotonic, sleep=clock.sleep)

        async def take(n: int) -> None:
            for _ in range(n):
                await bucket.acquire()

        asyncio.run(take(5))

        assert_allclose(clock.sleeps, [0.5, 0.5])

    def test_a_wait_longer_than_allowed_fails_fast_with_quota_exhausted(self) -> None:
        clock = FakeTime()
        bucket = TokenBucket(100 / 86400, 1, max_wait_s=60, monotonic=clock.monotonic, sleep=clock.sleep)

        async def take_two() -> None:
            await bucket.acquire()
            await bucket.acquire()

        with pytest.raises(QuotaExhausted, match="next request slot in 864s"):
            asyncio.run(take_two())
        assert clock.sleeps == []


class TestCircuitBreaker:
    def test_opens_after_the_threshold_refuses_then_closes_after_a_successful_trial(self) -> None:
        clock = FakeTime()
        breaker = CircuitBreaker("fmp", failure_threshold=2, reset_after_s=60, monotonic=clock.monotonic)

        with capture_logs() as logs:
            breaker.record_failure("HTTP 503")
            breaker.before_call()  # one failure: still closed
            breaker.record_failure("HTTP 503")
            with pytest.raises(CircuitOpen, match="fmp is down"):
                breaker.before_call()
            clock.now += 61
            breaker.before_call()  # half-open: one trial goes through
            breaker.record_success()

        assert breaker.state == "closed"
        assert [(e["event"], e["log_level"]) for e in logs] == [
            ("circuit_opened", "warning"),
            ("circuit_closed", "info"),
        ]

    def test_a_failed_trial_reopens_the_circuit(self) -> None:
        clock = FakeTime()
        breaker = CircuitBreaker("fmp", failure_threshold=1, reset_after_s=60, monotonic=clock.monotonic)
        breaker.record_failure("timeout")
        clock.now += 61

        breaker.before_call()
        breaker.record_failure("timeout")

        assert breaker.state == "open"


class TestGuard:
    def guard(self, clock: FakeTime, **retry: float) -> Guard:
        config = FmpConfig.model_validate({"retry": {"attempts": 3, "backoff_base_s": 1.0, **retry}})
        return make_guard("fmp", config, clock)

    def test_transient_failures_are_retried_with_jittered_exponential_backoff(self) -> None:
        clock = FakeTime()
        attempt = Script(TransientError("HTTP 500"), TransientError("timed out"), "ok")

        with capture_logs() as logs:
            result = asyncio.run(self.guard(clock).call(attempt, what="GET /ratios"))

        assert (result, attempt.calls) == ("ok", 3)
        assert_allclose(clock.sleeps, [0.5, 1.0])  # rng 0.5 x (1, 2)
        assert [e["event"] for e in logs] == ["request_retry", "request_retry"]

    def test_retry_after_is_honoured_over_a_shorter_backoff(self) -> None:
        clock = FakeTime()
        attempt = Script(TransientError("HTTP 429", retry_after=7.0), "ok")

        asyncio.run(self.guard(clock).call(attempt, what="GET /ratios"))

        assert_allclose(clock.sleeps, [7.0])

    def test_a_retry_after_beyond_the_limit_gives_up_and_holds_the_circuit_open(self) -> None:
        clock = FakeTime()
        guard = self.guard(clock, max_retry_after_s=60)
        attempt = Script(TransientError("HTTP 429", retry_after=3600.0), "ok")

        with pytest.raises(SourceUnavailable, match="Retry-After 3600s exceeds"):
            asyncio.run(guard.call(attempt, what="GET /ratios"))
        with pytest.raises(CircuitOpen):
            asyncio.run(guard.call(attempt, what="GET /ratios"))
        assert attempt.calls == 1 and clock.sleeps == []

    def test_a_rejected_request_is_not_retried(self) -> None:
        clock = FakeTime()
        attempt = Script(RequestRejected("HTTP 401: Invalid API KEY", 401), "ok")

        with pytest.raises(RequestRejected):
            asyncio.run(self.guard(clock).call(attempt, what="GET /ratios"))
        assert attempt.calls == 1

    def test_exhausted_retries_raise_source_unavailable_naming_the_request(self) -> None:
        clock = FakeTime()
        attempt = Script(TransientError("HTTP 503: down"))

        with pytest.raises(SourceUnavailable, match=r"fmp: GET /ratios: HTTP 503: down \(gave up after 3 attempts\)"):
            asyncio.run(self.guard(clock).call(attempt, what="GET /ratios"))
