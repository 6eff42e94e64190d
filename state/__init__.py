"""tradingd package."""

# The Parquet lake (docs/feeds.md).
from state.lake import DATASETS, DatasetSpec, Lake, LakeError, LakeSchemaError, WriteReport  # noqa: E402, F401
