"""Dataset specs: the schema, partition column and row identity of each lake dataset.

Every dataset has ``ts`` (what a row describes) and ``available_at`` (when it became
known), both UTC. A row's identity is ``key`` plus ``available_at``: re-writing the same
identity replaces the row (idempotent re-pulls), while a later ``available_at`` for the
same key is a new vintage (a revision) that point-in-time reads pick only from then on.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pyarrow as pa

__all__ = ["DATASETS", "DatasetSpec", "LakeSchemaError", "TIMESTAMP"]

TIMESTAMP = pa.timestamp("us", tz="UTC")


class LakeSchemaError(ValueError):
    """A frame that does not fit its dataset; the message names the dataset and column."""


@dataclass(frozen=True, slots=True)
class DatasetSpec:
    """How one dataset is stored.

    ``partition``: the column whose value names the folder (symbol, series, channel);
    ``schema``: every stored column except ``partition``, including ``ts`` and
    ``available_at``; ``key``: the columns (besides ``available_at``) that identify a row;
    ``collapse_unchanged``: drop a vintage whose values equal the previous vintage of the
    same key, keeping the earliest ``available_at`` (revisions that revise nothing).
    """

    name: str
    partition: str
    schema: pa.Schema
    key: tuple[str, ...]
    collapse_unchanged: bool = False

    def __post_init__(self) -> None:
        for required in ("ts", "available_at"):
            if self.schema.field(required).type != TIMESTAMP:
                raise ValueError(f"{self.name}: {required} must be {TIMESTAMP}")
        missing = [c for c in self.key if c != self.partition and c not in self.schema.names]
        if missing or self.partition not in self.key:
            raise ValueError(f"{self.name}: key {self.key} must hold the partition and stored columns")

    @property
    def columns(self) -> tuple[str, ...]:
        """All columns of a frame in this dataset, partition column first."""
        return (self.partition, *self.schema.names)

    @property
    def identity(self) -> list[str]:
        return [*self.key, "available_at"]

    @property
    def values(self) -> list[str]:
        return [c for c in self.columns if c not in self.identity]

    def empty_frame(self) -> pd.DataFrame:
        """A frame with no rows and this dataset's columns and dtypes."""
        return pa.schema([pa.field(self.partition, pa.string()), *self.schema]).empty_table().to_pandas()

    def conform(self, frame: pd.DataFrame) -> pa.Table:
        """Check ``frame`` against the schema and return it as a table (partition included).

        Raises LakeSchemaError naming the first column that is missing, unknown, of the
        wrong type, null where it may not be, or a timestamp without a time zone.
        """
        names = set(frame.columns)
        if missing := [c for c in self.columns if c not in names]:
            raise LakeSchemaError(f"{self.name}: missing columns {missing}")
        if unknown := sorted(names - set(self.columns)):
            raise LakeSchemaError(f"{self.name}: unknown columns {unknown}")
        arrays = []
        fields = [pa.field(self.partition, pa.string(), nullable=False), *self.schema]
        for field in fields:
            series = frame[field.name]
            if pa.types.is_timestamp(field.type) and not isinstance(series.dtype, pd.DatetimeTZDtype):
                raise LakeSchemaError(f"{self.name}.{field.name}: timestamps must be timezone-aware")
            try:
                array = pa.array(series, type=field.type, from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
                raise LakeSchemaError(f"{self.name}.{field.name}: not {field.type}: {exc}") from None
            if array.null_count and (field.name in self.identity or not field.nullable):
                raise LakeSchemaError(f"{self.name}.{field.name}: {array.null_count} null values")
            arrays.append(array)
        return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _spec(name: str, partition: str, columns: list[tuple[str, pa.DataType]], key: tuple[str, ...], **kw) -> DatasetSpec:
    fields = [pa.field("ts", TIMESTAMP, nullable=False), pa.field("available_at", TIMESTAMP, nullable=False)]
    fields += [pa.field(n, t) for n, t in columns]
    return DatasetSpec(name, partition, pa.schema(fields), (partition, *key), **kw)


_F64, _STR = pa.float64(), pa.string()

# Built-in datasets. Prices are raw (not adjusted for later splits or dividends): the
# corporate_actions dataset holds the events and Lake.read_bars adjusts as of a date.
# bars: ts = the session's close instant (as BarsClosed.ts), available_at = when published.
DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        _spec(
            "bars",
            "symbol",
            [("open", _F64), ("high", _F64), ("low", _F64), ("close", _F64), ("volume", _F64), ("source", _STR)],
            ("ts",),
        ),
        # action: "split" (value = new shares per old share, 4.0 for 4:1) or
        # "dividend" (value = cash per share, raw, in the price currency); ts = the start of
        # the ex-date at the exchange, so bars before it (ts = their close) sort earlier.
        _spec("corporate_actions", "symbol", [("action", _STR), ("value", _F64), ("source", _STR)], ("ts", "action")),
        _spec("macro", "series", [("value", _F64), ("source", _STR)], ("ts",), collapse_unchanged=True),
        # Long format: one row per (statement, period, field); ts = fiscal period end.
        _spec(
            "fundamentals",
            "symbol",
            [
                ("statement", _STR),
                ("period", _STR),
                ("fiscal_year", pa.int32()),
                ("field", _STR),
                ("value", _F64),
                ("currency", _STR),
                ("source", _STR),
            ],
            ("ts", "statement", "period", "field"),
            collapse_unchanged=True,
        ),
        # channel: the ticker a news query was for, or the subreddit; kind: article,
        # post or comment. score is as seen at fetch time (Reddit only).
        _spec(
            "texts",
            "channel",
            [
                ("source", _STR),
                ("id", _STR),
                ("kind", _STR),
                ("author", _STR),
                ("title", _STR),
                ("text", _STR),
                ("url", _STR),
                ("parent_id", _STR),
                ("score", _F64),
            ],
            ("source", "id"),
        ),
        # One row per scored text and model (daemon.sentiment): ts / available_at are the
        # text's; symbols: linked universe symbols, space-separated ("" when none);
        # p_*: class probabilities; score: P(pos) - P(neg) (VADER: compound); hash: the
        # content hash that de-duplicates across sources and re-pulls.
        _spec(
            "sentiment",
            "channel",
            [
                ("source", _STR),
                ("id", _STR),
                ("model", _STR),
                ("hash", _STR),
                ("kind", _STR),
                ("symbols", _STR),
                ("p_positive", _F64),
                ("p_negative", _F64),
                ("p_neutral", _F64),
                ("score", _F64),
                ("label", _STR),
                ("snippet", _STR),
            ],
            ("source", "id", "model"),
        ),
        # Point-in-time daily features per symbol and model: ts = the UTC day, available_at
        # = its newest text; a day that gains texts gets a new vintage.
        _spec(
            "sentiment_daily",
            "symbol",
            [
                ("model", _STR),
                ("mean_score", _F64),
                ("count", pa.int64()),
                ("share_positive", _F64),
                ("share_negative", _F64),
                ("decayed_score", _F64),
            ],
            ("ts", "model"),
        ),
    )
}
