"""Context: masters, parallelize, emptyRDD, union, stop (PySpark's SparkContext semantics)."""

from __future__ import annotations

import os

import pyarrow as pa
import pytest

from fastdstream import Conf, Context, SparkContext
from fastdstream.engine.rdd import RDD
from fastdstream.testing import partitions

# --- masters ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("master", "expected"),
    [("local", 1), ("local[1]", 1), ("local[3]", 3), ("local[*]", os.cpu_count() or 1)],
)
def test_local_masters_set_parallelism(master, expected):
    with Context(master) as ctx:
        assert ctx.master == master
        assert ctx.defaultParallelism == expected
        # parallelize without numSlices uses the default parallelism
        assert ctx.parallelize(range(10)).getNumPartitions() == expected
        assert ctx.parallelize(range(10)).sum() == 45


def test_master_defaults_to_local_star_and_reads_conf():
    with Context() as ctx:
        assert ctx.master == "local[*]"
        assert ctx.appName == "fastdstream"
    conf = Conf().setMaster("local[2]").setAppName("from-conf")
    with Context(conf=conf) as ctx:
        assert ctx.master == "local[2]"
        assert ctx.appName == "from-conf"
        assert ctx.defaultParallelism == 2
        assert ctx.getConf() is conf
    with Context(conf={"spark.master": "local[3]"}) as ctx:
        assert ctx.defaultParallelism == 3


def test_explicit_master_overrides_conf():
    conf = Conf().setMaster("local[3]")
    with Context("local[1]", conf=conf) as ctx:
        assert ctx.master == "local[1]"
        assert ctx.defaultParallelism == 1


def test_default_parallelism_from_conf():
    with Context("local[2]", conf={"spark.default.parallelism": "5"}) as ctx:
        assert ctx.defaultParallelism == 5
        assert ctx.parallelize(range(20)).getNumPartitions() == 5


@pytest.mark.parametrize(
    "master", ["yarn", "local[x]", "local[-1]", "local[2", "locale", "spark://h:7077"]
)
def test_unknown_master_is_a_clear_error(master):
    with pytest.raises(ValueError, match="unknown master") as info:
        Context(master)
    assert repr(master) in str(info.value)
    assert "local[N]" in str(info.value)


def test_zero_threads_is_rejected():
    with pytest.raises(ValueError, match="at least one thread"):
        Context("local[0]")


# --- parallelize -----------------------------------------------------------------------


def test_parallelize_list_slices_like_spark(sc):
    # Spark slices at positions i*len/n: [[1, 2], [3, 4, 5]]
    assert sc.parallelize([1, 2, 3, 4, 5], 2).glom().collect() == [[1, 2], [3, 4, 5]]
    assert sc.parallelize([1, 2, 3, 4], 2).glom().collect() == [[1, 2], [3, 4]]


def test_parallelize_range_and_generator(sc):
    rdd = sc.parallelize(range(0, 10, 2), 3)
    assert rdd.getNumPartitions() == 3
    assert rdd.collect() == [0, 2, 4, 6, 8]
    assert sc.parallelize((x * x for x in range(4)), 2).collect() == [0, 1, 4, 9]


def test_parallelize_more_slices_than_elements(sc):
    rdd = sc.parallelize([1, 2], 5)
    assert rdd.getNumPartitions() == 5
    parts = rdd.glom().collect()
    assert sorted(len(p) for p in parts) == [0, 0, 0, 1, 1]
    assert [x for p in parts for x in p] == [1, 2]


def test_parallelize_empty(sc):
    rdd = sc.parallelize([], 3)
    assert rdd.getNumPartitions() == 3
    assert rdd.collect() == []
    assert rdd.count() == 0
    assert rdd.isEmpty()


@pytest.mark.parametrize("n", [0, -1])
def test_parallelize_bad_num_slices(sc, n):
    with pytest.raises(ValueError, match="numSlices"):
        sc.parallelize([1, 2], n)


def test_parallelize_table_stays_columnar(sc):
    table = pa.table({"value": ["a", "b", "c", "d", "e"]})
    rdd = sc.parallelize(table, 2)
    assert rdd.getNumPartitions() == 2
    parts = partitions(rdd)
    assert all(isinstance(p, pa.Table) for p in parts)
    assert [p.num_rows for p in parts] == [2, 3]
    assert rdd.collect() == ["a", "b", "c", "d", "e"]
    assert rdd.toArrow().equals(table)


def test_parallelize_record_batch(sc):
    batch = pa.record_batch({"k": ["x", "y"], "v": [1, 2]})
    rdd = sc.parallelize(batch, 1)
    assert isinstance(partitions(rdd)[0], pa.Table)
    # a wider table yields tuples of its columns
    assert rdd.collect() == [("x", 1), ("y", 2)]


def test_empty_rdd(sc):
    rdd = sc.emptyRDD()
    assert isinstance(rdd, RDD)
    assert rdd.getNumPartitions() == 0
    assert rdd.collect() == []
    assert rdd.count() == 0
    assert rdd.isEmpty()
    assert rdd.take(3) == []
    assert rdd.sum() == 0
    with pytest.raises(ValueError, match="empty"):
        rdd.first()


def test_context_union(sc):
    a = sc.parallelize([1, 2], 2)
    b = sc.parallelize([3], 1)
    c = sc.parallelize([4, 5], 1)
    u = sc.union([a, b, c])
    assert u.getNumPartitions() == 4
    assert u.collect() == [1, 2, 3, 4, 5]
    assert sc.union([a]).collect() == [1, 2]
    with pytest.raises(ValueError, match="at least one"):
        sc.union([])


# --- lifecycle -------------------------------------------------------------------------


def test_running_after_stop_errors_clearly():
    ctx = Context("local[2]")
    rdd = ctx.parallelize([1, 2, 3], 2)
    assert rdd.count() == 3
    ctx.stop()
    ctx.stop()  # idempotent
    with pytest.raises(RuntimeError, match="stopped"):
        rdd.count()
    with pytest.raises(RuntimeError, match="stopped"):
        ctx.parallelize([1], 1).collect()  # one task takes the no-pool path


def test_context_manager_stops():
    with Context("local[2]") as ctx:
        rdd = ctx.parallelize([1, 2], 2)
        assert rdd.collect() == [1, 2]
    with pytest.raises(RuntimeError, match="stopped"):
        rdd.collect()


def test_get_or_create():
    ctx = Context("local[1]")
    try:
        assert Context.getOrCreate() is ctx
    finally:
        ctx.stop()
    fresh = Context.getOrCreate(Conf().setMaster("local[2]"))
    try:
        assert fresh is not ctx
        assert fresh.defaultParallelism == 2
    finally:
        fresh.stop()


def test_repr():
    with Context("local[1]", "app") as ctx:
        assert repr(ctx) == "Context(master='local[1]', appName='app')"
    # SparkContext, PySpark's constructor over Context: tests/test_spark_context.py
    assert issubclass(SparkContext, Context)
