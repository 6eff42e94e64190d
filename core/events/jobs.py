"""Scheduled jobs and the model lifecycle: job outcomes, published, swapped and rejected checkpoints."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.events.base import Event

__all__ = ["CheckpointPublished", "JobFailed", "JobFinished", "ModelRejected", "ModelSwapped"]


@dataclass(frozen=True, slots=True, kw_only=True)
class JobFinished(Event):
    """A scheduled job ran to completion; ``ts`` is when it finished.

    ``detail`` is a short human-readable outcome ("1 bar", "already decided this
    period"); ``routine`` marks runs that only did the everyday thing; ``skipped`` marks
    a run that refused to act (stale data) and says why in ``detail``.
    """

    job: str
    fired_at: datetime
    detail: str
    routine: bool = False
    skipped: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class JobFailed(Event):
    """A scheduled job raised; ``error`` is one line: exception type and message."""

    job: str
    fired_at: datetime
    error: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckpointPublished(Event):
    """A checkpoint was renamed into the registry (``path``; ``version`` is its folder name);
    ``retrain_id`` names the retrain that made it, empty when it came from elsewhere."""

    version: str
    path: str
    retrain_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelSwapped(Event):
    """``version`` now serves forecasts instead of ``previous`` (None: there was none).
    ``reason``: "validated", "operator" (a manual activation or rollback), "restart"."""

    version: str
    previous: str | None
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelRejected(Event):
    """Checkpoint ``version`` failed a check (``reason``, one line); the champion keeps
    serving."""

    version: str
    reason: str
