"""The backtest driver: the live components on a replay clock, without sleeping.

Every enabled job's cron trigger is expanded over the window (``daemon.cron``), the fire
times are merged (ties keep config order), and for each one the clock jumps there, the
job runs and the bus drains the whole cascade before the next. The recorder commits
every ``store.commit_every`` fires, always between cascades.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

import numpy as np
from tqdm import tqdm

from core.clock import ReplayClock
from daemon.app import App
from daemon.cron import fire_epochs

__all__ = ["replay_timeline", "run_backtest"]


def replay_timeline(app: App) -> list[tuple[datetime, str]]:
    """(fire time, job name) for every job firing in the window, in firing order."""
    start = app.clock.now()
    end = app.window[1] + timedelta(days=1)
    names = list(app.triggers)
    epochs = [fire_epochs(trigger, start, end) for trigger in app.triggers.values()]
    if not epochs:
        return []
    when = np.concatenate(epochs)
    job = np.concatenate([np.full(len(e), k, dtype=np.int64) for k, e in enumerate(epochs)])
    order = np.lexsort((job, when))  # by time, ties in config order
    fromtimestamp = datetime.fromtimestamp
    return [(fromtimestamp(t, UTC), names[k]) for t, k in zip(when[order].tolist(), job[order].tolist(), strict=True)]


async def run_backtest(app: App, *, progress: bool | None = None) -> int:
    """Replay the window; returns the number of job fires."""
    clock = app.clock
    if not isinstance(clock, ReplayClock):
        raise TypeError("a backtest needs a ReplayClock")
    timeline = replay_timeline(app)
    await app.data.open(set(app.triggers))
    if progress is None:
        progress = sys.stderr.isatty()
    bar = tqdm(total=len(timeline), unit="job", disable=not progress, dynamic_ncols=True, mininterval=0.5)
    bus, jobs, recorder = app.bus, app.jobs, app.recorder
    commit_every = app.config.store.commit_every
    fire = jobs.fire
    done = 0
    for when, name in timeline:
        clock.advance_to(when)
        await fire(name)
        bus.drain()
        done += 1
        if done % commit_every == 0:
            recorder.flush()
        if progress and done % 256 == 0:
            bar.update(256)
            bar.set_postfix_str(f"{when:%Y-%m-%d}", refresh=False)
    bar.update(done % 256 if progress else 0)
    bar.close()
    app.broker.cancel_all("backtest ended", clock.now())
    bus.drain()
    recorder.sync()  # every row committed (by the background writer, if any)
    await app.data.close()
    return done
