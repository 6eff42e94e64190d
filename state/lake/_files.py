"""Partition folders and the atomic, crash-safe replacement of one partition file.

Layout: ``<root>/<dataset>/<partition>=<value>/year=<yyyy>/part-0.parquet`` (hive style,
values percent-encoded so ``^GSPC`` or ``BRK/B`` make one safe folder name). A write goes
to a dot-prefixed temporary file in the same folder, is fsynced, then renamed over the
old file, and the folder is fsynced: a reader or a crash sees the old file or the new
one, never half of one. Dot-prefixed files are invisible to pyarrow's dataset discovery,
and a later write of the partition sweeps up any left by a crash.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["PART_FILE", "TMP_PREFIX", "partition_dir", "replace_atomically"]

PART_FILE = "part-0.parquet"
TMP_PREFIX = ".tmp-"


def partition_dir(root: Path, dataset: str, column: str, value: str, year: int) -> Path:
    return root / dataset / f"{column}={quote(value, safe='')}" / f"year={year}"


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_atomically(folder: Path, table: pa.Table, before_rename: Callable[[Path], None] | None = None) -> Path:
    """Write ``table`` as ``folder/part-0.parquet`` (snappy), replacing any old file atomically.

    ``before_rename`` is called with the finished temporary file just before the rename
    (a test hook: a crash there must leave the old file intact).
    """
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(f"{TMP_PREFIX}*"):
        stale.unlink(missing_ok=True)
    tmp = folder / f"{TMP_PREFIX}{uuid.uuid4().hex}.parquet"
    try:
        with open(tmp, "wb") as handle:
            pq.write_table(table, handle, compression="snappy")
            handle.flush()
            os.fsync(handle.fileno())
        if before_rename is not None:
            before_rename(tmp)
        target = folder / PART_FILE
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(folder)
    return target
