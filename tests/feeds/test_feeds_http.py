"""The shared HTTP client against a loopback server: classification, Retry-After, breaker."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import aiohttp
import pytest
from feeds_testkit import FakeTime, Loopback, Step, make_guard
from numpy.testing import assert_allclose
from structlog.testing import capture_logs

from daemon.feeds.config import NewsApiConfig
from daemon.feeds.errors import BadResponse, CircuitOpen, RequestRejected, SourceUnavailable
from daemon.feeds.http import HttpClient, retry_after_seconds


def config(**overrides: Any) -> NewsApiConfig:
    settings = {
        "timeout_s": 0.3,
        "retry": {"attempts": 3, "backoff_base_s": 0.01},
        "breaker": {"failure_threshold": 3, "reset_after_s": 60},
    }
    return NewsApiConfig.model_validate({**settings, **overrides})


async def get(
    server: Loopback, clock: FakeTime, calls: int = 1, base_url: str | None = None, pause_s: float = 0.0
) -> list[Any]:
    """Make ``calls`` GETs through one client, ``pause_s`` apart on the fake clock; each
    result or raised error is returned."""
    settings = config()
    async with aiohttp.ClientSession() as session:
        client = HttpClient(
            "demo", base_url or server.url, session, make_guard("demo", settings, clock), timeout_s=settings.timeout_s
        )
        results: list[Any] = []
        for call in range(calls):
            clock.now += pause_s if call else 0.0
            try:
                results.append(await client.get_json("/v1/data", {"q": "x"}))
            except Exception as exc:  # noqa: BLE001 - the test inspects what was raised
                results.append(exc)
        return results


def exchange(
    script: list[Step] | Step, calls: int = 1, clock: FakeTime | None = None
) -> tuple[list[Any], Loopback, FakeTime]:
    server, clock = Loopback({"/v1/data": script}), clock or FakeTime()

    async def scenario() -> list[Any]:
        async with server.running():
            return await get(server, clock, calls)

    return asyncio.run(scenario()), server, clock


class TestRetryAfterSeconds:
    def test_reads_delta_seconds_and_http_dates_against_the_responses_date(self) -> None:
        assert retry_after_seconds({"Retry-After": "12"}) == 12.0
        dated = {"Retry-After": "Wed, 21 Oct 2015 07:28:30 GMT", "Date": "Wed, 21 Oct 2015 07:28:00 GMT"}
        assert retry_after_seconds(dated) == 30.0
        assert retry_after_seconds({"Retry-After": "Wed, 21 Oct 2015 07:28:30 GMT"}) is None
        assert retry_after_seconds({}) is None


class TestHttpClient:
    def test_a_json_body_is_returned(self) -> None:
        (result,), server, _ = exchange(Step(body={"ok": [1, 2]}))

        assert result == {"ok": [1, 2]} and server.seen[0].query == {"q": "x"}

    def test_an_http_date_retry_after_is_honoured(self) -> None:
        headers = {"Retry-After": "Wed, 21 Oct 2015 07:28:09 GMT", "Date": "Wed, 21 Oct 2015 07:28:00 GMT"}

        (result,), _, clock = exchange([Step(503, b"busy", headers=headers), Step(body=[])])

        assert result == [] and clock.sleeps == [pytest.approx(9.0)]

    def test_client_errors_other_than_429_are_not_retried_and_carry_the_apis_message(self) -> None:
        (error,), server, _ = exchange(Step(404, {"status": "error", "message": "no such symbol"}))

        assert isinstance(error, RequestRejected) and error.status == 404
        assert str(error) == "HTTP 404: no such symbol" and len(server.seen) == 1

    def test_bodies_that_are_not_json_or_not_utf8_are_bad_responses(self) -> None:
        (malformed, latin1), _, _ = exchange(
            [Step(body=b"{'single': 'quotes'}"), Step(body='{"a": "\xe9"}'.encode("latin-1"))], calls=2
        )

        assert isinstance(malformed, BadResponse) and "malformed JSON" in str(malformed)
        assert isinstance(latin1, BadResponse) and "not UTF-8" in str(latin1)

    def test_a_refused_connection_is_retried_then_reported(self) -> None:
        with socket.socket() as probe:  # a port nobody listens on
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        clock = FakeTime()

        (error,) = asyncio.run(get(Loopback({}), clock, base_url=f"http://127.0.0.1:{port}"))

        assert isinstance(error, SourceUnavailable) and "connection failed" in str(error)
        assert len(clock.sleeps) == 2

    def test_a_source_that_stays_down_opens_the_circuit_and_a_later_success_closes_it(self) -> None:
        clock = FakeTime()
        server = Loopback({"/v1/data": [Step(503, b"down")] * 3 + [Step(body={"back": True})]})

        async def scenario() -> list[Any]:
            async with server.running():
                return await get(server, clock, calls=3, pause_s=31)

        with capture_logs() as logs:
            down, refused, recovered = asyncio.run(scenario())

        assert isinstance(down, SourceUnavailable) and isinstance(refused, CircuitOpen)
        assert "next try in 29s" in str(refused)
        assert recovered == {"back": True} and len(server.seen) == 4  # the open circuit sent nothing
        assert [e["event"] for e in logs if e["event"].startswith("circuit")] == ["circuit_opened", "circuit_closed"]
        assert_allclose(clock.sleeps, [0.005, 0.01])
