"""tradingd's state: the SQLite store (``state.store``) and the Parquet lake (``state.lake``).

The lake's names are re-exported lazily (PEP 562): ``tradingd status`` and the
background writer import ``state.store`` / ``state.batch`` without pulling in pyarrow
and pandas.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAKE = ("DATASETS", "DatasetSpec", "Lake", "LakeError", "LakeSchemaError", "WriteReport")
__all__ = list(_LAKE)


def __getattr__(name: str) -> Any:
    if name in _LAKE:
        value = getattr(importlib.import_module("state.lake"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'state' has no attribute {name!r}")
