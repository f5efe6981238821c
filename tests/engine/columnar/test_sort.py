"""The Arrow ordering kernels against their Python twins: ``sorted``, ``heapq``,
``min``/``max`` and PySpark's range partitioner over the same rows."""

from __future__ import annotations

import bisect
import heapq

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from fastdstream.engine.columnar import sort
from fastdstream.engine.columnar.partition import to_list

PROPERTY = settings(max_examples=150, deadline=None)

_ints = st.integers(-(2**63), 2**63 - 1)
_texts = st.text(max_size=6)
_floats = st.floats(allow_nan=False, allow_infinity=True).filter(lambda x: x != 0)
_values = st.one_of(st.lists(_ints, min_size=1, max_size=30),
                    st.lists(_texts, min_size=1, max_size=30),
                    st.lists(_floats, min_size=1, max_size=30),
                    st.lists(st.binary(max_size=4), min_size=1, max_size=30))


@PROPERTY
@given(keys=_values, data=st.data())
def test_sort_by_key_is_pythons_stable_sort(keys, data) -> None:
    table = pa.table({"k": keys, "v": list(range(len(keys)))})
    assert sort.orderable(table, 1)
    rows = to_list(table)
    for order, reverse in (("ascending", False), ("descending", True)):
        got = to_list(sort.sort_table(table, order))
        assert got == sorted(rows, key=lambda kv: kv[0], reverse=reverse)


@PROPERTY
@given(values=_values, k=st.integers(0, 35))
def test_select_k_is_heapq(values, k) -> None:
    table = pa.table({"v": values})
    assert to_list(sort.select_k(table, k, "descending")) == heapq.nlargest(k, values)
    assert to_list(sort.select_k(table, k, "ascending")) == heapq.nsmallest(k, values)


@PROPERTY
@given(rows=st.lists(st.tuples(st.integers(-5, 5), _texts), max_size=30), k=st.integers(0, 35))
def test_select_k_orders_wide_rows_as_tuples(rows, k) -> None:
    table = pa.table({"a": [r[0] for r in rows], "b": [r[1] for r in rows]})
    assert to_list(sort.select_k(table, k, "descending")) == heapq.nlargest(k, rows)


@PROPERTY
@given(keys=st.lists(st.integers(-50, 50), max_size=40),
       bounds=st.lists(st.integers(-60, 60), max_size=5).map(sorted),
       ascending=st.booleans())
def test_range_split_puts_each_key_where_the_range_partitioner_does(keys, bounds,
                                                                    ascending) -> None:
    table = pa.table({"k": keys, "v": list(range(len(keys)))})
    parts = sort.range_split(sort.sort_table(table), bounds, ascending)
    assert len(parts) == len(bounds) + 1
    for index, part in enumerate(parts):
        for k in part.column(0).to_pylist():
            p = bisect.bisect_left(bounds, k)
            assert index == (p if ascending else len(bounds) - p)
    assert sum(p.num_rows for p in parts) == len(keys)


def test_the_guard_refuses_what_python_orders_differently() -> None:
    assert not sort.orderable(pa.table({"v": [1.0, float("nan")]}))  # NaN: no order in Python
    assert not sort.orderable(pa.table({"v": [0.0, -0.0]}))  # which zero Python keeps
    assert not sort.orderable(pa.table({"v": [1, None]}))  # None does not compare
    assert not sort.orderable(pa.table({"v": pa.array([[1]], pa.list_(pa.int64()))}))
    assert sort.orderable(pa.table({"v": ["b", "a"], "n": [1, 2]}))
    assert sort.orderable(pa.table({"k": [1, 2], "v": [None, 1.0]}), 1)  # only the key
