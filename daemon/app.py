"""Wiring: builds the components of one run and connects them through the bus.

Live and backtest runs are assembled here from the same parts; they differ only in the
clock, in the feed sources (bundled replay, or Yahoo/FRED/... through the lake), in
whether the recorder commits per event, and in who fires the jobs. This module holds no
behaviour of its own beyond choosing the window and restoring a resumed run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import structlog
from apscheduler.triggers.cron import CronTrigger

from brokers.paper import PaperBroker
from core.bus import EventBus
from core.clock import Clock
from core.events import CheckpointPublished, RunMode
from daemon.backtest_retrain import BacktestRetrainer
from daemon.config import Config
from daemon.cron import parse_cron
from daemon.feeds.bundled import BundledPrices
from daemon.feeds.live_prices import LakePrices
from daemon.jobs import TRADING_JOBS, JobContext, JobRunner
from daemon.logs import bind
from daemon.prices import RunPrices, bundled_prices, session_midnights, yahoo_prices
from daemon.pulls import DataFeeds
from daemon.retrain import RetrainSupervisor
from daemon.sentiment import SentimentService, SentimentStore
from daemon.sentiment_training import sentiment_lake
from daemon.serving import ModelServer
from daemon.version import tradingd_version
from state.recorder import Recorder
from state.store import Ledger, RunInfo, Store, parse_iso
from state.writer import ProcessWriter
from strategies.base import Strategy
from strategies.factory import build_strategy
from strategies.runner import StrategyRunner

__all__ = ["App", "build_app", "history_needs", "last_committed_fire", "next_session_start"]


@dataclass
class App:
    """The components of one run. Drivers (``daemon.service``, ``daemon.backtest``) run it."""

    config: Config
    mode: RunMode
    run_id: str
    resumed: bool
    store: Store
    bus: EventBus
    clock: Clock
    prices: BundledPrices | LakePrices
    trader: StrategyRunner
    broker: PaperBroker
    recorder: Recorder
    jobs: JobRunner
    data: DataFeeds
    triggers: dict[str, CronTrigger]
    window: tuple[datetime, datetime | None]
    serving: ModelServer
    retrainer: RetrainSupervisor | BacktestRetrainer
    # A resumed paced run replays its own history up to here (the last committed cascade).
    sentiment: SentimentService | None = None  # scores TextsReceived; None without a lake
    resume_until: datetime | None = None

    def close(self, status: str) -> None:
        """Flush, record how the run ended, close the database."""
        try:
            self.trader.strategy.close()
            self.serving.close()
            self.recorder.close()
        except Exception:
            status = "failed"
            raise
        finally:
            self.store.finish_run(self.run_id, status, datetime.now(UTC))
            self.store.close()



def history_needs(config: Config, strategy: Strategy) -> dict[str, int]:
    """Bars of history every component of a run reads back, by config key."""
    return strategy.history_needs() | config.broker.history_needs()


def report_short_history(needs: dict[str, int], available: int, source: str) -> None:
    """Say once, at start, which components get less history than they read."""
    short = {key: need - available for key, need in needs.items() if need > available}
    if short:
        structlog.get_logger(component="app").warning(
            "warmup_history_short", source=source, available_bars=available,
            shortfall_bars=dict(sorted(short.items(), key=lambda kv: -kv[1])),
        )


def build_app(
    config: Config,
    *,
    mode: RunMode,
    db_path: str | Path | None = None,
    start: date | None = None,
    end: date | None = None,
    resume: bool = False,
    live: bool = False,
    pace_wall_start: float | None = None,
    strategy: Strategy | None = None,
) -> App:
    """Assemble a run.

    ``mode``: "live" (the daemon, and one-off jobs) or "backtest". ``live`` selects live
    delivery (async bus, one commit per cascade, paced or wall clock); a backtest or a
    one-off job uses the replay clock. ``resume`` continues the newest unfinished live run
    with the same config. The paced daemon rebuilds it by replaying the run from its start
    (``resume_until``, ``daemon.paced``); otherwise cash, positions, open orders and the
    replay position are restored from the ledger.
    ``strategy`` replaces the one ``strategy.name`` selects (custom strategies, tests).
    """
    strategy = strategy or build_strategy(config.strategy, config.allocation, config.risk)
    needs = history_needs(config, strategy)
    store = Store.open(db_path or config.run.db_path)
    try:
        config_hash, info, ledger = _resumable(config, store, mode=mode, resume=resume, live=live)
        prices = _prices(
            config, store, strategy, needs, start=start, end=end, live=live, pace_wall_start=pace_wall_start,
            resume_after=ledger.last_mark_ts if ledger is not None else None,
        )
    except BaseException:
        store.close()
        raise
    clock = prices.clock
    run_id = _open_run(store, info, config, mode=mode, config_hash=config_hash, strategy=strategy, prices=prices)
    bind(run_id=run_id, mode=mode)
    bus = EventBus(queue_size=config.bus.queue_size, slow_handler_s=config.bus.slow_handler_ms / 1000)
    trader, broker, recorder = _trading(config, store, bus, strategy, clock, mode=mode, run_id=run_id, live=live)
    _warm_up(config, prices, trader, broker)
    if ledger is not None:
        _restore(ledger, broker, recorder, trader)

    universe = tuple(config.market.symbols or prices.feed.symbols)
    data = DataFeeds(config, universe=universe, replay=mode == "backtest")
    unavailable = data.unavailable()
    if not strategy.refits_after_decision:
        unavailable["refit"] = f"strategy {strategy.name} refits in the decision (risk.garch.refit_at)"
    triggers = _triggers(config, unavailable)
    serving, retrainer = _learning(config, store, bus, clock, mode=mode, run_id=run_id, live=live)
    sentiment = _sentiment(config, data, universe, db_path or config.run.db_path, set(triggers), bus)
    ctx = JobContext(
        clock=clock, bus=bus, prices=prices.feed, trader=trader, live=live, record_routine=mode == "live",
        data=data, max_staleness=timedelta(days=config.market.max_staleness_days), serving=serving,
        retrainer=retrainer,
    )
    return App(
        config=config, mode=mode, run_id=run_id, resumed=info is not None, store=store, bus=bus,
        clock=clock, prices=prices.feed, trader=trader, broker=broker, recorder=recorder,
        jobs=JobRunner(ctx), data=data, triggers=triggers, window=prices.window, serving=serving,
        retrainer=retrainer, sentiment=sentiment,
        resume_until=last_committed_fire(store, run_id) if info is not None and ledger is None else None,
    )


def _resumable(
    config: Config, store: Store, *, mode: RunMode, resume: bool, live: bool
) -> tuple[str, RunInfo | None, Ledger | None]:
    """The config hash, the run to resume (if asked and found) and its ledger. A paced
    replay rebuilds its state by replaying instead, so it gets no ledger."""
    config_hash = config.config_hash()
    info = store.resumable_run(mode, config_hash) if resume else None
    rebuild = live and config.market.source != "yfinance"
    ledger = store.ledger(info.run_id, config.run.start_cash) if info is not None and not rebuild else None
    return config_hash, info, ledger


def _prices(
    config: Config, store: Store, strategy: Strategy, needs: dict[str, int], *, start: date | None,
    end: date | None, live: bool, pace_wall_start: float | None, resume_after: datetime | None,
) -> RunPrices:
    """The run's price source, sized to the history its components read."""
    market = config.market
    warmup = max([strategy.warmup_bars, 1, *needs.values()])
    history = _history_bars(config, warmup)
    if market.source == "yfinance":
        prices = yahoo_prices(config, history=history, live=live, resume_after=resume_after)
    else:
        prices = bundled_prices(
            config, start=start, end=end, warmup=warmup, history=history, live=live,
            resume_after=resume_after, pace_wall_start=pace_wall_start,
            first_decision=max(strategy.warmup_bars, 1),
        )
        store.times.learn(prices.feed.bar_times)  # the recorder writes each bar time several times
    report_short_history(needs, len(prices.history), market.source)
    return prices


