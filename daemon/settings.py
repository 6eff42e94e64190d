"""The base of every config section: frozen, typed, unknown keys forbidden.

Component packages define their own sections on top of this (``brokers.config``,
``strategies.config``) and ``daemon.config`` assembles them into the root.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["Section"]


class Section(BaseModel):
    """A config table. Strict: TOML types must match (an int is accepted for a float)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
