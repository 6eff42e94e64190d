"""What the serving pipeline builds from the daemon's `[models]` config: the model's config,
the feature schema and the targets. Torch-free, so a daemon without a model never loads
torch (`models.validation`, which checks a checkpoint against this, does)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from models.config import ModelConfig, RunConfig
from models.features import FUTURE_NAMES, FeaturePanel, build_features, schema_hash
from models.features import target_names as make_target_names

__all__ = ["ServingSpec"]


@dataclass(frozen=True, slots=True)
class ServingSpec:
    """What the serving pipeline builds, from the daemon's `[models]` config."""

    model: ModelConfig
    use_macro: bool
    horizons: tuple[int, ...]
    vol_horizon: int | None
    quantiles: tuple[float, ...]
    embargo: int
    sentiment: str = "off"  # the scoring model whose rows serving reads, or "off"

    @classmethod
    def from_config(cls, cfg: RunConfig) -> ServingSpec:
        d = cfg.data
        vol = d.vol_horizon if d.vol_target else None
        return cls(cfg.model, d.use_macro, d.horizons, vol, d.quantiles, d.embargo, d.sentiment)

    @property
    def target_names(self) -> tuple[str, ...]:
        return make_target_names(self.horizons, self.vol_horizon)

    @property
    def label_horizon(self) -> int:
        return max(max(self.horizons), self.vol_horizon or 0)

    def panel(
        self,
        prices: pd.DataFrame,
        as_of: pd.Timestamp,
        macro: dict[str, pd.DataFrame] | None,
        sentiment: pd.DataFrame | None = None,
    ) -> FeaturePanel:
        """Features as of `as_of` (prices: (T, N) closes on a date index); `sentiment`:
        scored texts of `self.sentiment`'s model, None when there are none to read."""
        rows = sentiment if self.sentiment != "off" else None
        return build_features(prices, as_of, macro=macro if self.use_macro else None, sentiment=rows)

    def schema_hash(self, panel: FeaturePanel) -> str:
        return schema_hash(panel.names, FUTURE_NAMES, self.target_names)
