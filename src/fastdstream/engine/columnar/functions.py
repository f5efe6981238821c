"""The engine's own recognised functions: the guard that makes each kernel exact, the
kernel, and their registration.

Each guard is what makes its kernel give exactly what Python gives on the rows; the
tests check every entry against Python (tests/engine/columnar/test_registry.py) and
the README's table against the registry.
"""

from __future__ import annotations

import builtins
import operator
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from fastdstream import _core
from fastdstream.engine.columnar.registry import declare_operation, register, set_core_guard


def _column_type(table: pa.Table) -> pa.DataType | None:
    return table.schema.types[0] if table.num_columns == 1 else None


def _is_string(t: pa.DataType | None) -> bool:
    return t is not None and (pa.types.is_string(t) or pa.types.is_large_string(t))


def _is_binary(t: pa.DataType | None) -> bool:
    return t is not None and (pa.types.is_binary(t) or pa.types.is_large_binary(t))


def string_column(table: pa.Table) -> bool:
    """One string column without nulls (Python's str methods raise on None)."""
    return _is_string(_column_type(table)) and table.column(0).null_count == 0


def ascii_string_column(table: pa.Table) -> bool:
    """One string column without nulls, all ASCII.

    Python's case mappings are Unicode's full ones ('ß'.upper() == 'SS', final sigma,
    'ǆ'.title() == 'ǅ'); Arrow's are simple mappings. They agree on ASCII only.
    """
    if not string_column(table):
        return False
    return pc.all(pc.string_is_ascii(table.column(0))).as_py() is not False


def sized_column(table: pa.Table) -> bool:
    """One string or binary column without nulls (``len(None)`` raises)."""
    t = _column_type(table)
    return (_is_string(t) or _is_binary(t)) and table.column(0).null_count == 0


def truthy_column(table: pa.Table) -> bool:
    """One string or binary column: truthiness is length > 0, and None is falsy."""
    t = _column_type(table)
    return _is_string(t) or _is_binary(t)


def _one_column(table: pa.Table, column: pa.ChunkedArray | pa.Array) -> pa.Table:
    return pa.table({table.column_names[0]: column})


def ascii_lower(table: pa.Table) -> pa.Table:
    return _one_column(table, pc.ascii_lower(table.column(0)))


def ascii_upper(table: pa.Table) -> pa.Table:
    return _one_column(table, pc.ascii_upper(table.column(0)))


def ascii_title(table: pa.Table) -> pa.Table:
    # Python's title() starts a word after any uncased character (digits and
    # apostrophes too: "they're 1st" -> "They'Re 1St"); Arrow's does the same on ASCII.
    return _one_column(table, pc.ascii_title(table.column(0)))


def trim_whitespace(table: pa.Table) -> pa.Table:
    # Arrow's Unicode whitespace is Python's: category Zs or bidi class WS/B/S, so
    # U+001C..U+001F, U+0085 and U+2028 are stripped by both (checked per code point).
    return _one_column(table, pc.utf8_trim_whitespace(table.column(0)))


def length(table: pa.Table) -> pa.Table:
    column = table.column(0)
    if _is_string(column.type):
        return _one_column(table, pc.utf8_length(column))  # code points, as len(str)
    return _one_column(table, pc.binary_length(column))


def split_whitespace(table: pa.Table) -> pa.Table:
    # The core splits at Python's whitespace (str.isspace) and copies each word once,
    # without the GIL; Arrow's utf8_split_whitespace cost ~140 ns a word, plus a trim,
    # a list flatten and a filter of the empty strings it keeps between spaces.
    column = table.column(0)
    words = [_split_words(chunk) for chunk in column.chunks if len(chunk)]
    return _one_column(table, pa.chunked_array(words, type=column.type))


def _split_words(chunk: pa.Array) -> pa.Array:
    _, offsets_buf, data_buf = chunk.buffers()
    offsets: npt.NDArray[np.int32] | npt.NDArray[np.int64] = (
        np.frombuffer(offsets_buf, dtype=np.int64) if pa.types.is_large_string(chunk.type)
        else np.frombuffer(offsets_buf, dtype=np.int32))
    data = (np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None
            else np.empty(0, dtype=np.uint8))
    word_offsets, values, n = _core.split_words(offsets, data, chunk.offset, len(chunk))
    return pa.Array.from_buffers(
        chunk.type, n,
        [None, pa.py_buffer(word_offsets), pa.py_buffer(values[: int(word_offsets[n])])])


def non_empty(table: pa.Table) -> pa.Table:
    # A null length compares to null, and filter drops null selections: bool(None) is False.
    return table.filter(pc.greater(pc.binary_length(table.column(0)), 0))


def is_single_itemgetter(func: Any) -> bool:
    """``operator.itemgetter(i)`` with one int ``i``: it maps a row to one column."""
    return _item(func) is not None


def _item(func: Any) -> int | None:
    if not isinstance(func, operator.itemgetter):
        return None
    reduced = func.__reduce__()
    items: tuple[Any, ...] = reduced[1] if isinstance(reduced, tuple) else ()
    if len(items) == 1 and isinstance(items[0], int) and not isinstance(items[0], bool):
        return items[0]
    return None