def _trading(
    config: Config, store: Store, bus: EventBus, strategy: Strategy, clock: Clock, *, mode: RunMode, run_id: str,
    live: bool,
) -> tuple[StrategyRunner, PaperBroker, Recorder]:
    """The strategy runner, the paper broker and the recorder, attached to ``bus``."""
    trader = StrategyRunner(
        strategy,
        clock=clock,
        frequency=config.strategy.rebalance,
        timezone=config.market.timezone,
        max_gross=config.broker.max_gross,
    )
    broker = PaperBroker(config.broker, bus=bus, run_id=run_id, cash=config.run.start_cash)
    if mode == "backtest":
        store.fast_writes()
    writer = ProcessWriter(store.path, run_id) if mode == "backtest" and config.store.writer == "process" else None
    # The live daemon commits once per cascade (daemon.service): a kill mid-cascade rolls it back.
    recorder = Recorder(store, run_id, clock=clock, autocommit=mode == "live" and not live, writer=writer)
    trader.attach(bus)
    broker.attach(bus)
    recorder.attach(bus)
    return trader, broker, recorder


def _warm_up(config: Config, prices: RunPrices, trader: StrategyRunner, broker: PaperBroker) -> None:
    """Feed the history bars to the strategy, and the last ones to the broker's impact model."""
    trader.warm_up(prices.history)
    for bar in prices.history[-(config.broker.impact_window + 1) :]:
        broker.remember_prices(bar)


