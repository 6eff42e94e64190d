"""The Parquet lake: point-in-time time series (bars, corporate actions, macro,
fundamentals, texts) partitioned by dataset / symbol / year. See docs/feeds.md."""

from state.lake._adjust import adjust_bars, adjustment_factors
from state.lake._lake import Lake, LakeError, WriteReport
from state.lake._specs import DATASETS, TIMESTAMP, DatasetSpec, LakeSchemaError

__all__ = [
    "DATASETS",
    "TIMESTAMP",
    "DatasetSpec",
    "Lake",
    "LakeError",
    "LakeSchemaError",
    "WriteReport",
    "adjust_bars",
    "adjustment_factors",
]
