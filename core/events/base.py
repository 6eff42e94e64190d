"""The event base class, the ``freeze`` helper and the closed vocabularies of event fields."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import numpy as np

__all__ = ["ActionKind", "Bound", "Event", "RunMode", "Side", "freeze"]

# The closed vocabularies of event fields. Literals rather than enums: the values stay
# plain text in SQLite, JSON and the writer's pipe, and the writer process need not
# import this module to read them.
Side = Literal["buy", "sell"]
"""An order's direction."""
ActionKind = Literal["split", "dividend"]
"""A corporate action's kind."""
Bound = Literal["target_vol", "max_var", "max_cvar", "max_gross", "none"]
"""The risk limit that set a target's exposure (``none``: no limit bound)."""
RunMode = Literal["live", "backtest"]
"""How a run is driven: the daemon and one-off jobs (``live``) or a replay."""


def freeze(values: object, dtype: type = np.float64) -> np.ndarray:
    """A read-only float array copy of ``values``; events must not be mutated by handlers."""
    array = np.array(values, dtype=dtype)
    array.flags.writeable = False
    return array


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of all events. ``ts``: the aware UTC time the event describes."""

    ts: datetime
