"""Model serving: the champion checkpoint, the `infer` job's forecasts, and the swap.

``ModelServer`` owns one reference to the serving ``Forecaster``. The `infer` job first
looks for news (a ``CheckpointPublished`` event, a registry folder the ``models`` table
does not know, or an active version changed by ``tradingd models activate|rollback``),
validates each candidate off the event loop (``models.validation``: sha256, weights-only
load, class / dims / schema, smoke forecast, holdout pinball against the champion) and
swaps the reference on the loop thread, between events. A forecast already in flight
holds the old reference and finishes on the old model.

Then it builds point-in-time features from the bars the strategy has seen (and the
bundled macro series as known then), forecasts off the loop, records every target in
``forecasts`` and publishes the tilt target's quantiles as ``ForecastReady``. No look-ahead:
a model serves only at decision times after its training window ends. Without a
champion it says so once and the tilt stays neutral.

A resumed run rebuilds its state by replaying its own history (``daemon.paced``). During
that replay (``start_replay`` .. ``end_replay``) `infer` runs no model and changes nothing:
it re-publishes the forecasts stored in ``forecasts`` for that decision time, with the
version that made them, so the replay decides exactly as the run did even when the active
model changed since. After the replay nothing is served yet, and the first `infer` loads
the version the ``models`` table says is active.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import structlog

from core.clock import Clock
from core.events import CheckpointPublished, Event, ForecastReady, ModelRejected, ModelSwapped, freeze
from daemon.jobs import JobOutcome
from models.config import RunConfig as ModelsConfig
from models.features import PointInTime, prepare_point_in_time, serving_window
from state.models_table import ForecastLog, ModelsTable
from state.store import Store

if TYPE_CHECKING:
    from daemon.jobs import JobContext
    from models.forecaster import Forecaster
    from models.serving_spec import ServingSpec
    from models.validation import HoldoutData
    from state.lake import Lake

__all__ = ["ModelServer", "Served"]

log = structlog.get_logger(component="serving")


@dataclass(frozen=True, slots=True)
class Served:
    """The serving model and its registry version, swapped as one reference."""

    forecaster: Forecaster
    version: str


class ModelServer:
    """Champion, candidates and forecasts of one run. ``manage``: may change the
    ``models`` table (the live daemon); a backtest only reads it."""

    def __init__(
        self, cfg: ModelsConfig, store: Store, run_id: str, clock: Clock, *, timezone: str, manage: bool, live: bool,
        lake: Lake | None = None,
    ) -> None:
        from models.serving_spec import ServingSpec  # torch-free: no model, no torch

        self.cfg, self.clock, self.manage = cfg, clock, manage
        self.spec: ServingSpec = ServingSpec.from_config(cfg)
        self.table = ModelsTable(store)
        self.forecasts = ForecastLog(store, run_id, every=1 if live else 250)
        self.served: Served | None = None
        self._zone = timezone
        self._pending: list[Path] = []
        self._macro: dict[str, PointInTime] | None = None
        self._said: set[str] = set()
        self._read_table = False
        self.replaying = False
        self._lake = lake  # scored texts for the sentiment features (models.data.sentiment)

    def on_published(self, event: CheckpointPublished) -> None:
        """Bus handler: validate this checkpoint at the next chance (the `infer` job)."""
        self._pending.append(Path(event.path))

    @property
    def version(self) -> str | None:
        return self.served.version if self.served else None

    # -- point-in-time inputs (called on the loop thread: the view is not thread-safe) ---

    def prices(self, ctx: JobContext, extra: int = 0) -> pd.DataFrame:
        """(T, N) closes the strategy has seen by now, on an exchange-date index."""
        label = self.spec.label_horizon
        closes = ctx.trader.view.closes(self.cfg.serve.history_days + extra + label)
        local = closes.index.tz_convert(self._zone).tz_localize(None).normalize()
        return closes.set_axis(pd.DatetimeIndex(local, name="date"))

    def macro(self) -> dict[str, PointInTime] | None:
        """The bundled macro series, parsed and sorted once for the as-of joins of every
        bar (available_at-stamped; build_features cuts at as_of)."""
        if not self.spec.use_macro:
            return None
        if self._macro is None:
            from models.data import load_macro

            self._macro = prepare_point_in_time(load_macro())
        return self._macro

    def sentiment(self, prices: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame | None:
        """Scored texts of ``models.data.sentiment``'s model known at ``as_of`` (the panel's
        last date, read as UTC midnight: the same gate build_features applies), for the
        dates of ``prices``; None when sentiment is off or the run has no lake (a
        checkpoint trained with sentiment is then refused, not fed zeros)."""
        if self.spec.sentiment == "off" or self._lake is None:
            return None
        from daemon.sentiment_training import lake_rows

        start = prices.index[0] - pd.Timedelta(days=30)  # texts before the panel weigh < 0.1 %
        rows = lake_rows(self._lake, self.spec.sentiment, as_of, start=start, symbols=tuple(map(str, prices.columns)))
        if rows.empty:  # e.g. the sentiment service fell back to VADER: features read as no news
            self._once("sentiment_rows_missing", f"no texts scored by {self.spec.sentiment!r} in the lake yet")
        return rows

    # -- candidates and the swap -------------------------------------------------------------

    def _candidates(self) -> list[Path]:
        from models.registry import list_checkpoints

        known = self.table.known()
        found = [p for p in list_checkpoints(self.cfg.registry_dir) if p.name not in known]
        pending, self._pending = self._pending, []
        return sorted({p.resolve() for p in [*found, *pending] if p.name not in known}, key=lambda p: p.name)

    def _take_pending(self) -> list[Path]:
        """A backtest validates only what its own retrains published."""
        pending, self._pending = self._pending, []
        return pending

    def _holdout(self, prices: pd.DataFrame) -> HoldoutData:
        import torch

        from models.validation import HoldoutData

        torch.set_num_threads(self.cfg.serve.threads)  # this process only serves

        as_of = prices.index[-1]
        return HoldoutData.build(self.spec, prices, as_of, self.macro(), self.sentiment(prices, as_of))

    def _check(self, path: Path, data: HoldoutData, champion: Forecaster | None) -> tuple[Forecaster, dict]:
        from models.validation import validate

        return validate(path, self.spec, data, champion, self.cfg.swap)

    def _load(self, path: Path, data: HoldoutData) -> Forecaster:
        from models.validation import load_for_serving

        return load_for_serving(path, self.spec, data.panel)

    async def refresh(self, ctx: JobContext) -> list[Event]:
        """Follow the ``models`` table and validate new versions; returns the events."""
        # A backtest reads the table once (its starting champion), then only its own retrains.
        active = self.table.active() if self.manage or not self._read_table else self.version
        self._read_table = True
        candidates = self._candidates() if self.manage else self._take_pending()
        if active == self.version and not candidates:
            return []
        from models.registry import CheckpointRejected
        from models.validation import NotEnoughHistory  # torch: only once there is a model

        data = await ctx.offload(self._holdout, self.prices(ctx, extra=self.cfg.swap.holdout_days))
        events: list[Event] = []
        if active is not None and active != self.version:
            row = self.table.get(active)
            try:
                fc = await ctx.offload(self._load, Path(row["path"]), data)
            except NotEnoughHistory as exc:
                self._wait_for_history(str(exc), candidates)
                return events
            except CheckpointRejected as exc:
                events.append(self._rejected(active, exc.reason, {}))
            else:
                reason = "restart" if self.served is None else "operator"
                events.append(self._swap(fc, active, reason))
        for i, path in enumerate(candidates):
            try:
                events.append(await self._consider(ctx, path, data))
            except NotEnoughHistory as exc:
                self._wait_for_history(str(exc), candidates[i:])
                break
        return events

    def _wait_for_history(self, why: str, candidates: list[Path]) -> None:
        """Too few bars yet to judge a model: keep the candidates for the next infer."""
        self._pending.extend(candidates)
        self._read_table = False
        self._once("waiting_for_history", why)

    async def _consider(self, ctx: JobContext, path: Path, data: HoldoutData) -> Event:
        from models.registry import CheckpointRejected, Manifest

        now = datetime.now(UTC)  # the table records when things happened, in wall time
        family, created = "unknown", ""
        try:
            manifest = Manifest.model_validate_json((path / "manifest.json").read_text())
            family, created = str(manifest.hyperparameters.get("family", "unknown")), manifest.created_at
        except (OSError, ValueError):
            pass  # validate() says what is wrong with it
        if self.manage:
            self.table.add_candidate(path.name, family, str(path), created, now)
        champion = self.served.forecaster if self.served else None
        try:
            fc, metrics = await ctx.offload(self._check, path, data, champion)
        except CheckpointRejected as exc:
            return self._rejected(path.name, exc.reason, {})
        if self.manage:
            reason = "validated" if champion is not None else "validated (no champion to compare)"
            self.table.activate(path.name, reason, metrics, now)
        return self._swap(fc, path.name, "validated")

    def _swap(self, fc: Forecaster, version: str, reason: str) -> ModelSwapped:
        previous = self.version
        self.served = Served(fc, version)  # one reference: in-flight forecasts keep the old one
        self._said.discard("no_champion")
        log.info("model_swapped", version=version, previous=previous, reason=reason)
        return ModelSwapped(ts=self.clock.now(), version=version, previous=previous, reason=reason)

    def _rejected(self, version: str, reason: str, metrics: dict) -> ModelRejected:
        if self.manage:
            self.table.reject(version, reason, metrics, datetime.now(UTC))
        log.warning("model_rejected", version=version, reason=reason, serving=self.version)
        return ModelRejected(ts=self.clock.now(), version=version, reason=reason)

    # -- the infer job -----------------------------------------------------------------------

    def _once(self, key: str, message: str, **fields: object) -> None:
        if key not in self._said:
            self._said.add(key)
            log.info(key, detail=message, **fields)

    def start_replay(self) -> None:
        """From now on `infer` re-publishes stored forecasts (a resumed run's history)."""
        self.replaying = True

    def end_replay(self) -> None:
        self.replaying = False

    async def infer(self, ctx: JobContext) -> JobOutcome:
        if self.replaying:
            return await self._republish(ctx)
        events = await self.refresh(ctx)
        await ctx.emit_all(events)
        outcome = await self._serve(ctx)
        if not events:
            return outcome
        # Not routine: the gate's decisions reach the jobs table in a backtest too.
        return JobOutcome("; ".join([*map(_gate_line, events), outcome.detail]))

    async def _serve(self, ctx: JobContext) -> JobOutcome:
        """Forecast with the serving model, store the forecasts and publish them."""
        served = self.served  # captured: a swap from now on does not touch this forecast
        if served is None:
            why = "no champion model: forecasts off, the tilt stays neutral"
            self._once("no_champion", why, registry=str(self.cfg.registry_dir))
            return JobOutcome(why, routine=True)
        prices = self.prices(ctx)
        if prices.empty:
            return JobOutcome("no bars yet", routine=True)
        as_of = prices.index[-1]
        end = pd.Timestamp(served.forecaster.checkpoint.manifest.training_window.get("end", "2999-01-01"))
        if as_of <= end:
            why = f"model {served.version} was trained on data up to {end.date()}: no forecast before then"
            self._once("model_newer_than_clock", why, version=served.version)
            return JobOutcome(why, routine=True)
        forecast = await ctx.offload(self._forecast, served.forecaster, prices, as_of)
        now = self.clock.now()
        self.forecasts.add(now, forecast.symbols, forecast.targets, forecast.quantiles, forecast.values, served.version)
        event = self._event(forecast, served.version, now)
        if event is None:
            return JobOutcome(f"{served.version}: no symbol had a complete feature window", routine=True)
        await ctx.emit(event)
        return JobOutcome(f"{len(event.symbols)} symbols forecast by {served.version}", routine=True)

    def _forecast(self, fc: Forecaster, prices: pd.DataFrame, as_of: pd.Timestamp):
        from models.forecaster import feature_window
        from models.validation import fit_panel

        # Only the rows the forecast depends on (features.serving_window). Sentiment's decayed
        # score then starts later: texts ~100 trading days before the encoder window weigh
        # 0.5 ** (140 / 3) ~ 1e-14 of it (at the default 3-day half-life).
        window = serving_window(prices, fc.encoder_length)
        panel = self.spec.panel(window, as_of, self.macro(), self.sentiment(window, as_of))
        return fc.forecast(feature_window(fit_panel(fc, panel), fc.encoder_length))

    def _event(self, forecast, version: str, now: datetime) -> ForecastReady | None:
        target = self.cfg.serve.tilt_target
        if target not in forecast.targets:
            raise ValueError(f"models.serve.tilt_target: {target!r} is not a target of {version}")
        values = forecast.values[:, forecast.targets.index(target), :]  # (N, Q)
        ok = np.isfinite(values).all(axis=1)
        if not ok.any():
            return None
        symbols = tuple(s for s, keep in zip(forecast.symbols, ok, strict=True) if keep)
        rv = f"rv_{self.spec.vol_horizon}"  # the risk model's vol source (risk.vol_source)
        vol = forecast.values[ok, forecast.targets.index(rv), :] if rv in forecast.targets else None
        return ForecastReady(
            ts=now, symbols=symbols, levels=tuple(forecast.quantiles), quantiles=freeze(values[ok]),
            horizon=int(target.split("_")[1]), model=version,
            vol=None if vol is None else freeze(vol), vol_horizon=self.spec.vol_horizon or 0,
        )

    async def _republish(self, ctx: JobContext) -> JobOutcome:
        """Replay: the ``ForecastReady`` this decision time published, or nothing where it
        published nothing."""
        event = self.stored_event(self.clock.now())
        if event is None:
            return JobOutcome("replayed: no forecast at this time", routine=True)
        await ctx.emit(event)
        return JobOutcome(f"replayed {len(event.symbols)} forecasts by {event.model}", routine=True)

    def stored_event(self, now: datetime) -> ForecastReady | None:
        """The ``ForecastReady`` of decision time ``now`` rebuilt from its stored rows
        (every target; JSON floats round-trip exactly) through the same `_event` as a live
        forecast, so it carries the tilt's quantiles and the vol source's alike."""
        from models.forecaster import Forecast

        rows = self.forecasts.at(now)
        if not rows:
            return None
        symbols = tuple(dict.fromkeys(r["symbol"] for r in rows))
        targets = tuple(dict.fromkeys(r["target"] for r in rows))
        levels = tuple(json.loads(rows[0]["levels"]))
        values = np.full((len(symbols), len(targets), len(levels)), np.nan)
        for r in rows:
            values[symbols.index(r["symbol"]), targets.index(r["target"])] = json.loads(r["quantiles"])
        return self._event(Forecast(pd.Timestamp(now), symbols, targets, levels, values), rows[0]["model"], now)

    def close(self) -> None:
        self.forecasts.flush()


def _gate_line(event: Event) -> str:
    if isinstance(event, ModelSwapped):
        return f"swapped {event.previous or 'none'} -> {event.version} ({event.reason})"
    return f"rejected {event.version}: {event.reason}"  # ModelRejected: refresh emits no other
