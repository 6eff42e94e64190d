"""What a rebalance decided (`Decision`), the notes behind it and the book it started from.

The hand-offs of `strategies.portfolio.PortfolioConstructor`, kept apart from its wiring.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.events import Bound

__all__ = ["Book", "Decision", "Note"]


@dataclass(frozen=True, slots=True)
class Note:
    """Something a person should see in the log: an exclusion, a replaced estimate."""

    event: str
    symbol: str | None
    detail: str

    def __str__(self) -> str:
        who = f" {self.symbol}" if self.symbol is not None else ""
        return f"{self.event}{who}: {self.detail}"


@dataclass(frozen=True, slots=True)
class Decision:
    """Target book for one rebalance and why it looks that way.

    weights: final weights per symbol (every input column and every held symbol), >= 0.
    vol: annualised forecast vol of `weights`; var / cvar: one-day loss fractions.
    scale: exposure multiplier the limits applied; bound: the limit that set it, or "none".
    diagnostics: one row per symbol with base_weight, tilt, target_weight, weight,
    garch_vol (annualised), vol_source, fallback and excluded (reasons, "" if none).
    """

    as_of: pd.Timestamp
    weights: pd.Series
    vol: float
    var: float
    cvar: float
    scale: float
    bound: Bound
    diagnostics: pd.DataFrame
    notes: tuple[Note, ...]


@dataclass(frozen=True, slots=True)
class Book:
    """Symbols at play and what is held.

    universe: input columns then any other held symbol; kept: the investable subset.
    held: (U,) current weights, 0 where not held or invalid; forced: (U,) bool, entries that
    must trade to target whatever the trade filters say (outside `kept`, or held invalid);
    kept_mask: (U,) bool, `kept` within `universe` (same order).
    """

    universe: list[str]
    kept: list[str]
    held: pd.Series
    forced: np.ndarray
    kept_mask: np.ndarray

    @classmethod
    def of(cls, columns: pd.Index, current: pd.Series, kept: list[str]) -> Book:
        universe = list(dict.fromkeys([*columns, *current.index]))
        raw = pd.to_numeric(current, errors="coerce").groupby(level=0).last().reindex(universe)
        values = raw.to_numpy(dtype=float)
        held_invalid = raw.index.isin(current.index) & ~(np.isfinite(values) & (values >= 0))
        held = pd.Series(np.where(held_invalid | np.isnan(values), 0.0, values), index=universe)
        kept_mask = np.asarray(held.index.isin(kept))
        return cls(universe, kept, held, ~kept_mask | held_invalid, kept_mask)
