"""Feature and target standardisation fitted on the training window only.

The statistics travel in the checkpoint manifest, so serving applies exactly the transform
the model was trained with and never refits on live data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Normaliser"]

_MIN_STD = 1e-8


@dataclass(frozen=True, slots=True)
class Normaliser:
    feature_mean: np.ndarray  # (F,)
    feature_std: np.ndarray  # (F,)
    target_mean: np.ndarray  # (K,)
    target_std: np.ndarray  # (K,)

    @classmethod
    def fit(cls, features: np.ndarray, targets: np.ndarray, rows: np.ndarray) -> Normaliser:
        """features (T, N, F), targets (T, N, K), rows: (T,) bool mask of training times.
        NaNs (warm-up, missing symbols) are ignored."""
        x, y = features[rows], targets[rows]
        with np.errstate(invalid="ignore"):
            f_mean, f_std = np.nanmean(x, axis=(0, 1)), np.nanstd(x, axis=(0, 1))
            t_mean, t_std = np.nanmean(y, axis=(0, 1)), np.nanstd(y, axis=(0, 1))
        # A constant feature (e.g. a calendar column in a short window) gets std 1, not 0.
        fix = lambda s: np.where(np.isfinite(s) & (s > _MIN_STD), s, 1.0)  # noqa: E731
        return cls(
            np.nan_to_num(f_mean).astype(np.float32),
            fix(f_std).astype(np.float32),
            np.nan_to_num(t_mean).astype(np.float32),
            fix(t_std).astype(np.float32),
        )

    def features(self, x: np.ndarray) -> np.ndarray:
        """(..., F) raw -> standardised float32 (NaN stays NaN)."""
        return ((x - self.feature_mean) / self.feature_std).astype(np.float32)

    def targets(self, y: np.ndarray) -> np.ndarray:
        """(..., K) raw labels -> standardised float32."""
        return ((y - self.target_mean) / self.target_std).astype(np.float32)

    def inverse_targets(self, q: np.ndarray) -> np.ndarray:
        """(..., K, Q) standardised quantiles -> label units. Monotone, so order survives."""
        return q * self.target_std[:, None] + self.target_mean[:, None]

    def to_dict(self) -> dict[str, list[float]]:
        return {k: getattr(self, k).astype(float).tolist() for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Normaliser:
        return cls(**{k: np.asarray(data[k], dtype=np.float32) for k in cls.__dataclass_fields__})