def _learning(
    config: Config, store: Store, bus: EventBus, clock: Clock, *, mode: RunMode, run_id: str, live: bool
) -> tuple[ModelServer, RetrainSupervisor | BacktestRetrainer]:
    """The model server (swapping in published checkpoints) and the retrainer of the run."""
    lake = sentiment_lake(config)
    serving = ModelServer(
        config.models, store, run_id, clock, timezone=config.market.timezone, manage=mode == "live", live=live,
        lake=lake,
    )
    bus.subscribe(CheckpointPublished, serving.on_published, name="serving:checkpoints")
    retrainer = (BacktestRetrainer if mode == "backtest" else RetrainSupervisor)(config.models, bus, clock, lake=lake)
    return serving, retrainer


def _history_bars(config: Config, warmup: int) -> int:
    """Bars of history a run loads: the warm-up, or more when the infer job builds features
    (and the swap gate its holdout) from the same history."""
    models = config.models
    infer = config.jobs.get("infer")
    serve_bars = models.serve.history_days + models.swap.holdout_days + models.data.label_horizon
    return max(warmup, serve_bars if infer is not None and infer.enabled else 0)


def _open_run(
    store: Store, info: RunInfo | None, config: Config, *, mode: RunMode, config_hash: str, strategy: Strategy,
    prices: RunPrices,
) -> str:
    """Reopen the resumed run, or record a new one; its id."""
    if info is not None:
        store.reopen_run(info.run_id)
        return info.run_id
    return store.begin_run(
        mode=mode,
        config_hash=config_hash,
        config_json=json.dumps(config.model_dump(mode="json"), sort_keys=True),
        strategy=strategy.name,
        start_cash=config.run.start_cash,
        started_at=datetime.now(UTC),
        window=prices.window,
        version=tradingd_version(),
    )


def _restore(ledger: Ledger, broker: PaperBroker, recorder: Recorder, trader: StrategyRunner) -> None:
    """Put the ledger's cash, positions, open orders and last target back into a resumed run."""
    broker.restore(
        cash=ledger.cash,
        positions=ledger.positions,
        avg_prices=ledger.avg_prices,
        order_ids=ledger.order_ids,
        pending=ledger.pending,
    )
    recorder.restore(ledger.pending, ledger.positions, ledger.avg_prices)
    trader.restore(ledger.last_target_bar_ts)
    structlog.get_logger(component="app").info(
        "run_resumed",
        last_mark=ledger.last_mark_ts.isoformat() if ledger.last_mark_ts else None,
        cash=round(ledger.cash, 2),
        positions=len(ledger.positions),
        open_orders=len(ledger.pending),
    )


def _triggers(config: Config, unavailable: dict[str, str]) -> dict[str, CronTrigger]:
    """Cron triggers of the enabled jobs whose data sources are available."""
    log = structlog.get_logger(component="app")
    triggers: dict[str, CronTrigger] = {}
    for name, job in config.jobs.items():
        if not job.enabled:
            continue
        if name in unavailable:
            log.info("job_not_scheduled", job=name, reason=unavailable[name])
            continue
        triggers[name] = parse_cron(job.cron, config.market.timezone)
    return triggers



def last_committed_fire(store: Store, run_id: str) -> datetime | None:
    """Fire time of the run's last trading job whose whole cascade is committed."""
    marks = ", ".join("?" * len(TRADING_JOBS))
    (row,) = store.rows(
        f"select max(fired_at) as t from jobs where run_id = ? and job in ({marks})", (run_id, *sorted(TRADING_JOBS))
    )
    return parse_iso(row["t"]) if row["t"] else None


def _sentiment(
    config: Config, data: DataFeeds, universe: tuple[str, ...], db: str | Path, jobs: set[str], bus: EventBus
) -> SentimentService | None:
    """The sentiment service, attached to ``bus``, when it is on and texts can arrive: a lake
    (not a backtest) and a text pull scheduled. Otherwise torch and transformers are never
    imported."""
    if not config.sentiment.enabled or data.lake is None or not jobs & {"pull_news", "pull_social"}:
        return None
    store = SentimentStore(data.lake, db, config.sentiment.half_life_days)
    onnx_dir = Path(config.run.data_dir) / "sentiment" / "onnx"
    service = SentimentService(config.sentiment, universe=universe, store=store, onnx_dir=onnx_dir)
    service.attach(bus)
    return service


def next_session_start(app: App) -> datetime:
    """Midnight (exchange time) of the next bundled session to replay, as UTC."""
    if not isinstance(app.prices, BundledPrices):
        return app.clock.now()
    midnights = session_midnights(app.prices, app.config.market.timezone)
    return midnights[min(app.prices.cursor, len(midnights) - 1)]
