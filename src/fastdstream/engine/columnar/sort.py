"""Ordering of Arrow partitions: sort, top-k, min/max and range splits, by pyarrow.compute.

Each kernel gives what Python's ``sorted``/``heapq``/``min``/``max`` give on the
partition's rows, and is taken only where the guard :func:`orderable` says so:
every column of a type Arrow orders as Python does (integers, strings, binary,
booleans; floats without NaN, whose order Python leaves undefined, and without
zeros, whose sign Python keeps from the first one met), and no nulls (Python
cannot compare None). Arrow's sort is stable, as Python's is, so rows with equal
keys keep their order. The pure-Python twins are the row path itself (``sorted``
over the rows); the property tests hold the two equal.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

Order = Literal["ascending", "descending"]

__all__ = ["orderable", "range_split", "select_k", "sort_table"]


def _orderable_column(column: pa.ChunkedArray | pa.Array) -> bool:
    kind = column.type
    if column.null_count:
        return False
    if (pa.types.is_integer(kind) or pa.types.is_boolean(kind) or pa.types.is_string(kind)
            or pa.types.is_large_string(kind) or pa.types.is_binary(kind)
            or pa.types.is_large_binary(kind)):
        return True
    if pa.types.is_floating(kind):
        if len(column) == 0:
            return True
        return not (pc.any(pc.is_nan(column)).as_py() or pc.any(pc.equal(column, 0)).as_py())
    return False


def orderable(table: pa.Table, columns: int | None = None) -> bool:
    """Whether the first ``columns`` columns (all, if None) order in Arrow as in Python.

    Examples
    --------
    >>> import pyarrow as pa
    >>> orderable(pa.table({"v": [3, 1]})), orderable(pa.table({"v": [1.5, float("nan")]}))
    (True, False)
    """
    if not isinstance(table, pa.Table) or table.num_columns == 0:
        return False
    n = table.num_columns if columns is None else columns
    return table.num_columns >= n and all(_orderable_column(table.column(i)) for i in range(n))


def sort_table(table: pa.Table, order: Order = "ascending", by: int | None = 0) -> pa.Table:
    """The rows sorted (stably) by column ``by``, or by all columns if ``by`` is None.

    Examples
    --------
    >>> import pyarrow as pa
    >>> sort_table(pa.table({"k": [2, 1], "v": ["b", "a"]})).to_pylist()
    [{'k': 1, 'v': 'a'}, {'k': 2, 'v': 'b'}]
    """
    names = table.column_names
    keys = [names[by]] if by is not None else names
    indices = pc.sort_indices(table, sort_keys=[(_ref(table, k), order) for k in keys])
    return table.take(indices)


def _ref(table: pa.Table, name: str) -> str | int:
    # Duplicate column names (zip of two "value" columns) are referred to by position.
    names = table.column_names
    return names.index(name) if names.count(name) > 1 else name


def select_k(table: pa.Table, k: int, order: Order) -> pa.Table:
    """The ``k`` largest (``descending``) or smallest rows, by all columns, sorted.

    Examples
    --------
    >>> import pyarrow as pa
    >>> select_k(pa.table({"v": [5, 1, 4, 2]}), 2, "descending").column(0).to_pylist()
    [5, 4]
    """
    if k <= 0 or table.num_rows == 0:
        return table.slice(0, 0)
    sort_keys = [(_ref(table, name), order) for name in table.column_names]
    if k < table.num_rows:
        # Rows equal in every column are indistinguishable, so an unstable choice
        # among them is still exactly what heapq gives.
        table = table.take(pc.select_k_unstable(table, k=k, sort_keys=sort_keys))
    return table.take(pc.sort_indices(table, sort_keys=sort_keys))


def min_max(column: pa.ChunkedArray) -> tuple[Any, Any]:
    """(min, max) of an orderable column; (None, None) if it is empty."""
    bounds = pc.min_max(column).as_py()
    return bounds["min"], bounds["max"]


def range_split(sorted_table: pa.Table, bounds: Sequence[Any], ascending: bool) -> list[pa.Table]:
    """Cut a table sorted ascending by column 0 into ``len(bounds) + 1`` ranges.

    A key goes to range ``bisect_left(bounds, key)``, as PySpark's range partitioner
    puts it (range ``i`` holds the keys above ``bounds[i - 1]`` up to ``bounds[i]``);
    descending, the ranges come in reverse order.
    """
    keys = sorted_table.column(0)
    cuts = [0]
    for bound in bounds:
        cuts.append(_first_above(keys, bound, cuts[-1]))
    cuts.append(sorted_table.num_rows)
    parts = [sorted_table.slice(a, b - a) for a, b in itertools.pairwise(cuts)]
    return parts if ascending else parts[::-1]


def _first_above(keys: pa.ChunkedArray, value: Any, lo: int) -> int:
    """The first row at or after ``lo`` whose key is above ``value`` (keys sorted)."""

    class _View(Sequence[Any]):
        def __len__(self) -> int:
            return len(keys)

        def __getitem__(self, i: Any) -> Any:
            return keys[i].as_py()

    return bisect.bisect_right(_View(), value, lo)
