"""The event bus: ordering, isolation of failures, cascades, live queues."""

from __future__ import annotations

import asyncio
import io
import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from core.bus import EventBus
from core.events import Event
from daemon import logs

T0 = datetime(2020, 1, 2, 21, tzinfo=UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class Pinged(Event):
    n: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Ponged(Event):
    n: int


def json_lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


class TestReplayDelivery:
    def test_each_subscriber_sees_events_in_publish_order(self) -> None:
        bus = EventBus()
        seen: dict[str, list[int]] = {"a": [], "b": []}
        bus.subscribe(Pinged, lambda e: seen["a"].append(e.n), name="a")
        bus.subscribe(Pinged, lambda e: seen["b"].append(e.n), name="b")
        for n in range(5):
            bus.publish(Pinged(ts=T0, n=n))
        assert bus.drain() == 5
        assert seen == {"a": [0, 1, 2, 3, 4], "b": [0, 1, 2, 3, 4]}

    def test_a_cascade_completes_inside_one_drain_in_publish_order(self) -> None:
        bus = EventBus()
        order: list[str] = []

        def on_ping(e: Pinged) -> None:
            order.append(f"a:ping{e.n}")
            bus.publish(Ponged(ts=T0, n=e.n))

        bus.subscribe(Pinged, on_ping, name="a")
        bus.subscribe((Pinged, Ponged), lambda e: order.append(f"b:{type(e).__name__}{e.n}"), name="b")
        bus.publish(Pinged(ts=T0, n=1))
        bus.publish(Pinged(ts=T0, n=2))
        bus.drain()
        # b sees ping1, ping2 before the pongs they caused: publish order, not call depth.
        assert order == ["a:ping1", "b:Pinged1", "a:ping2", "b:Pinged2", "b:Ponged1", "b:Ponged2"]

    def test_a_raising_handler_is_logged_and_isolated(self) -> None:
        stream = io.StringIO()
        logs.configure("info", "json", stream)
        bus = EventBus()
        got: list[int] = []

        def boom(e: Pinged) -> None:
            raise RuntimeError(f"bad {e.n}")

        bus.subscribe(Pinged, boom, name="boom")
        bus.subscribe(Pinged, lambda e: got.append(e.n), name="ok")
        bus.publish(Pinged(ts=T0, n=1))
        bus.publish(Pinged(ts=T0, n=2))
        bus.drain()
        assert got == [1, 2]
        assert bus.failures == {"boom": 2}
        errors = [r for r in json_lines(stream) if r["event"] == "bus_handler_failed"]
        assert [r["error"] for r in errors] == ["RuntimeError: bad 1", "RuntimeError: bad 2"]
        assert errors[0]["event_type"] == "Pinged" and errors[0]["subscriber"] == "boom"


class TestLiveDelivery:
    def test_workers_deliver_in_order_and_join_waits_for_all(self) -> None:
        async def scenario() -> list[int]:
            bus = EventBus(queue_size=4)
            got: list[int] = []
            bus.subscribe(Pinged, lambda e: got.append(e.n), name="a")
            bus.start()
            for n in range(20):
                await bus.publish_wait(Pinged(ts=T0, n=n))
            await bus.join()
            await bus.stop()
            return got

        assert asyncio.run(scenario()) == list(range(20))

    def test_a_slow_consumer_is_logged_and_does_not_stall_others(self) -> None:
        stream = io.StringIO()
        logs.configure("info", "json", stream)
        gate = threading.Event()

        async def scenario() -> tuple[list[int], list[int], list[int]]:
            bus = EventBus(queue_size=2, slow_handler_s=0.001)
            fast: list[int] = []
            slow: list[int] = []

            def slow_handler(e: Pinged) -> None:
                gate.wait(10)  # held until the fast subscriber is done
                slow.append(e.n)

            bus.subscribe(Pinged, lambda e: fast.append(e.n), name="fast")
            bus.subscribe(Pinged, slow_handler, name="slow", blocking=True)
            bus.start()
            for n in range(6):
                bus.publish(Pinged(ts=T0, n=n))  # a handler-side publish never blocks
            while len(fast) < 6:
                await asyncio.sleep(0.001)
            slow_meanwhile = list(slow)
            gate.set()
            await bus.join()
            await bus.stop()
            return fast, slow_meanwhile, slow

        fast, slow_meanwhile, slow = asyncio.run(scenario())
        assert fast == list(range(6))
        assert slow_meanwhile == []  # the slow consumer did not hold the fast one back
        assert slow == list(range(6))
        records = json_lines(stream)
        over = [r for r in records if r["event"] == "bus_queue_over_capacity"]
        assert "slow" in {r["subscriber"] for r in over}
        assert any(r["event"] == "bus_slow_handler" and r["subscriber"] == "slow" for r in records)

    def test_subscribing_after_start_is_refused(self) -> None:
        async def scenario() -> None:
            bus = EventBus()
            bus.start()
            try:
                with pytest.raises(RuntimeError):
                    bus.subscribe(Pinged, lambda e: None)
            finally:
                await bus.stop()

        asyncio.run(scenario())
