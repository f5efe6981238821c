"""Functions the engine recognises, and the columnar kernels that replace them.

Each recognised function keeps a batch columnar wherever the Arrow kernel gives
exactly what Python would; elsewhere the row path runs.
"""

from __future__ import annotations

import builtins
import operator
from collections.abc import Callable
from functools import partial
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from fastdstream.engine.columnar.partition import _is_string_table

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
