"""The retrain job's supervisor: `torchrun` on the training entry point, beside the loop.

``launch`` starts ``python -m torch.distributed.run --nproc_per_node=N -m models``
with ``asyncio.create_subprocess_exec`` in its own process group and returns at once; a
task reads the trainer's output (re-logged as structured lines with ``component=trainer``
and the retrain id), enforces ``models.retrain.timeout_s`` by ending the whole group, and
on exit publishes ``CheckpointPublished`` for the version it added to the registry (the
serving side validates it at the next `infer`), or ``JobFailed`` with the reason. At most
one retrain runs; a fire while one runs is skipped and says which one.

No look-ahead: the training window ends ``swap.holdout_days`` + the label horizon
business days before the job's time (that tail is the swap gate's holdout), and the
trainer's own splits purge and embargo inside it. The registry's publish is a rename, so
a trainer killed at any point leaves no half-published version.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import re
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pandas as pd
import structlog

from core.bus import EventBus
from core.clock import Clock
from core.events import CheckpointPublished, Event, JobFailed, JobFinished
from daemon.jobs import JobOutcome
from models.config import RunConfig as ModelsConfig

if TYPE_CHECKING:
    from daemon.jobs import JobContext
    from state.lake import Lake

__all__ = ["RetrainFailed", "RetrainPlan", "RetrainSupervisor", "plan_retrain", "torchrun_command"]

log = structlog.get_logger(component="retrain")
trainer_log = structlog.get_logger(component="trainer")

# structlog's console line: "<date> <time> [<level>   ] <event>   key=value ..."
_CONSOLE = re.compile(r"^[^\[]*\[(?P<level>\w+)\s*\] (?P<event>\S+)\s*(?P<rest>.*)$")
_PAIR = re.compile(r"(\w+)=('[^']*'|\S+)")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True, slots=True)
class RetrainPlan:
    """One retrain: its id, the processes and the training window (inclusive dates)."""

    retrain_id: str
    nproc: int
    backend: str
    start: str
    end: str


def _nproc(setting: int | str) -> tuple[int, str]:
    """`"auto"`: every visible CUDA device with NCCL, else 2 CPU processes with gloo."""
    import torch

    cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if setting == "auto":
        return (cuda, "nccl") if cuda else (2, "gloo")
    return int(setting), "nccl" if cuda else "gloo"


def plan_retrain(cfg: ModelsConfig, decision: pd.Timestamp) -> RetrainPlan:
    """The window ends before the holdout the swap gate scores on; nothing after `decision`."""
    reserve = cfg.swap.holdout_days + cfg.data.label_horizon
    end = (pd.Timestamp(decision).normalize() - pd.offsets.BDay(reserve)).date()
    start = (pd.Timestamp(end) - pd.Timedelta(days=cfg.retrain.window_days)).date()
    nproc, backend = _nproc(cfg.train.nproc_per_node)
    rid = f"retrain-{pd.Timestamp(decision):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    return RetrainPlan(rid, nproc, backend, start.isoformat(), end.isoformat())


def _overrides(tree: dict[str, Any], prefix: str = "") -> Iterator[str]:
    """`key.path=value` for every leaf, values as TOML literals (JSON literals are TOML)."""
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _overrides(value, f"{prefix}{key}.")
        elif value is not None:
            yield f"{prefix}{key}={json.dumps(value)}"


def torchrun_command(cfg: ModelsConfig, plan: RetrainPlan) -> list[str]:
    """The subprocess argv: the daemon's `[models]` config, with the retrain's window,
    run folder and train.nproc_per_node resolved."""
    tree = cfg.model_dump(mode="json", exclude={"serve", "swap", "retrain", "backtest_retrain", "tune"})
    tree["data"] |= {"start": plan.start, "end": plan.end}
    tree["run_dir"] = str(cfg.run_dir / plan.retrain_id)
    tree["train"]["nproc_per_node"] = plan.nproc
    if cfg.retrain.nnodes > 1:
        rdzv = ["--nnodes", str(cfg.retrain.nnodes), "--rdzv_backend=c10d",
                f"--rdzv_endpoint={cfg.retrain.rdzv_endpoint}", f"--rdzv_id={plan.retrain_id}"]
    else:
        rdzv = ["--standalone"]
    sets = [arg for item in _overrides(tree) for arg in ("--set", item)]
    return [sys.executable, "-m", "torch.distributed.run", *rdzv, f"--nproc_per_node={plan.nproc}",
            "-m", "models", *sets]


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the daemon dies, even by kill -9, so an orphan
    trainer never publishes for a daemon that is gone (torchrun then stops its workers).
    prctl is Linux's; elsewhere the timeout still bounds the run."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _relog(line: str, retrain_id: str) -> None:
    line = _ANSI.sub("", line).rstrip()
    if not line:
        return
    try:
        fields = json.loads(line)
    except ValueError:
        fields = None
    if isinstance(fields, dict) and "event" in fields:
        event = str(fields.pop("event"))
        level = str(fields.pop("level", "info"))
        fields.pop("timestamp", None)
        fields.pop("component", None)
    elif (match := _CONSOLE.match(line)) is not None:
        event, level = match["event"], match["level"]
        fields = {k: v.strip("'") for k, v in _PAIR.findall(match["rest"]) if k != "component"}
    else:
        event, level, fields = "trainer_output", "info", {"line": line[:500]}
    method = getattr(trainer_log, level if level in ("debug", "info", "warning", "error") else "info")
    method(event, retrain_id=retrain_id, **{k: v for k, v in fields.items() if k not in ("retrain_id", "ts")})


class RetrainFailed(RuntimeError):
    """A retrain crashed, timed out or published nothing (the message says which)."""


class RetrainSupervisor:
    """At most one retrain subprocess at a time; never blocks the event loop."""

    def __init__(self, cfg: ModelsConfig, bus: EventBus, clock: Clock, *, lake: Lake | None = None) -> None:
        self.cfg, self.bus, self.clock = cfg, bus, clock
        self.lake = lake  # scored texts for models.data.sentiment, handed to the trainer as a file
        self.task: asyncio.Task | None = None
        self.current: RetrainPlan | None = None
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    async def launch(self, ctx: JobContext) -> JobOutcome:
        if self.running and self.current is not None:
            return JobOutcome(f"retrain {self.current.retrain_id} still running: not started", skipped=True)
        fired = self.clock.now()
        plan = plan_retrain(self.cfg, pd.Timestamp(fired).tz_convert(None))
        before = set(self._versions())
        cfg = await ctx.offload(self._with_sentiment_rows, plan)
        proc = await asyncio.create_subprocess_exec(
            *torchrun_command(cfg, plan), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            start_new_session=True, preexec_fn=_die_with_parent,
        )
        self.current, self._proc = plan, proc
        log.info("retrain_started", retrain_id=plan.retrain_id, pid=proc.pid, nproc=plan.nproc,
                 backend=plan.backend, window_start=plan.start, window_end=plan.end)
        outcome = f"{plan.retrain_id} started: {plan.nproc} x {plan.backend}, window {plan.start}..{plan.end}"
        if ctx.live:  # the loop goes on; the task reports on the bus when the trainer exits
            self.task = asyncio.create_task(self._report(proc, plan, before, fired), name=plan.retrain_id)
            return JobOutcome(outcome)
        # A replay (backtest, one-off job) has no later moment to hear back: wait here.
        published, reason = await self._supervise(proc, plan, before)
        if reason is not None:
            raise RetrainFailed(f"{plan.retrain_id}: {reason}")
        await ctx.emit(self._published(plan, published))
        return JobOutcome(f"{plan.retrain_id} published {published}")

    def _with_sentiment_rows(self, plan: RetrainPlan) -> ModelsConfig:
        """The config with ``data.sentiment_rows``: the lake's scored texts known at the
        window's end, written for the trainer (which cannot read the lake)."""
        d = self.cfg.data
        if d.sentiment == "off" or d.sentiment_rows is not None or self.lake is None:
            return self.cfg
        from daemon.sentiment_training import export_training_rows

        window = d.model_copy(update={"end": pd.Timestamp(plan.end).date()})
        path = export_training_rows(self.lake, window, self.cfg.run_dir / plan.retrain_id / "sentiment_rows.parquet")
        return self.cfg.model_copy(update={"data": d.model_copy(update={"sentiment_rows": path})})

    def _versions(self) -> list[str]:
        from models.registry import list_checkpoints

        return [p.name for p in list_checkpoints(self.cfg.registry_dir)]

    async def _beat(self, plan: RetrainPlan) -> None:
        """While a retrain runs, the loop logs a heartbeat with its own lateness: the
        evidence that nothing waits on the trainer."""
        interval = self.cfg.retrain.heartbeat_s
        while True:
            due = time.monotonic() + interval
            await asyncio.sleep(interval)
            log.info("retrain_heartbeat", retrain_id=plan.retrain_id, loop_lag_ms=round((time.monotonic() - due) * 1e3, 1))

    def _published(self, plan: RetrainPlan, version: str) -> CheckpointPublished:
        path = self.cfg.registry_dir / version
        return CheckpointPublished(ts=self.clock.now(), version=version, path=str(path), retrain_id=plan.retrain_id)

    async def _supervise(
        self, proc: asyncio.subprocess.Process, plan: RetrainPlan, before: set[str]
    ) -> tuple[str | None, str | None]:
        """Wait for the trainer; (the version it published, None) or (None, why it failed)."""
        started = time.monotonic()
        beat = asyncio.create_task(self._beat(plan))
        try:
            reason = await self._wait(proc, plan)
        finally:
            beat.cancel()
            self.current = self._proc = None
        published = sorted(set(self._versions()) - before)
        if reason is None and not published:
            reason = "the trainer exited 0 but published nothing"
        if reason is not None:
            log.error("retrain_failed", retrain_id=plan.retrain_id, reason=reason)
            return None, reason
        log.info("retrain_published", retrain_id=plan.retrain_id, version=published[-1],
                 duration_s=round(time.monotonic() - started, 1))
        return published[-1], None

    async def _report(
        self, proc: asyncio.subprocess.Process, plan: RetrainPlan, before: set[str], fired: datetime
    ) -> None:
        """Live: the outcome as events once the trainer exits (JobFailed with the reason)."""
        version, reason = await self._supervise(proc, plan, before)
        now = self.clock.now()
        events: list[Event] = (
            [JobFailed(ts=now, job="retrain", fired_at=fired, error=f"{plan.retrain_id}: {reason}")]
            if version is None
            else [self._published(plan, version),
                  JobFinished(ts=now, job="retrain", fired_at=fired, detail=f"{plan.retrain_id} published {version}")]
        )
        for event in events:
            self.bus.publish(event)

    async def _wait(self, proc: asyncio.subprocess.Process, plan: RetrainPlan) -> str | None:
        """Relay output until exit; the reason it failed, or None."""
        last: list[str] = []

        async def relay() -> None:
            assert proc.stdout is not None
            async for raw in proc.stdout:
                line = raw.decode(errors="replace")
                text = line.strip()
                if "tradingd train: " in text:  # the trainer's own one-line reason wins
                    last[:] = [text[text.index("tradingd train: "):], "reason"]
                elif text.strip("=*-") and (len(last) < 2):
                    last[:] = [text]
                _relog(line, plan.retrain_id)

        try:
            await asyncio.wait_for(asyncio.gather(relay(), proc.wait()), self.cfg.retrain.timeout_s)
        except TimeoutError:
            await self._stop(proc)
            return f"timed out after {self.cfg.retrain.timeout_s:g} s (models.retrain.timeout_s): process group ended"
        if proc.returncode:
            tail = f": {last[0][:200]}" if last else ""
            return f"trainer exited with code {proc.returncode}{tail}"
        return None

    async def _stop(self, proc: asyncio.subprocess.Process) -> None:
        """SIGTERM the whole group, SIGKILL whatever is left after 10 s."""
        for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                await asyncio.wait_for(proc.wait(), grace)
                return
            except TimeoutError:
                continue

    async def close(self) -> None:
        """At shutdown: end a running retrain's process group; it publishes nothing."""
        proc, task = self._proc, self.task
        if task is not None and not task.done():
            task.cancel()
            if proc is not None and proc.returncode is None:
                log.info("retrain_stopped_at_shutdown", retrain_id=self.current.retrain_id if self.current else None)
                await self._stop(proc)
