"""What a rebalance decided (`Decision`), the notes behind it and the book it started from.

The hand-offs of `strategies.portfolio.PortfolioConstructor`, kept apart from its wiring.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.events import Bound

__all__ = ["Book", "Decision", "Diagnostics", "Note"]


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
        numbers = last_by_symbol(pd.to_numeric(current, errors="coerce"))
        by_symbol = dict(zip(numbers.index, numbers.to_numpy(dtype=float), strict=True))
        values = np.array([by_symbol.get(s, np.nan) for s in universe], dtype=float)
        is_held = np.array([s in by_symbol for s in universe], dtype=bool)
        held_invalid = is_held & ~(np.isfinite(values) & (values >= 0))
        held = pd.Series(np.where(held_invalid | np.isnan(values), 0.0, values), index=universe)
        investable = set(kept)
        kept_mask = np.array([s in investable for s in universe], dtype=bool)
        return cls(universe, kept, held, ~kept_mask | held_invalid, kept_mask)


def last_by_symbol(values: pd.Series) -> pd.Series:
    """One value per symbol: the last non-missing one of a repeated symbol (as
    ``groupby(level=0).last()``, which a unique index does not need)."""
    return values if values.index.is_unique else values.groupby(level=0).last()


class Diagnostics:
    """A decision's per-symbol diagnostics, filled stage by stage as numpy columns over the
    book's universe (U,) and made a DataFrame once (`frame`): ``Decision.diagnostics``."""

    NUMBERS = ("base_weight", "tilt", "garch_vol", "model_vol", "risk_vol")
    TEXTS = ("vol_source", "fallback", "excluded")

    def __init__(self, book: Book, excluded: dict[str, str]) -> None:
        self.book = book
        size = len(book.universe)
        self.columns: dict[str, np.ndarray] = {name: np.full(size, np.nan) for name in self.NUMBERS}
        self.columns |= {name: np.full(size, "", dtype=object) for name in self.TEXTS}
        self.set_texts("excluded", excluded)

    def set_kept(self, name: str, values: np.ndarray | pd.Series) -> None:
        """Column `name` on the kept symbols; `values`: (K,) in ``book.kept`` order."""
        self.columns[name][self.book.kept_mask] = np.asarray(values)

    def set_texts(self, name: str, by_symbol: dict[str, str]) -> None:
        """Text column `name` from a symbol -> text mapping ("" for the others)."""
        self.columns[name][:] = [by_symbol.get(s, "") for s in self.book.universe]

    def frame(self, **last: np.ndarray) -> pd.DataFrame:
        """The diagnostics (U rows; text columns of dtype object), then the `last` columns (U,)."""
        index = pd.Index(self.book.universe)
        columns = {
            name: pd.Series(values, index=index, dtype=object if name in self.TEXTS else float)
            for name, values in (self.columns | last).items()
        }
        return pd.DataFrame(columns, index=index)
