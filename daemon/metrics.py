"""Prometheus metrics of a running daemon (served on ``GET /metrics`` by ``daemon.health``).

Counters and histograms are fed as things happen: every event the bus delivers (one
subscriber on the base ``Event`` type), each handler's latency (``EventBus.on_handled``),
each job run (``job_done``). Gauges that describe the present (queue depths, the book,
the last bar's age, rows written) are read when Prometheus scrapes, by a collector, so
they cost nothing in between. Everything lives in one ``CollectorRegistry`` per daemon.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from core.bus import EventBus
from core.clock import Clock
from core.events import Event, PortfolioMarked
from state.recorder import Recorder
from strategies.runner import StrategyRunner

__all__ = ["DaemonMetrics"]

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class DaemonMetrics:
    """The daemon's metrics; ``attach`` before the bus starts."""

    def __init__(self, bus: EventBus, clock: Clock, trader: StrategyRunner, recorder: Recorder) -> None:
        self.registry = CollectorRegistry()
        self.events = Counter(
            "tradingd_events_published", "Events published on the bus, by type", ["type"], registry=self.registry
        )
        self.handler_seconds = Histogram(
            "tradingd_handler_seconds", "Time a subscriber took to handle one event", ["subscriber"],
            buckets=_LATENCY_BUCKETS, registry=self.registry,
        )
        self.job_runs = Counter(
            "tradingd_job_runs", "Job runs, by job and outcome (ok, failed)", ["job", "outcome"], registry=self.registry
        )
        self.job_seconds = Histogram(
            "tradingd_job_seconds", "Wall time of a job run including its cascade", ["job"],
            buckets=_LATENCY_BUCKETS, registry=self.registry,
        )
        self.mark: PortfolioMarked | None = None
        self._bus = bus
        self.registry.register(_StateCollector(self, bus, clock, trader, recorder))

    def attach(self) -> None:
        self._bus.subscribe(Event, self._on_event, name="metrics")
        self._bus.on_handled = self.handler_seconds_observe

    def handler_seconds_observe(self, subscriber: str, seconds: float) -> None:
        self.handler_seconds.labels(subscriber).observe(seconds)

    def _on_event(self, event: Event) -> None:
        self.events.labels(type(event).__name__).inc()
        if isinstance(event, PortfolioMarked):
            self.mark = event

    def job_done(self, job: str, ok: bool, seconds: float) -> None:
        self.job_runs.labels(job, "ok" if ok else "failed").inc()
        self.job_seconds.labels(job).observe(seconds)

    def exposition(self) -> bytes:
        """The Prometheus text format of everything."""
        return generate_latest(self.registry)


class _StateCollector(Collector):
    """Gauges read at scrape time."""

    def __init__(
        self, metrics: DaemonMetrics, bus: EventBus, clock: Clock, trader: StrategyRunner, recorder: Recorder
    ) -> None:
        self._metrics = metrics
        self._bus = bus
        self._clock = clock
        self._trader = trader
        self._recorder = recorder

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        depth = GaugeMetricFamily("tradingd_queue_depth", "Events waiting in a subscriber's queue", labels=["subscriber"])
        for sub in self._bus.subscriptions:
            depth.add_metric([sub.name], len(sub.queue))
        yield depth
        mark = self._metrics.mark
        for name, help_text, value in (
            ("tradingd_equity", "Equity at the last mark", mark.equity if mark else None),
            ("tradingd_gross_exposure", "Gross exposure at the last mark", mark.gross if mark else None),
            ("tradingd_cash", "Cash at the last mark", mark.cash if mark else None),
            ("tradingd_last_bar_age_seconds", "Market-time age of the newest bar", last_bar_age_s(self._clock, self._trader)),
        ):
            if value is not None:
                yield GaugeMetricFamily(name, help_text, value=value)
        rows = CounterMetricFamily("tradingd_rows_written", "Rows written to the store, by table", labels=["table"])
        for table, count in self._recorder.rows_written.items():
            rows.add_metric([table], count)
        yield rows


def last_bar_age_s(clock: Clock, trader: StrategyRunner) -> float | None:
    """Seconds of market time since the newest bar (None before the first)."""
    last: datetime | None = trader.last_bar_ts
    return (clock.now() - last).total_seconds() if last is not None else None
