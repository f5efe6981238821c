"""Sorting and ordered selection: sortByKey/sortBy (sampled range partitioning, as
PySpark), repartitionAndSortWithinPartitions, top, takeOrdered, max, min -- against
Python's sorted/heapq/max/min, on Python rows and on Arrow partitions (where Arrow
runs them, as the explain says)."""

from __future__ import annotations

import heapq
import itertools

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

PROPERTY = settings(max_examples=15, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def sc(module_sc):
    return module_sc


def _pairs_table(keys):
    return pa.table({"k": keys, "v": list(range(len(keys)))})


@PROPERTY
@given(keys=st.lists(st.integers(-20, 20), max_size=60), slices=st.integers(1, 4),
       n=st.integers(1, 4), ascending=st.booleans(), columnar=st.booleans())
def test_sort_by_key_is_a_stable_sort(sc, keys, slices, n, ascending, columnar) -> None:
    pairs = [(k, i) for i, k in enumerate(keys)]
    source = _pairs_table(keys) if columnar else pairs
    rdd = sc.parallelize(source, slices).sortByKey(ascending, n)
    expected = sorted(pairs, key=lambda kv: kv[0], reverse=not ascending)
    assert rdd.collect() == expected
    # Range partitioned: every key of a partition comes before those of the next.
    parts = [[k for k, _ in p] for p in rdd.glom().collect() if p]
    for a, b in itertools.pairwise(parts):
        assert (max(a) <= min(b)) if ascending else (min(a) >= max(b))


def test_sort_by_key_with_keyfunc_and_strings(sc) -> None:
    tmp = [("a", 1), ("b", 2), ("1", 3), ("d", 4), ("2", 5)]
    assert sc.parallelize(tmp).sortByKey().first() == ("1", 3)
    assert sc.parallelize(tmp, 3).sortByKey(True, 2).collect() == sorted(tmp)
    tmp2 = [("Mary", 1), ("had", 2), ("a", 3), ("little", 4), ("lamb", 5)]
    tmp2 += [("whose", 6), ("fleece", 7), ("was", 8), ("white", 9)]
    got = sc.parallelize(tmp2, 3).sortByKey(True, 3, keyfunc=lambda k: k.lower()).collect()
    assert got == sorted(tmp2, key=lambda kv: kv[0].lower())
    assert sc.parallelize([], 2).sortByKey().collect() == []


def test_sort_by_key_partitions_by_range_and_lookup_uses_it(sc) -> None:
    rdd = sc.parallelize([(x % 97, x) for x in range(400)], 4).sortByKey(numPartitions=3)
    assert rdd.getNumPartitions() <= 3
    assert sorted(rdd.lookup(5)) == [x for x in range(400) if x % 97 == 5]


def test_sort_by(sc) -> None:
    tmp = [("a", 1), ("b", 2), ("1", 3), ("d", 4), ("2", 5)]
    assert sc.parallelize(tmp).sortBy(lambda x: x[0]).collect() == sorted(tmp)
    assert sc.parallelize(tmp, 2).sortBy(lambda x: x[1], False, 3).collect() == sorted(
        tmp, key=lambda x: x[1], reverse=True)


def test_columnar_sort_runs_in_arrow_and_explain_says_so(sc) -> None:
    table = pa.table({"k": ["b", "a", "c", "a"], "v": [1, 2, 3, 4]})
    rdd = sc.parallelize(table, 2).sortByKey(numPartitions=2)
    explain = rdd.explain()
    assert "sortByKey(ascending=True) columnar when the key column orders as in Python" in explain
    assert rdd.toArrow().column("k").to_pylist() == ["a", "a", "b", "c"]  # still tables
    assert rdd.collect() == [("a", 2), ("a", 4), ("b", 1), ("c", 3)]
    # One partition: the sort is a pipelined step, Arrow's too.
    single = sc.parallelize(table, 2).sortByKey(False, 1)
    assert "sortByKey(ascending=False) columnar when" in single.explain()
    assert single.toArrow().column("k").to_pylist() == ["c", "b", "a", "a"]
    with_keyfunc = sc.parallelize(table, 2).sortByKey(keyfunc=str.upper)
    assert "rows: a keyfunc" in with_keyfunc.explain()


def test_columnar_sort_falls_back_to_rows_where_arrow_would_differ(sc) -> None:
    table = pa.table({"k": [1.0, float("nan"), -1.0], "v": [1, 2, 3]})
    got = sc.parallelize(table, 1).sortByKey(numPartitions=1).collect()
    # Python's sort, whatever it makes of NaN (Arrow would put it last).
    rows = list(zip(*table.to_pydict().values(), strict=True))
    assert repr(got) == repr(sorted(rows, key=lambda kv: kv[0]))


def test_repartition_and_sort_within_partitions(sc) -> None:
    rdd = sc.parallelize([(0, 5), (3, 8), (2, 6), (0, 8), (3, 8), (1, 3)])
    got = rdd.repartitionAndSortWithinPartitions(2, lambda x: x % 2, True).glom().collect()
    assert got == [[(0, 5), (0, 8), (2, 6)], [(1, 3), (3, 8), (3, 8)]]
    table = pa.table({"k": [3, 1, 2, 4], "v": ["c", "a", "b", "d"]})
    parts = sc.parallelize(table, 2).repartitionAndSortWithinPartitions(2, ascending=False)
    for part in parts.glom().collect():
        assert part == sorted(part, reverse=True)


@PROPERTY
@given(values=st.lists(st.integers(-30, 30), max_size=40), num=st.integers(0, 45),
       slices=st.integers(1, 3), columnar=st.booleans())
def test_top_and_take_ordered_are_heapq(sc, values, num, slices, columnar) -> None:
    source = pa.table({"v": pa.array(values, pa.int64())}) if columnar else values
    rdd = sc.parallelize(source, slices)
    assert rdd.top(num) == heapq.nlargest(num, values)
    assert rdd.takeOrdered(num) == heapq.nsmallest(num, values)
    assert rdd.top(num, key=lambda x: -x) == heapq.nlargest(num, values, key=lambda x: -x)
    if values:
        assert (rdd.max(), rdd.min()) == (max(values), min(values))
        assert rdd.max(key=abs) == max(values, key=abs)


def test_top_of_wide_tables_orders_rows_as_tuples(sc) -> None:
    table = pa.table({"a": [1, 2, 2, 0], "b": ["x", "a", "b", "z"]})
    assert sc.parallelize(table, 2).top(2) == [(2, "b"), (2, "a")]
    assert sc.parallelize(table, 2).takeOrdered(1) == [(0, "z")]


def test_pyspark_examples_of_top_take_ordered_max_min(sc) -> None:
    assert sc.parallelize([10, 4, 2, 12, 3]).top(1) == [12]
    assert sc.parallelize([2, 3, 4, 5, 6], 2).top(2) == [6, 5]
    assert sc.parallelize([10, 1, 2, 9, 3, 4, 5, 6, 7], 2).takeOrdered(6, key=lambda x: -x) \
        == [10, 9, 7, 6, 5, 4]
    rdd = sc.parallelize([1.0, 5.0, 43.0, 10.0])
    assert rdd.max() == 43.0 and rdd.max(key=str) == 5.0 and rdd.min(key=str) == 1.0
    with pytest.raises(ValueError, match="empty"):
        sc.parallelize([], 2).max()
    with pytest.raises(ValueError, match="negative"):
        sc.parallelize([1]).takeOrdered(-1)
