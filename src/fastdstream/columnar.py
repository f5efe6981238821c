"""Partition data: Arrow tables or Python objects, and the bridge between them.

A partition is either a :class:`pyarrow.Table` (the columnar path) or a Python
iterable. Tables turn into Python rows only when a user function needs them: a
one-column table yields its values, a wider one yields tuples of its columns.
Functions the engine recognises (``str.split``, ``operator.add``, ``len`` ...)
keep the data columnar wherever the Arrow kernel gives exactly what Python would.
"""

from __future__ import annotations

import builtins
import operator
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

PartitionData = Any  # pa.Table | Iterable[Any]


def is_columnar(data: PartitionData) -> bool:
    return isinstance(data, pa.Table)


def as_table(data: pa.Table | pa.RecordBatch) -> pa.Table:
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    return data


def iter_rows(data: PartitionData) -> Iterator[Any]:
    """Python view of a partition (the lazy table -> objects conversion)."""
    if isinstance(data, pa.Table):
        if data.num_columns == 1:
            return iter(data.column(0).to_pylist())
        return zip(*(col.to_pylist() for col in data.columns), strict=True)
    return iter(data)


def to_list(data: PartitionData) -> list[Any]:
    if isinstance(data, list):
        return data
    return list(iter_rows(data))


def num_rows(data: PartitionData) -> int:
    if isinstance(data, pa.Table):
        return data.num_rows
    if isinstance(data, list):
        return len(data)
    return sum(1 for _ in data)


def is_pair_table(data: PartitionData) -> bool:
    return isinstance(data, pa.Table) and data.num_columns == 2


def _is_string_table(data: pa.Table) -> bool:
    return data.num_columns == 1 and (
        pa.types.is_string(data.schema.types[0]) or pa.types.is_large_string(data.schema.types[0])
    )


# --- recognised functions -------------------------------------------------------------

REDUCE_OPS: dict[Any, str] = {operator.add: "sum", builtins.min: "min", builtins.max: "max"}

# Python's str methods use full Unicode case mapping, Arrow's utf8 kernels simple case
# mapping, so case maps are columnar for ASCII text only. (Whitespace agrees: every code
# point splits the same in str.split() and utf8_split_whitespace, checked on pyarrow 26.)
# Where the two could differ, the object path runs.
_ASCII_MAPS: dict[Any, Callable[[pa.ChunkedArray], pa.ChunkedArray]] = {
    str.lower: pc.ascii_lower,
    str.upper: pc.ascii_upper,
}


def _all_ascii(column: pa.ChunkedArray) -> bool:
    return bool(pc.all(pc.string_is_ascii(column)).as_py() is not False)


def columnar_map(f: Callable[[Any], Any]) -> Callable[[pa.Table], pa.Table | None] | None:
    """A table -> table version of ``map(f)``, if ``f`` is recognised; None otherwise.

    The returned function answers None for a table it cannot handle exactly as
    Python would (the caller then falls back to the object path). Nulls always
    fall back: ``str.lower(None)`` raises there, as it should.
    """
    column_index = _single_item(f)
    if column_index is not None:
        return partial(_select_column, column_index)
    ascii_kernel = _ASCII_MAPS.get(f)
    if ascii_kernel is None and f is not len:
        return None

    def apply(table: pa.Table) -> pa.Table | None:
        if not _is_string_table(table) or table.column(0).null_count:
            return None
        column = table.column(0)
        if f is len:
            return pa.table({table.column_names[0]: pc.utf8_length(column)})
        if not _all_ascii(column):
            return None
        assert ascii_kernel is not None
        return pa.table({table.column_names[0]: ascii_kernel(column)})

    return apply


def _single_item(f: Callable[[Any], Any]) -> int | None:
    """The index ``i`` of ``operator.itemgetter(i)``, which maps a row to one column."""
    if not isinstance(f, operator.itemgetter):
        return None
    _, items = f.__reduce__()  # type: ignore[misc]
    if len(items) == 1 and isinstance(items[0], int) and not isinstance(items[0], bool):
        return items[0]
    return None


def _select_column(index: int, table: pa.Table) -> pa.Table | None:
    # A one-column table's rows are its values, not tuples: itemgetter would index into
    # the value itself, so only wider tables select.
    if table.num_columns < 2 or not -table.num_columns <= index < table.num_columns:
        return None
    return table.select([index % table.num_columns])


def columnar_flat_map(f: Callable[[Any], Any]) -> Callable[[pa.Table], pa.Table | None] | None:
    """``flatMap(str.split)`` over a string column: whitespace split, no Python objects."""
    if f is not str.split:
        return None

    def apply(table: pa.Table) -> pa.Table | None:
        if not _is_string_table(table):
            return None
        column = table.column(0)
        # Python's str.split() of None raises; of "" gives []: nulls cannot occur in the
        # object path, so they are rejected here too rather than silently dropped.
        if column.null_count:
            return None
        words = pc.list_flatten(pc.utf8_split_whitespace(column))
        # Arrow keeps the empty strings between runs of whitespace; str.split() does not.
        words = words.filter(pc.greater(pc.binary_length(words), 0))
        return pa.table({table.column_names[0]: words})

    return apply


def columnar_filter(f: Callable[[Any], Any]) -> Callable[[pa.Table], pa.Table | None] | None:
    """``filter(None)`` / ``filter(bool)`` over a string column keeps non-empty strings."""
    if f not in (None, bool):
        return None

    def apply(table: pa.Table) -> pa.Table | None:
        if not _is_string_table(table) or table.column(0).null_count:
            return None
        return table.filter(pc.greater(pc.binary_length(table.column(0)), 0))

    return apply