def item_in_columns(func: operator.itemgetter[Any], table: pa.Table) -> bool:
    # A one-column table's rows are its values, not tuples: itemgetter would index into
    # the value itself, so only wider tables select.
    index = _item(func)
    return index is not None and table.num_columns >= 2 and (
        -table.num_columns <= index < table.num_columns
    )


def select_item(func: operator.itemgetter[Any], table: pa.Table) -> pa.Table:
    index = _item(func)
    assert index is not None
    return table.select([index % table.num_columns])


def _is_key_type(t: pa.DataType) -> bool:
    # What the core's grouping and hashing take (kernels._normalize_keys).
    if pa.types.is_dictionary(t):
        return _is_key_type(t.value_type)
    return (
        pa.types.is_null(t)
        or _is_string(t)
        or _is_binary(t)
        or pa.types.is_string_view(t)
        or pa.types.is_binary_view(t)
        or (pa.types.is_integer(t) and not pa.types.is_uint64(t))
    )


def _is_value_type(t: pa.DataType) -> bool:
    return (pa.types.is_integer(t) and not pa.types.is_uint64(t)) or pa.types.is_floating(t)


def _pair(table: pa.Table) -> pa.ChunkedArray | None:
    """The value column of a (key, value) table the core can reduce, without nulls."""
    if table.num_columns != 2:
        return None
    keys, values = table.columns
    if not (_is_key_type(keys.type) and _is_value_type(values.type)) or values.null_count:
        return None  # None + 1 raises in Python: nulls take the row path and raise there
    return values


def _has_negative_zero(values: pa.ChunkedArray) -> bool:
    if not pa.types.is_floating(values.type):
        return False
    as_f64 = values.cast(pa.float64()) if not pa.types.is_float64(values.type) else values
    for chunk in as_f64.chunks:
        bits = np.frombuffer(chunk.buffers()[1], dtype=np.int64)[
            chunk.offset: chunk.offset + len(chunk)
        ]
        if (bits == np.int64(-(2**63))).any():
            return True
    return False


def summable_pairs(table: pa.Table) -> bool:
    """(key, value) with string/binary/integer keys and integer/float values, no nulls.

    A -0.0 value takes the row path: the core's sums start at 0.0 and 0.0 + -0.0 is
    0.0, while Python's reduce keeps a lone -0.0. (An int64 sum that would overflow
    falls back to rows at run time.)
    """
    values = _pair(table)
    return values is not None and not _has_negative_zero(values)


def comparable_pairs(table: pa.Table) -> bool:
    """(key, value) as for sums, and no NaN: Python's min/max keep a NaN that comes
    first, the core skips NaN."""
    values = _pair(table)
    if values is None:
        return False
    return not (pa.types.is_floating(values.type) and pc.any(pc.is_nan(values)).as_py())


def countable_column(table: pa.Table) -> bool:
    """One column of string, binary or integer values (nulls count as ``None``)."""
    t = _column_type(table)
    return t is not None and _is_key_type(t)


_ENGINE = __name__

declare_operation("map", "table")
declare_operation("flatMap", "table")
declare_operation("filter", "table")
declare_operation("reduceByKey", "reduce")
declare_operation("countByValue", "reduce", takes_function=False)
# Every reduction with these ops, a user's entries included, takes the core only where
# it gives what Python gives.
set_core_guard("sum", summable_pairs, "integer or float values, no nulls, no -0.0")
for _op in ("min", "max"):
    set_core_guard(_op, comparable_pairs, "integer or float values, no nulls, no NaN")
set_core_guard("count", countable_column, "one column of string, binary or integer values")

_ASCII_ONLY = "one string column, no nulls, ASCII only"
_STRINGS = "one string column, no nulls"
for _func, _kernel in ((str.lower, ascii_lower), (str.upper, ascii_upper),
                       (str.title, ascii_title)):
    register("map", _func, _kernel, guard=ascii_string_column, description=_ASCII_ONLY,
             owner=_ENGINE)
register("map", str.strip, trim_whitespace, guard=string_column, description=_STRINGS,
         owner=_ENGINE)
register("map", builtins.len, length, guard=sized_column,
         description="one string or binary column, no nulls", owner=_ENGINE)
register("map", None, select_item, guard=item_in_columns, matches=is_single_itemgetter,
         label="operator.itemgetter(i)",
         description="a table of two or more columns (selects column i)", owner=_ENGINE)
register("flatMap", str.split, split_whitespace, guard=string_column, description=_STRINGS,
         owner=_ENGINE)
for _truth in (None, builtins.bool):
    register("filter", _truth, non_empty, guard=truthy_column,
             description="one string or binary column (keeps non-empty values)",
             owner=_ENGINE)
register("reduceByKey", operator.add, "sum", guard=summable_pairs,
         description="two columns: string, binary or integer keys; integer or float "
                     "values, no nulls, no -0.0",
         owner=_ENGINE)
for _compare, _op in ((builtins.min, "min"), (builtins.max, "max")):
    register("reduceByKey", _compare, _op, guard=comparable_pairs,
             description="two columns: string, binary or integer keys; integer or float "
                         "values, no nulls, no NaN",
             owner=_ENGINE)
register("countByValue", None, "count", guard=countable_column, label="",
         description="one column of string, binary or integer values", owner=_ENGINE)
del _func, _kernel, _op
