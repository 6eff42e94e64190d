"""Data-dependent model sizes, shared by every family's constructor."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ModelDims"]


@dataclass(frozen=True, slots=True)
class ModelDims:
    """Features (F_past), known-future inputs per slot (F_future), symbol vocabulary
    (ids 1..n_symbols, 0 = unknown), target slots (K) and quantile levels (Q)."""

    n_past: int
    n_future: int
    n_symbols: int
    n_targets: int
    n_quantiles: int
