"""Serving: turn a point-in-time feature window into per-symbol quantile forecasts.

ckpt = registry.load(registry.latest(root))
fc = Forecaster(ckpt)
window = feature_window(build_features(prices, as_of, macro=...), fc.encoder_length)
forecast = fc.forecast(window)          # Forecast.values: (N, K, Q)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from models.features import FeaturePanel, build_features, known_future
from models.registry import LoadedCheckpoint

__all__ = ["FeatureWindow", "Forecast", "Forecaster", "feature_window"]


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


class Forecaster:
    """A loaded checkpoint plus the transforms it was trained with. Thread-safe for reads."""

    def __init__(self, checkpoint: LoadedCheckpoint) -> None:
        self.checkpoint = checkpoint
        m = checkpoint.manifest
        self.encoder_length = m.encoder_length
        self._ids = {s: i + 1 for i, s in enumerate(m.symbols)}
        self._device = next(checkpoint.model.parameters()).device

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
        times = pd.DatetimeIndex([w.as_of for w in windows])
        future = np.repeat(known_future(times, m.horizons, m.vol_horizon), n, axis=0)
        static = [self._ids.get(s, 0) for w in windows for s in w.symbols]
        pred = ckpt.model(
            torch.from_numpy(np.nan_to_num(past)).to(self._device),
            torch.from_numpy(future).to(self._device),
            torch.tensor(static, dtype=torch.int64, device=self._device),
        )
        values = ckpt.normaliser.inverse_targets(pred.float().cpu().numpy())
        values[~ok] = np.nan
        return values.reshape(len(windows), n, *values.shape[1:])
