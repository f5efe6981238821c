"""Set operations, zip, lookup and the other pair-RDD methods PySpark has, with its
documented examples; both back ends."""

from __future__ import annotations

import operator

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

PROPERTY = settings(max_examples=10, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def sc(module_sc):
    return module_sc


@PROPERTY
@given(a=st.lists(st.integers(0, 12), max_size=25), b=st.lists(st.integers(0, 12), max_size=25))
def test_intersection_and_subtract_are_pythons(sc, a, b) -> None:
    x, y = sc.parallelize(a, 2), sc.parallelize(b, 3)
    assert sorted(x.intersection(y).collect()) == sorted(set(a) & set(b))
    assert sorted(x.subtract(y).collect()) == sorted(v for v in a if v not in set(b))


def test_pyspark_examples(sc) -> None:
    x = sc.parallelize([("a", 1), ("b", 4), ("b", 5), ("a", 2)])
    y = sc.parallelize([("a", 3), ("c", None)])
    assert sorted(x.subtractByKey(y).collect()) == [("b", 4), ("b", 5)]
    rdd1 = sc.parallelize([1, 10, 2, 3, 4, 5])
    rdd2 = sc.parallelize([1, 6, 2, 3, 7, 8])
    assert sorted(rdd1.intersection(rdd2).collect()) == [1, 2, 3]
    grouped = sc.parallelize([1, 1, 2, 3, 5, 8]).groupBy(lambda v: v % 2)
    assert sorted((k, sorted(v)) for k, v in grouped.collect()) == [(0, [2, 8]), (1, [1, 1, 3, 5])]
    assert (sc.parallelize([1]) + sc.parallelize([2])).collect() == [1, 2]
    assert sorted(sc.parallelize([("a", 1), ("b", 1), ("a", 1)]).reduceByKeyLocally(
        operator.add).items()) == [("a", 2), ("b", 1)]


def test_zip(sc) -> None:
    x = sc.parallelize(range(0, 5), 2)
    y = sc.parallelize(range(1000, 1005), 2)
    assert x.zip(y).collect() == [(0, 1000), (1, 1001), (2, 1002), (3, 1003), (4, 1004)]
    with pytest.raises(ValueError, match="same number of partitions"):
        x.zip(sc.parallelize(range(5), 3))
    with pytest.raises(Exception, match="same number of elements"):
        x.zip(sc.parallelize(range(6), 2)).collect()
    a = sc.parallelize(pa.table({"v": ["a", "b", "c"]}), 2)
    zipped = a.zip(a.map(str.upper))
    assert zipped.collect() == [("a", "A"), ("b", "B"), ("c", "C")]
    assert zipped.toArrow().num_columns == 2  # two tables zip into one, columnar
    assert "zip columnar where both sides are one-column tables" in zipped.explain()


def test_zip_with_index_and_unique_id(sc) -> None:
    assert sc.parallelize(["a", "b", "c", "d"], 3).zipWithIndex().collect() == [
        ("a", 0), ("b", 1), ("c", 2), ("d", 3)]
    assert sc.parallelize(["a", "b", "c", "d", "e"], 3).zipWithUniqueId().collect() == [
        ("a", 0), ("b", 1), ("c", 4), ("d", 2), ("e", 5)]
    table = sc.parallelize(pa.table({"v": list("abcdefg")}), 3).zipWithIndex()
    assert table.toArrow().column("index").to_pylist() == list(range(7))
    ids = sc.parallelize(list(range(50)), 4).zipWithUniqueId().values().collect()
    assert len(set(ids)) == 50


def test_lookup_searches_only_the_keys_partition(sc) -> None:
    rdd = sc.parallelize([(x, x * 2) for x in range(100)], 4)
    assert rdd.lookup(42) == [84] and rdd.lookup(1024) == []
    partitioned = rdd.partitionBy(8)
    assert partitioned.lookup(42) == [84]


def test_tree_aggregate_and_tree_reduce(sc) -> None:
    rdd = sc.parallelize(range(-5, 5), 10)
    for depth in (1, 2, 3, 4):
        assert rdd.treeAggregate(0, operator.add, operator.add, depth) == -5
        assert rdd.treeReduce(operator.add, depth) == -5
    assert sc.parallelize(range(40), 40).treeReduce(max, 2) == 39
    with pytest.raises(ValueError, match="Depth"):
        rdd.treeReduce(operator.add, 0)
    with pytest.raises(ValueError, match="empty"):
        sc.parallelize([], 3).treeReduce(operator.add)
    assert sc.emptyRDD().treeAggregate(7, operator.add, operator.add) == 7


def test_aggregate_and_fold_give_each_partition_its_own_zero(sc) -> None:
    def seq(acc, x):
        acc.append(x)  # mutates its zero: each partition must have its own
        return acc

    def comb(a, b):
        return a + b

    assert sorted(sc.parallelize(range(6), 3).aggregate([], seq, comb)) == list(range(6))
    assert sorted(sc.parallelize(range(6), 3).fold([], lambda a, b: [*a, b]
                                                  if not isinstance(b, list) else a + b)) \
        == list(range(6))
    assert sc.parallelize([1, 2, 3, 4]).aggregate(
        (0, 0), lambda acc, v: (acc[0] + v, acc[1] + 1),
        lambda a, b: (a[0] + b[0], a[1] + b[1])) == (10, 4)
