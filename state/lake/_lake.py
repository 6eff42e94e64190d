"""The Parquet lake: idempotent atomic writes and point-in-time reads over pyarrow datasets.

One process writes (the daemon); writes within it are serialised by a lock so jobs that
run in threads cannot interleave the read-merge-replace of a partition. Readers in other
processes (notebooks, ``tradingd doctor``) always see whole files.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal
from urllib.parse import quote, unquote

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from state.lake._adjust import adjust_bars
from state.lake._files import PART_FILE, TMP_PREFIX, partition_dir, replace_atomically
from state.lake._specs import DATASETS, TIMESTAMP, DatasetSpec, LakeSchemaError

__all__ = ["Lake", "LakeError", "WriteReport"]


class LakeError(ValueError):
    """A lake call that cannot be answered: unknown dataset, naive timestamp, bad range."""


@dataclass(frozen=True, slots=True)
class WriteReport:
    """What one ``Lake.write`` did. ``rows_added``: rows that are new or changed."""

    dataset: str
    rows_in: int
    rows_added: int
    partitions_written: tuple[str, ...]


def _utc(value: datetime | pd.Timestamp | str | None, name: str) -> pd.Timestamp | None:
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        raise LakeError(f"{name} must be timezone-aware, got {value!r}")
    return stamp.tz_convert("UTC")


class Lake:
    """Time series in Parquet under ``root``, one folder per dataset / partition / year.

    ``datasets`` adds specs to (or overrides) the built-in ``DATASETS``.
    ``before_rename`` is a test hook called between writing a partition's temporary file
    and renaming it into place.
    """

    def __init__(
        self,
        root: str | Path,
        datasets: Mapping[str, DatasetSpec] | None = None,
        *,
        before_rename: Callable[[Path], None] | None = None,
    ) -> None:
        self.root = Path(root)
        self._specs = {**DATASETS, **(datasets or {})}
        self._before_rename = before_rename
        self._lock = threading.Lock()

    def spec(self, dataset: str) -> DatasetSpec:
        try:
            return self._specs[dataset]
        except KeyError:
            raise LakeError(f"unknown dataset {dataset!r} (known: {', '.join(sorted(self._specs))})") from None

    # -- writing ---------------------------------------------------------------------

    def write(self, dataset: str, frame: pd.DataFrame) -> WriteReport:
        """Merge ``frame`` into ``dataset``; re-writing the same rows changes nothing.

        ``frame`` must have exactly the dataset's columns (``spec(dataset).columns``).
        Rows with the same identity (key + available_at) as stored rows replace them.
        Each touched partition is replaced atomically; the call raises LakeSchemaError
        before touching any file when the frame does not fit.
        """
        spec = self.spec(dataset)
        table = spec.conform(frame)
        rows = table.to_pandas()
        written: list[str] = []
        added = 0
        if rows.empty:
            return WriteReport(dataset, 0, 0, ())
        with self._lock:
            for (value, year), part in rows.groupby([spec.partition, rows["ts"].dt.year], sort=True):
                folder = partition_dir(self.root, dataset, spec.partition, value, int(year))
                delta = self._merge(spec, folder, part.drop(columns=[spec.partition]))
                if delta is not None:
                    added += delta
                    written.append(f"{spec.partition}={value}/year={year}")
        return WriteReport(dataset, len(rows), added, tuple(written))

    def _merge(self, spec: DatasetSpec, folder: Path, new: pd.DataFrame) -> int | None:
        """Merge into one partition; the number of rows new or changed, None if none."""
        path = folder / PART_FILE
        old_table = pq.read_table(path, schema=spec.schema) if path.exists() else spec.schema.empty_table()
        old = old_table.to_pandas()
        identity = [c for c in spec.identity if c != spec.partition]
        merged = pd.concat([old, new], ignore_index=True).drop_duplicates(subset=identity, keep="last")
        # ts first: row-group statistics on ts then prune range reads.
        merged = merged.sort_values(list(dict.fromkeys(["ts", *identity])), kind="stable")
        if spec.collapse_unchanged:
            merged = _collapse_unchanged(merged, [c for c in spec.key if c != spec.partition], spec.values)
        table = pa.Table.from_pandas(merged, schema=spec.schema, preserve_index=False).replace_schema_metadata(None)
        if table.equals(old_table):
            return None
        replace_atomically(folder, table, self._before_rename)
        unchanged = merged.merge(old, how="inner", on=list(merged.columns)) if len(old) else old
        return len(merged) - len(unchanged)

    # -- reading ---------------------------------------------------------------------

    def read(
        self,
        dataset: str,
        symbols: Iterable[str] | None = None,
        start: datetime | pd.Timestamp | str | None = None,
        end: datetime | pd.Timestamp | str | None = None,
        *,
        as_of: datetime | pd.Timestamp | str,
        columns: Iterable[str] | None = None,
        vintages: Literal["latest", "all"] = "latest",
    ) -> pd.DataFrame:
        """Rows with ``start <= ts <= end`` as known at ``as_of`` (``available_at <= as_of``).

        ``symbols``: values of the dataset's partition column (symbols, series ids,
        channels); None reads all. ``columns``: value columns to return besides the
        partition, ``ts`` and ``available_at`` (projection: other columns are not read).
        ``vintages="latest"`` keeps, per key, the newest vintage known at ``as_of``;
        ``"all"`` returns every vintage known then. Filters are pushed down to pyarrow:
        partitions of other symbols and years are never opened. Sorted by partition, ts.
        """
        spec = self.spec(dataset)
        as_of_utc = _utc(as_of, "as_of")
        if as_of_utc is None:
            raise LakeError("as_of is required: point-in-time reads never default to 'everything'")
        start_utc, end_utc = _utc(start, "start"), _utc(end, "end")
        if start_utc is not None and end_utc is not None and end_utc < start_utc:
            raise LakeError(f"end {end_utc} is before start {start_utc}")
        if vintages not in ("latest", "all"):
            raise LakeError(f"vintages must be 'latest' or 'all', got {vintages!r}")
        wanted = list(spec.columns) if columns is None else self._columns(spec, columns)
        needed = list(dict.fromkeys([*spec.identity, *wanted]))
        folder = self.root / dataset
        if not folder.exists():
            return spec.empty_frame()[wanted]

        def scalar(stamp: pd.Timestamp) -> pa.Scalar:
            return pa.scalar(stamp.to_pydatetime(), type=TIMESTAMP)

        where = ds.field("available_at") <= scalar(as_of_utc)
        if symbols is not None:
            where &= ds.field(spec.partition).isin(list(symbols))
        if start_utc is not None:
            where &= (ds.field("year") >= start_utc.year) & (ds.field("ts") >= scalar(start_utc))
        if end_utc is not None:
            where &= (ds.field("year") <= end_utc.year) & (ds.field("ts") <= scalar(end_utc))
        table = self._dataset(spec, folder).to_table(columns=needed, filter=where)
        frame = table.to_pandas()
        if vintages == "latest" and not frame.empty:
            frame = frame.sort_values(spec.identity, kind="stable").drop_duplicates(list(spec.key), keep="last")
        frame = frame.sort_values(list(dict.fromkeys([spec.partition, "ts", *spec.identity])), kind="stable")
        return frame[wanted].reset_index(drop=True)

    def read_bars(
        self,
        symbols: Iterable[str] | None,
        start: datetime | pd.Timestamp | str | None,
        end: datetime | pd.Timestamp | str | None,
        *,
        as_of: datetime | pd.Timestamp | str,
        adjusted: bool = True,
    ) -> pd.DataFrame:
        """Bars as known at ``as_of``; with ``adjusted``, ``adj_*`` columns as of ``as_of``.

        Adjustment uses only the splits and dividends with ex-date and ``available_at`` at
        or before ``as_of``, so the same bar reads differently as of different dates.
        """
        symbols = None if symbols is None else list(symbols)
        bars = self.read("bars", symbols, start, end, as_of=as_of)
        if not adjusted:
            return bars
        actions = self.read("corporate_actions", symbols, start, as_of, as_of=as_of)
        if actions.empty:
            return adjust_bars(bars, actions)
        # A dividend's factor needs the close before its ex-date, which may lie after end.
        end_utc = _utc(end, "end")
        last_ex = actions.loc[actions["action"] == "dividend", "ts"].max()
        if end_utc is None or pd.isna(last_ex) or last_ex <= end_utc:
            return adjust_bars(bars, actions)
        wider = adjust_bars(self.read("bars", symbols, start, last_ex, as_of=as_of), actions)
        return wider[wider["ts"] <= end_utc].reset_index(drop=True)

    def latest(self, dataset: str, symbols: Iterable[str], column: str = "ts") -> dict[str, pd.Timestamp]:
        """The newest stored ``column`` (``ts`` or ``available_at``) per symbol, any vintage.

        For incremental pulls. Opens one file per symbol, the newest ``ts`` year's: for
        ``available_at`` a later revision stored in an older year is not seen, which can
        only make a pull start earlier and re-fetch rows (writes are idempotent).
        Symbols with no data are absent.
        """
        spec = self.spec(dataset)
        if column not in ("ts", "available_at"):
            raise LakeError(f"latest: column must be ts or available_at, got {column!r}")
        found: dict[str, pd.Timestamp] = {}
        for symbol in symbols:
            folder = self.root / dataset / f"{spec.partition}={quote(symbol, safe='')}"
            years = sorted(int(p.name.split("=", 1)[1]) for p in folder.glob("year=*") if (p / PART_FILE).exists())
            if years:
                values = pq.read_table(folder / f"year={years[-1]}" / PART_FILE, columns=[column]).column(column)
                found[symbol] = pd.Timestamp(pc.max(values).as_py()).tz_convert("UTC")
        return found

    def symbols(self, dataset: str) -> list[str]:
        """Partition values stored in ``dataset`` (decoded), sorted."""
        spec = self.spec(dataset)
        folder = self.root / dataset
        prefix = f"{spec.partition}="
        return sorted(unquote(p.name[len(prefix) :]) for p in folder.glob(f"{prefix}*")) if folder.exists() else []

    def verify(self) -> list[str]:
        """Problems a health check should report: unreadable files, leftover temp files."""
        problems = []
        for path in sorted(self.root.rglob("*.parquet")) if self.root.exists() else []:
            if path.name.startswith(TMP_PREFIX):
                problems.append(f"{path}: temporary file left by an interrupted write")
                continue
            try:
                pq.read_metadata(path)
            except (OSError, pa.ArrowException) as exc:
                problems.append(f"{path}: unreadable: {exc}")
        return problems

    # -- helpers ---------------------------------------------------------------------

    @staticmethod
    def _columns(spec: DatasetSpec, columns: Iterable[str]) -> list[str]:
        columns = list(columns)
        if unknown := [c for c in columns if c not in spec.columns]:
            raise LakeSchemaError(f"{spec.name}: unknown columns {unknown}")
        return list(dict.fromkeys([spec.partition, "ts", "available_at", *columns]))

    @staticmethod
    def _dataset(spec: DatasetSpec, folder: Path) -> ds.Dataset:
        partitioning = ds.partitioning(pa.schema([(spec.partition, pa.string()), ("year", pa.int32())]), flavor="hive")
        schema = pa.schema([*spec.schema, pa.field(spec.partition, pa.string()), pa.field("year", pa.int32())])
        return ds.dataset(folder, format="parquet", partitioning=partitioning, schema=schema)


def _collapse_unchanged(frame: pd.DataFrame, key: list[str], values: list[str]) -> pd.DataFrame:
    """Drop each vintage whose values equal the previous vintage of the same key."""
    if frame.empty:
        return frame
    previous = frame.groupby(key, sort=False)[values].shift()
    same = pd.Series(True, index=frame.index)
    for column in values:
        a, b = frame[column], previous[column]
        same &= (a == b) | (a.isna() & b.isna())
    first = ~frame.duplicated(subset=key, keep="first")
    return frame[first | ~same]
