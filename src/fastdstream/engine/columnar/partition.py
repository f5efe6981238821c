"""Partition data: Arrow tables or Python objects, and the bridge between them.

A partition is either a :class:`pyarrow.Table` (the columnar path) or a Python
iterable. Tables turn into Python rows only when a user function needs them: a
one-column table yields its values, a wider one yields tuples of its columns.
Functions the engine recognises (``str.split``, ``operator.add``, ``len`` ...)
keep the data columnar wherever the Arrow kernel gives exactly what Python would.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa

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
