"""Helpers for the feed tests: a scripted loopback HTTP server, a fake clock, fixtures."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from structlog.testing import capture_logs

from daemon.feeds.config import SourceConfig
from daemon.feeds.http import HttpClient
from daemon.feeds.resilience import Guard
from daemon.feeds.secrets import Secrets
from state.lake import Lake

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "feeds"
FAST = {"retry": {"attempts": 3, "backoff_base_s": 0.01, "backoff_max_s": 0.05}, "timeout_s": 2.0}


def fixture(relative: str) -> bytes:
    return (FIXTURES / relative).read_bytes()


def fixture_json(relative: str) -> Any:
    return json.loads(fixture(relative))


class FakeTime:
    """A monotonic clock and a sleep that only advances it (and records each wait)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def make_guard(name: str, config: SourceConfig, clock: FakeTime) -> Guard:
    return Guard.from_config(name, config, sleep=clock.sleep, monotonic=clock.monotonic, rng=lambda: 0.5)


def http_client(
    name: str, config: Any, session: Any, clock: FakeTime, secrets: Secrets, **auth: Mapping[str, str]
) -> HttpClient:
    """The client build_sources would make for ``config``, on the fake clock."""
    return HttpClient(
        name,
        config.base_url,
        session,
        make_guard(name, config, clock),
        timeout_s=config.timeout_s,
        redact=secrets.redact,
        **auth,
    )


def run_logged(scenario: Coroutine[Any, Any, Any], lake: Lake, secret: str) -> tuple[Any, list[dict[str, Any]]]:
    """Run ``scenario`` capturing its logs; check that ``secret`` reached neither the logs
    nor the report's failures, and that no partition was left half-written."""
    with capture_logs() as logs:
        report = asyncio.run(scenario)
    assert secret not in repr(logs) and secret not in repr(getattr(report, "failures", ""))
    assert lake.verify() == []
    return report, logs


@dataclass(frozen=True)
class Step:
    """One scripted answer. ``body`` may be bytes, or any JSON value (sent as JSON)."""

    status: int = 200
    body: Any = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    content_type: str = "application/json"


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


class Loopback:
    """Answers each path with its script, one step per request (the last step repeats)."""

    def __init__(self, script: Mapping[str, list[Step] | Step]) -> None:
        self.script = {path: list(steps) if isinstance(steps, list) else [steps] for path, steps in script.items()}
        self.calls: dict[str, int] = {}
        self.seen: list[Seen] = []
        self.url = ""

    def requests_to(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(Seen(request.method, request.path, dict(request.query), dict(request.headers)))
        steps = self.script.get(request.path)
        if steps is None:
            return web.json_response({"message": f"no route {request.path}"}, status=404)
        index = self.calls.get(request.path, 0)
        self.calls[request.path] = index + 1
        step = steps[min(index, len(steps) - 1)]
        if step.delay_s:
            await asyncio.sleep(step.delay_s)
        body = step.body if isinstance(step.body, bytes) else json.dumps(step.body).encode()
        return web.Response(body=body, status=step.status, headers=dict(step.headers), content_type=step.content_type)

    @asynccontextmanager
    async def running(self):
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, shutdown_timeout=0.2, handler_cancellation=True, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        try:
            yield self
        finally:
            await runner.cleanup()
