"""Sliding windows over a (T, N, F) panel as a torch `Dataset`, plus the data preparation
that turns a `DataConfig` and bundled / lake DataFrames into those arrays.

One sample = (decision time t, symbol i):
    past   (L, F)        normalised features at t-L+1 .. t
    future (K, F_future) known-future inputs of each target slot at t
    static ()            symbol id (1-based; 0 is reserved for symbols unseen in training)
    target (K,)          normalised labels at t (forward-looking: purge them in splits)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from models.config import DataConfig
from models.data import MarketData
from models.features import (
    FUTURE_NAMES,
    FeaturePanel,
    build_features,
    build_targets,
    known_future,
    target_names,
)
from models.normaliser import Normaliser
from models.sentiment.training import model_rows

__all__ = [
    "Prepared",
    "WindowDataset",
    "identity_collate",
    "make_dataset",
    "prepare",
    "training_sentiment",
    "valid_positions",
]


@dataclass(frozen=True, slots=True)
class Prepared:
    """Everything derived from the raw frames for one training window."""

    panel: FeaturePanel  # values (T, N, F)
    targets: np.ndarray  # (T, N, K) raw labels, NaN where the future is outside the window
    future: np.ndarray  # (T, K, F_future)
    target_names: tuple[str, ...]
    future_names: tuple[str, ...]


def prepare(cfg: DataConfig, market: MarketData) -> Prepared:
    """Features and labels using only data in [cfg.start, cfg.end]; labels near the end are
    NaN rather than peeking past `end`."""
    end = pd.Timestamp(cfg.end)
    prices = market.prices.loc[:end]
    volume = market.volume.loc[:end] if market.volume is not None else None
    macro = market.macro if cfg.use_macro else None
    # Sentiment rows enter at their available_at: none published after `end` is seen.
    panel = build_features(prices, end, volume=volume, macro=macro, sentiment=training_sentiment(cfg, market))
    vol_h = cfg.vol_horizon if cfg.vol_target else None
    targets = build_targets(prices, cfg.horizons, vol_h)
    keep = panel.times >= pd.Timestamp(cfg.start)
    # Warm-up rows before `start` stay in the panel: windows ending at `start` need them.
    targets[~keep] = np.nan
    return Prepared(
        panel,
        targets,
        known_future(panel.times, cfg.horizons, vol_h),
        target_names(cfg.horizons, vol_h),
        FUTURE_NAMES,
    )


def training_sentiment(cfg: DataConfig, market: MarketData) -> pd.DataFrame | None:
    """The configured scoring model's rows known at `cfg.end` (None when sentiment is
    off); `ValueError` naming the key when sentiment is on but no rows were handed over."""
    if cfg.sentiment == "off":
        return None
    if market.sentiment is None:
        raise ValueError(
            f"models.data.sentiment = {cfg.sentiment!r} but no scored texts were given: set "
            "models.data.sentiment_rows, or train with `tradingd train` (it reads the lake)"
        )
    return model_rows(market.sentiment, cfg.sentiment, pd.Timestamp(cfg.end))


def valid_positions(values: np.ndarray, targets: np.ndarray, encoder_length: int) -> np.ndarray:
    """(T, N) bool: the window ending at t is fully finite for symbol i and so is its label."""
    finite = np.isfinite(values).all(axis=-1).astype(np.int32)  # (T, N)
    run = np.cumsum(finite, axis=0)
    shifted = np.vstack([np.zeros((encoder_length, finite.shape[1]), np.int32), run])[
        :-encoder_length
    ]
    full_window = (run - shifted) == encoder_length
    return full_window & np.isfinite(targets).all(axis=-1)


def identity_collate(batch):
    """`WindowDataset.__getitems__` already returns a batch; keep the DataLoader off it."""
    return batch


class WindowDataset(Dataset):
    """Windows for the (t, i) pairs in `index`; arrays are normalised already.

    values (T, N, F) with NaN filled by 0 only where unused; future (T, K, F_future);
    targets (T, N, K); index (S, 2) int of (t, i); symbol_ids (N,) int.
    """

    def __init__(
        self,
        values: np.ndarray,
        future: np.ndarray,
        targets: np.ndarray,
        index: np.ndarray,
        symbol_ids: np.ndarray,
        encoder_length: int,
    ) -> None:
        self.values = torch.from_numpy(np.nan_to_num(values))
        self.future = torch.from_numpy(future)
        self.targets = torch.from_numpy(np.nan_to_num(targets))
        self.index = torch.from_numpy(index.astype(np.int64))
        self.symbol_ids = torch.from_numpy(symbol_ids.astype(np.int64))
        self.offsets = torch.arange(-encoder_length + 1, 1)

    def __len__(self) -> int:
        return len(self.index)

    def __getitems__(self, items: list[int]) -> tuple[torch.Tensor, ...]:
        """Vectorised gather of a whole batch: (B, L, F), (B, K, F_f), (B,), (B, K)."""
        t, i = self.index[items].unbind(-1)
        rows = t[:, None] + self.offsets  # (B, L)
        past = self.values[rows, i[:, None]]
        return past, self.future[t], self.symbol_ids[i], self.targets[t, i]

    def __getitem__(self, item: int) -> tuple[torch.Tensor, ...]:
        return tuple(x[0] for x in self.__getitems__([item]))


def make_dataset(
    prep: Prepared, norm: Normaliser, positions: np.ndarray, cfg: DataConfig, stride: int = 1
) -> WindowDataset:
    """Dataset over time positions `positions` (sorted) for every symbol with a valid window."""
    values = norm.features(prep.panel.values)
    targets = norm.targets(prep.targets)
    valid = valid_positions(prep.panel.values, prep.targets, cfg.encoder_length)
    chosen = np.zeros(len(valid), dtype=bool)
    chosen[positions[::stride]] = True
    t, i = np.nonzero(valid & chosen[:, None])
    symbol_ids = np.arange(1, len(prep.panel.symbols) + 1)
    return WindowDataset(
        values, prep.future, targets, np.stack([t, i], 1), symbol_ids, cfg.encoder_length
    )
