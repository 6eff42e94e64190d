"""Health and metrics over HTTP, served by aiohttp inside the daemon's event loop.

``service.http_listen = "127.0.0.1:8787"`` by default (empty: off; port 0: any free port,
logged as ``http_listening``).

- ``GET /healthz``: 200 and a small JSON body while the loop serves (the handler runs on
  it), the heartbeat is fresh (a task beating every second: a loop stalled by blocking
  work shows here), nothing is stopping or failed, and the newest bar is not older than
  ``market.max_staleness_days`` of market time; 503 with ``reason`` otherwise.
- ``GET /metrics``: Prometheus text format (``daemon.metrics``).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from core.clock import Clock
from daemon.config import parse_listen
from daemon.metrics import DaemonMetrics, last_bar_age_s
from strategies.runner import StrategyRunner

__all__ = ["HealthServer", "Heartbeat"]

BEAT_S = 1.0
STALE_BEAT_S = 10.0


@dataclass
class Heartbeat:
    """Beats while the event loop runs; ``age_s`` grows when it is blocked."""

    last: float = field(default_factory=time.monotonic)
    stopping: str | None = None  # why the daemon no longer serves

    async def run(self) -> None:
        while True:
            self.last = time.monotonic()
            await asyncio.sleep(BEAT_S)

    @property
    def age_s(self) -> float:
        return time.monotonic() - self.last


class HealthServer:
    """The aiohttp server; ``start()`` returns the URL it listens on."""

    def __init__(
        self, listen: str, *, metrics: DaemonMetrics, heartbeat: Heartbeat, clock: Clock, trader: StrategyRunner,
        max_staleness: timedelta, started: datetime,
    ) -> None:
        self._host, self._port = parse_listen(listen)
        self._metrics = metrics
        self._heartbeat = heartbeat
        self._clock = clock
        self._trader = trader
        self._max_staleness = max_staleness
        self._started = started
        self._runner: web.AppRunner | None = None
        app = web.Application()
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/metrics", self.metrics)
        self._app = app

    async def start(self) -> str | None:
        """Listen; the URL, or None when the address cannot be bound (logged: the daemon
        goes on trading without its endpoints rather than not at all)."""
        log = structlog.get_logger(component="http")
        self._runner = web.AppRunner(self._app, access_log=None)
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, self._host, self._port).start()
        except OSError as exc:
            log.error("http_unavailable", listen=f"{self._host}:{self._port}", error=str(exc), key="service.http_listen")
            await self._runner.cleanup()
            self._runner = None
            return None
        host, port = self._runner.addresses[0][:2]
        url = f"http://{host}:{port}"
        log.info("http_listening", url=url, endpoints=["/healthz", "/metrics"])
        return url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def health(self) -> tuple[bool, dict[str, object]]:
        """(healthy, body) as ``/healthz`` reports it."""
        now = self._clock.now()
        age = last_bar_age_s(self._clock, self._trader)
        body: dict[str, object] = {
            "sim_time": now.isoformat(),
            "heartbeat_age_s": round(self._heartbeat.age_s, 3),
            "last_bar": self._trader.last_bar_ts.isoformat() if self._trader.last_bar_ts else None,
            "last_bar_age_s": age,
        }
        limit = self._max_staleness.total_seconds()
        reason = None
        if self._heartbeat.stopping:
            reason = self._heartbeat.stopping
        elif self._heartbeat.age_s > STALE_BEAT_S:
            reason = f"heartbeat {self._heartbeat.age_s:.1f} s old: the event loop is blocked"
        elif age is not None and age > limit:
            reason = f"newest bar is {age / 86400:.1f} days old (market.max_staleness_days = {limit / 86400:g})"
        elif age is None and (now - self._started).total_seconds() > limit:
            reason = "no bar received yet"
        body["status"] = "ok" if reason is None else "unhealthy"
        if reason is not None:
            body["reason"] = reason
        return reason is None, body

    async def healthz(self, _request: web.Request) -> web.Response:
        ok, body = self.health()
        return web.json_response(body, status=200 if ok else 503)

    async def metrics(self, _request: web.Request) -> web.Response:
        return web.Response(body=self._metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})
