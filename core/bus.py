"""The in-process event bus.

Two ways to drive the same subscriptions:

- **Replay** (backtests, one-shot jobs): ``publish`` appends to one FIFO and ``drain``
  delivers synchronously until it is empty. Handlers that publish extend the same FIFO,
  so a timestamp's whole cascade (bars -> marks -> rebalance -> orders -> fills) completes
  inside one ``drain`` and every subscriber sees events in publish order.
- **Live** (the daemon): after ``start()`` each subscriber has its own bounded queue and
  worker task, so one slow consumer does not stall the others. Producers that can wait
  (jobs, feeds) use ``await publish_wait(event)`` and are held back while a queue is
  full; publishes from inside handlers never block (that could deadlock a cascade) and a
  queue over its bound is logged. Slow handlers and lagging consumers are logged with
  their names. ``await join()`` waits until every queue is empty.

A handler that raises is logged with the event and counted; the bus and the other
handlers carry on. Handlers flagged ``blocking`` run in a worker thread in live mode.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from core.events import Event

__all__ = ["EventBus", "Subscription"]

Handler = Callable[[Any], None]


@dataclass(eq=False)
class Subscription:
    """One subscriber: a named handler for some event types."""

    name: str
    handler: Handler
    types: tuple[type[Event], ...]
    blocking: bool = False
    failures: int = 0
    # live-mode state
    queue: deque[Event] = field(default_factory=deque)
    wakeup: asyncio.Event | None = None
    worker: asyncio.Task[None] | None = None
    busy: bool = False
    lagging: bool = False


class EventBus:
    """Publish/subscribe for frozen events; see the module docstring for the two modes."""

    def __init__(
        self,
        *,
        queue_size: int = 10_000,
        slow_handler_s: float = 0.25,
        log: Any = None,
    ) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be >= 1")
        self._queue_size = queue_size
        self._slow_handler_s = slow_handler_s
        self._log = log if log is not None else structlog.get_logger(component="bus")
        self._subs: list[Subscription] = []
        self._routes: dict[type, tuple[Subscription, ...]] = {}
        self._fifo: deque[Event] = deque()
        self._draining = False
        self._live = False
        self._idle: asyncio.Event | None = None
        # Live mode: called with (subscriber name, seconds) after each handled event (metrics).
        self.on_handled: Callable[[str, float], None] | None = None

    # -- subscriptions -------------------------------------------------------------------

    def subscribe(
        self,
        types: type[Event] | tuple[type[Event], ...],
        handler: Handler,
        *,
        name: str | None = None,
        blocking: bool = False,
    ) -> Subscription:
        """Deliver events of ``types`` (and their subclasses) to ``handler``, in order."""
        if self._live:
            raise RuntimeError("subscribe before the bus starts")
        if not isinstance(types, tuple):
            types = (types,)
        sub = Subscription(
            name=name or str(getattr(handler, "__qualname__", repr(handler))),
            handler=handler,
            types=types,
            blocking=blocking,
        )
        self._subs.append(sub)
        self._routes.clear()
        return sub

    @property
    def subscriptions(self) -> tuple[Subscription, ...]:
        return tuple(self._subs)

    def _route(self, event_type: type) -> tuple[Subscription, ...]:
        route = self._routes.get(event_type)
        if route is None:
            route = tuple(s for s in self._subs if issubclass(event_type, s.types))
            self._routes[event_type] = route
        return route

    # -- publishing ----------------------------------------------------------------------

    def publish(self, event: Event) -> None:
        """Queue ``event`` for every subscriber. Never blocks."""
        if not self._live:
            self._fifo.append(event)
            return
        for sub in self._route(type(event)):
            sub.queue.append(event)
            depth = len(sub.queue)
            if depth > self._queue_size and not sub.lagging:
                sub.lagging = True
                self._log.warning(
                    "bus_queue_over_capacity",
                    subscriber=sub.name,
                    depth=depth,
                    capacity=self._queue_size,
                    event_type=type(event).__name__,
                )
            assert sub.wakeup is not None
            sub.wakeup.set()
        assert self._idle is not None
        self._idle.clear()

    async def publish_wait(self, event: Event) -> None:
        """Publish from a producer that can wait: hold back while any target queue is full."""
        if self._live:
            waited = False
            while any(len(s.queue) >= self._queue_size for s in self._route(type(event))):
                if not waited:
                    full = [s.name for s in self._route(type(event)) if len(s.queue) >= self._queue_size]
                    self._log.warning("bus_backpressure", subscribers=full, capacity=self._queue_size)
                    waited = True
                await asyncio.sleep(0.01)
        self.publish(event)

    # -- replay mode ---------------------------------------------------------------------

    def drain(self) -> int:
        """Deliver queued events synchronously until none are left; returns how many.

        Re-entrant calls (a handler calling ``drain``) return at once: the outer loop
        delivers what they would have.
        """
        if self._live:
            raise RuntimeError("drain() is for replay mode; a live bus delivers by itself")
        fifo = self._fifo
        if self._draining or not fifo:
            return 0
        self._draining = True
        delivered = 0
        routes = self._routes
        try:
            while fifo:
                event = fifo.popleft()
                delivered += 1
                route = routes.get(type(event))
                for sub in route if route is not None else self._route(type(event)):
                    try:
                        sub.handler(event)
                    except Exception as exc:  # isolate: log, count, go on
                        self._handler_failed(sub, event, exc)
        finally:
            self._draining = False
        return delivered

    # -- live mode -----------------------------------------------------------------------

    def start(self) -> None:
        """Switch to live delivery: one worker task per subscriber (needs a running loop)."""
        if self._live:
            return
        self._live = True
        self._idle = asyncio.Event()
        self._idle.set()
        pending = list(self._fifo)
        self._fifo.clear()
        for sub in self._subs:
            sub.wakeup = asyncio.Event()
            sub.worker = asyncio.get_running_loop().create_task(
                self._work(sub), name=f"bus:{sub.name}"
            )
        for event in pending:
            self.publish(event)

    async def _work(self, sub: Subscription) -> None:
        assert sub.wakeup is not None
        while True:
            if not sub.queue:
                sub.wakeup.clear()
                self._check_idle()
                await sub.wakeup.wait()
                continue
            event = sub.queue.popleft()
            sub.busy = True
            started = time.perf_counter()
            try:
                if sub.blocking:
                    await asyncio.to_thread(sub.handler, event)
                else:
                    sub.handler(event)
            except Exception as exc:
                self._handler_failed(sub, event, exc)
            finally:
                sub.busy = False
            elapsed = time.perf_counter() - started
            if self.on_handled is not None:
                self.on_handled(sub.name, elapsed)
            if elapsed > self._slow_handler_s:
                self._log.warning(
                    "bus_slow_handler",
                    subscriber=sub.name,
                    event_type=type(event).__name__,
                    seconds=round(elapsed, 3),
                    queue_depth=len(sub.queue),
                )
            if sub.lagging and len(sub.queue) <= self._queue_size // 2:
                sub.lagging = False
                self._log.info("bus_consumer_caught_up", subscriber=sub.name)
            # Yield so a flood of sync handlers cannot starve the loop.
            await asyncio.sleep(0)

    def _check_idle(self) -> None:
        if self._idle is not None and all(not s.queue and not s.busy for s in self._subs):
            self._idle.set()

    async def join(self) -> None:
        """Wait until every subscriber has handled everything published so far."""
        if not self._live:
            self.drain()
            return
        assert self._idle is not None
        while True:
            await self._idle.wait()
            if all(not s.queue and not s.busy for s in self._subs):
                return
            self._idle.clear()

    async def stop(self, timeout: float = 5.0) -> bool:
        """Finish queued events (up to ``timeout`` seconds), then stop the workers.

        Returns False when events were left undelivered.
        """
        if not self._live:
            self.drain()
            return True
        clean = True
        try:
            await asyncio.wait_for(self.join(), timeout)
        except TimeoutError:
            clean = False
            left = {s.name: len(s.queue) for s in self._subs if s.queue}
            self._log.error("bus_stop_timeout", undelivered=left)
        for sub in self._subs:
            if sub.worker is not None:
                sub.worker.cancel()
        await asyncio.gather(*(s.worker for s in self._subs if s.worker), return_exceptions=True)
        self._live = False
        return clean

    # -- failures ------------------------------------------------------------------------

    def _handler_failed(self, sub: Subscription, event: Event, exc: Exception) -> None:
        sub.failures += 1
        self._log.error(
            "bus_handler_failed",
            subscriber=sub.name,
            event_type=type(event).__name__,
            event_ts=event.ts.isoformat() if hasattr(event, "ts") else None,
            error=f"{type(exc).__name__}: {exc}",
            failures=sub.failures,
            exc_info=exc,
        )

    @property
    def failures(self) -> dict[str, int]:
        """Handler failures so far, by subscriber name."""
        return {s.name: s.failures for s in self._subs if s.failures}
