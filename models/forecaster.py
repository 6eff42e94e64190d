"""Serving: turn a point-in-time feature window into per-symbol quantile forecasts.

ckpt = registry.load(registry.latest(root))
fc = Forecaster(ckpt)
window = feature_window(build_features(prices, as_of, macro=...), fc.encoder_length)
forecast = fc.forecast(window)          # Forecast.values: (N, K, Q)
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from models.features import FeaturePanel, build_features, known_future
from models.registry import LoadedCheckpoint

__all__ = ["FeatureWindow", "Forecast", "Forecaster", "SelectedPastMemo", "feature_window"]


@dataclass(frozen=True, slots=True)
class FeatureWindow:
    """The last L rows of a panel, symbol-major: values (N, L, F), last row = as_of."""

    as_of: pd.Timestamp
    symbols: tuple[str, ...]
    names: tuple[str, ...]
    values: np.ndarray


def feature_window(panel: FeaturePanel, encoder_length: int) -> FeatureWindow:
    if len(panel.times) < encoder_length:
        raise ValueError(f"panel has {len(panel.times)} rows, the model needs {encoder_length}")
    values = panel.values[-encoder_length:].transpose(1, 0, 2)
    return FeatureWindow(panel.times[-1], panel.symbols, panel.names, np.ascontiguousarray(values))


@dataclass(frozen=True, slots=True)
class Forecast:
    """values (N, K, Q) in label units: log returns for `ret_h`, daily volatility for `rv_h`.
    Rows for symbols whose window had missing data are NaN."""

    as_of: pd.Timestamp
    symbols: tuple[str, ...]
    targets: tuple[str, ...]
    quantiles: tuple[float, ...]
    values: np.ndarray

    def to_frame(self) -> pd.DataFrame:
        """Long frame: symbol, target, quantile, value (N*K*Q rows)."""
        index = pd.MultiIndex.from_product(
            [self.symbols, self.targets, self.quantiles], names=["symbol", "target", "quantile"]
        )
        return pd.Series(self.values.ravel(), index=index, name="value").reset_index()

    def median(self, target: str) -> pd.Series:
        """(N,) median forecast of one target, indexed by symbol."""
        k, q = self.targets.index(target), int(np.argmin(np.abs(np.subtract(self.quantiles, 0.5))))
        return pd.Series(self.values[:, k, q], index=list(self.symbols), name=target)


Selected = tuple[torch.Tensor, torch.Tensor]


class SelectedPastMemo:
    """A model's per-time-step stage (`select_past`: the TFT's embedding and variable
    selection of the observed inputs) computed one time step at a time and memoised by
    exact input.

    Today's window shares all but its newest row with yesterday's, and that stage is ~40 %
    of a hidden-64 TFT's forward for 20 symbols (bench/RESULTS.md, "Serving consecutive
    days"). Every step is computed on its own, as one (N, 1, F) block, whether or not the
    memo holds it: a step's numbers never depend on which other steps were computed with
    it, so a forecast is bit for bit the same from a cold memo (a restart, a swap, a resumed
    run) as from a warm one. A block is reused only for the same inputs, bytes compared (the
    symbols' ids and the normalised features the model sees), so a revised bar is computed
    afresh. Keeps the `capacity` blocks used last. Thread-safe.
    """

    def __init__(self, model: torch.nn.Module, device: torch.device, capacity: int) -> None:
        self.model, self.device, self.capacity = model, device, capacity
        self._blocks: OrderedDict[tuple[bytes, bytes], Selected] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._blocks)

    @torch.no_grad()
    def __call__(self, past: np.ndarray, static: np.ndarray, n: int) -> Selected:
        """past (S*N, L, F) float32 without NaN, static (S*N,) int64 ids, in S windows of
        `n` symbols -> (selected (S*N, L, D), weights (S*N, L, F))."""
        windows: list[Selected] = []
        with self._lock:
            for start in range(0, past.shape[0], n):
                ids = static[start : start + n]
                key = ids.tobytes()  # the window's symbols: part of every step's key
                steps = [self._step(ids, key, past[start : start + n, t]) for t in range(past.shape[1])]
                windows.append((torch.cat([s for s, _ in steps], 1), torch.cat([w for _, w in steps], 1)))
        return torch.cat([s for s, _ in windows]), torch.cat([w for _, w in windows])

    def _step(self, ids: np.ndarray, ids_key: bytes, block: np.ndarray) -> Selected:
        """One time step of one window: ids (N,), block (N, F) -> ((N, 1, D), (N, 1, F))."""
        key = (ids_key, block.tobytes())
        hit = self._blocks.get(key)
        if hit is not None:
            self._blocks.move_to_end(key)
            return hit
        out = self.model.select_past(
            torch.from_numpy(np.ascontiguousarray(block)[:, None, :]).to(self.device),
            torch.from_numpy(ids).to(self.device),
        )
        self._blocks[key] = out
        if len(self._blocks) > self.capacity:
            self._blocks.popitem(last=False)
        return out


class Forecaster:
    """A loaded checkpoint plus the transforms it was trained with. Thread-safe for reads.

    For a family with a per-time-step stage (the TFT's `select_past`), that stage goes
    through `memo`, a `SelectedPastMemo` of two encoder lengths of steps: consecutive days'
    forecasts compute it for the newest bar only. `memo=False` runs the plain forward
    instead (a check, and the bench's peer); other families always do."""

    def __init__(self, checkpoint: LoadedCheckpoint, *, memo: bool = True) -> None:
        self.checkpoint = checkpoint
        m = checkpoint.manifest
        self.encoder_length = m.encoder_length
        self._ids = {s: i + 1 for i, s in enumerate(m.symbols)}
        self._device = next(checkpoint.model.parameters()).device
        self.memo = (
            SelectedPastMemo(checkpoint.model, self._device, 2 * m.encoder_length)
            if memo and hasattr(checkpoint.model, "select_past")
            else None
        )

    def forecast_frames(
        self, prices: pd.DataFrame, as_of: pd.Timestamp | str, **frames
    ) -> Forecast:
        """Build features from DataFrames (volume=, macro=, sentiment=) as of `as_of`."""
        return self.forecast(
            feature_window(build_features(prices, as_of, **frames), self.encoder_length)
        )

    def forecast(self, window: FeatureWindow) -> Forecast:
        m = self.checkpoint.manifest
        values = self.forecast_many([window])[0]
        return Forecast(window.as_of, tuple(window.symbols), m.target_names, m.quantiles, values)

    @torch.no_grad()
    def forecast_many(self, windows: list[FeatureWindow]) -> np.ndarray:
        """One forward pass over S windows (same symbols and schema, any as_of):
        (S, N, K, Q) in label units, NaN rows where a symbol's window had gaps."""
        m, ckpt = self.checkpoint.manifest, self.checkpoint
        for window in windows:
            if tuple(window.names) != tuple(m.feature_names):
                raise ValueError("feature schema does not match the checkpoint's schema")
            if window.values.shape[1] != m.encoder_length:
                raise ValueError(f"window length {window.values.shape[1]} != {m.encoder_length}")
        n = len(windows[0].symbols)
        past = ckpt.normaliser.features(np.concatenate([w.values for w in windows]))  # (S*N, L, F)
        ok = np.isfinite(past).all(axis=(1, 2))
        past = np.nan_to_num(past)
        times = pd.DatetimeIndex([w.as_of for w in windows])
        future = np.repeat(known_future(times, m.horizons, m.vol_horizon), n, axis=0)
        static = np.array([self._ids.get(s, 0) for w in windows for s in w.symbols], dtype=np.int64)
        inputs = (
            torch.from_numpy(past).to(self._device),
            torch.from_numpy(future).to(self._device),
            torch.from_numpy(static).to(self._device),
        )
        if self.memo is None or n == 0:
            pred = ckpt.model(*inputs)
        else:
            pred = ckpt.model(*inputs, selected_past=self.memo(past, static, n))
        values = ckpt.normaliser.inverse_targets(pred.float().cpu().numpy())
        values[~ok] = np.nan
        return values.reshape(len(windows), n, *values.shape[1:])
