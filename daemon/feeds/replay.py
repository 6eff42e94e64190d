"""Replaying a table of point-in-time rows: hand out what became known since last time.

Backtests read bundled history (FRED series shipped with arch) this way instead of
pulling it through the lake: the rows and their ``available_at`` are the same, the
replay just keeps a cursor, so a 33-year backtest does not write 8,000 Parquet files.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa

__all__ = ["ReplayTable"]


class ReplayTable:
    """Rows of one lake dataset released in ``available_at`` order."""

    def __init__(self, name: str, frame: pd.DataFrame) -> None:
        frame = frame.sort_values(["available_at", "ts"], kind="stable").reset_index(drop=True)
        self.name = name
        self._table = pa.Table.from_pandas(frame, preserve_index=False)
        self._known = frame["available_at"].map(lambda t: t.timestamp()).to_numpy(np.float64)
        self._cursor = 0

    def __len__(self) -> int:
        return self._table.num_rows

    def seek(self, now: datetime) -> None:
        """Skip everything known by ``now`` (a run that starts later than the data)."""
        self._cursor = int(np.searchsorted(self._known, now.timestamp(), side="right"))

    def pull(self, now: datetime) -> pa.Table | None:
        """Rows with ``available_at`` in (last pull, ``now``], or None."""
        end = int(np.searchsorted(self._known, now.timestamp(), side="right"))
        if end <= self._cursor:
            return None
        rows = self._table.slice(self._cursor, end - self._cursor)
        self._cursor = end
        return rows
