"""RDD operations, with PySpark's RDD API as the specification.

Expected values are the ones PySpark's docstrings give for the same calls.
Side effects of tasks are observed through files: closures are cloudpickled per
stage, so a driver-side list captured by a task is never mutated.
"""

from __future__ import annotations

import operator
import os
import stat

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from fastdstream import Context
from fastdstream.engine.partitioner import HashPartitioner
from fastdstream.testing import block_ids, partitions


class CustomTaskError(Exception):
    pass


def _logger(path):
    """A task-side function that records which partitions were computed, in a file."""
    path = str(path)

    def record(split, it):
        with open(path, "a") as f:
            f.write(f"{split}\n")
        return it

    return record


def _calls(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [int(line) for line in f.read().split()]


# --- narrow transformations --------------------------------------------------------------


def test_map_filter_flatmap(sc):
    rdd = sc.parallelize(range(10), 3)
    assert rdd.map(lambda x: x * 2).collect() == [x * 2 for x in range(10)]
    assert rdd.filter(lambda x: x % 3 == 0).collect() == [0, 3, 6, 9]
    assert sc.parallelize([2, 3, 4], 2).flatMap(lambda x: range(1, x)).collect() == [
        1, 1, 2, 1, 2, 3
    ]
    assert sorted(
        sc.parallelize([2, 3, 4]).flatMap(lambda x: [(x, x), (x, x)]).collect()
    ) == [(2, 2), (2, 2), (3, 3), (3, 3), (4, 4), (4, 4)]


def test_chained_narrow_ops_keep_order_and_partitions(sc):
    rdd = sc.parallelize(range(20), 4).map(lambda x: x + 1).filter(lambda x: x % 2).map(str)
    assert rdd.getNumPartitions() == 4
    assert rdd.collect() == [str(x) for x in range(1, 21) if x % 2]


def test_map_partitions(sc):
    rdd = sc.parallelize([1, 2, 3, 4], 2)
    assert rdd.mapPartitions(lambda it: [sum(it)]).collect() == [3, 7]


def test_map_partitions_with_index(sc):
    rdd = sc.parallelize([1, 2, 3, 4], 4)
    assert rdd.mapPartitionsWithIndex(lambda i, it: [i]).sum() == 6
    tagged = sc.parallelize(["a", "b", "c"], 3).mapPartitionsWithIndex(
        lambda i, it: ((i, x) for x in it)
    )
    assert tagged.collect() == [(0, "a"), (1, "b"), (2, "c")]


def test_glom(sc):
    assert sc.parallelize([1, 2, 3, 4], 2).glom().collect() == [[1, 2], [3, 4]]
    assert sc.parallelize([], 2).glom().collect() == [[], []]


def test_pair_narrow_ops(sc):
    pairs = sc.parallelize([("a", ["x", "y", "z"]), ("b", ["p", "r"])], 2)
    assert pairs.mapValues(len).collect() == [("a", 3), ("b", 2)]
    assert pairs.flatMapValues(lambda v: v).collect() == [
        ("a", "x"), ("a", "y"), ("a", "z"), ("b", "p"), ("b", "r")
    ]
    assert pairs.keys().collect() == ["a", "b"]
    assert pairs.values().collect() == [["x", "y", "z"], ["p", "r"]]
    assert sc.parallelize(range(3), 2).keyBy(lambda x: x * x).collect() == [
        (0, 0), (1, 1), (4, 2)
    ]


def test_map_values_keeps_partitioner_map_does_not(sc):
    parted = sc.parallelize([(1, 1), (2, 2)], 2).partitionBy(3)
    assert parted.partitioner == HashPartitioner(3)
    assert parted.mapValues(str).partitioner == parted.partitioner
    assert parted.filter(lambda kv: True).partitioner == parted.partitioner
    assert parted.map(lambda kv: kv).partitioner is None


def test_union(sc):
    a = sc.parallelize([1, 1, 2, 3], 2)
    b = sc.parallelize([4, 5], 1)
    u = a.union(b)
    assert u.getNumPartitions() == 3
    assert u.collect() == [1, 1, 2, 3, 4, 5]
    assert a.union(a).collect() == [1, 1, 2, 3, 1, 1, 2, 3]


def test_cartesian(sc):
    a = sc.parallelize([1, 2], 2)
    b = sc.parallelize(["x", "y", "z"], 3)
    c = a.cartesian(b)
    assert c.getNumPartitions() == 6
    assert sorted(c.collect()) == sorted((x, y) for x in [1, 2] for y in "xyz")
    assert a.cartesian(sc.parallelize([], 2)).collect() == []


# --- wide transformations --------------------------------------------------------------


def test_reduce_by_key(sc):
    rdd = sc.parallelize([("a", 1), ("b", 1), ("a", 1)], 2)
    assert sorted(rdd.reduceByKey(operator.add).collect()) == [("a", 2), ("b", 1)]
    assert sorted(rdd.reduceByKey(lambda x, y: x * 10 + y).collect()) == [("a", 11), ("b", 1)]
    assert rdd.reduceByKey(operator.add, 5).getNumPartitions() == 5
    assert rdd.reduceByKey(max).collectAsMap() == {"a": 1, "b": 1}


def test_reduce_by_key_places_keys_by_partitioner(sc):
    rdd = sc.parallelize([(k % 7, 1) for k in range(70)], 3).reduceByKey(operator.add, 4)
    part = HashPartitioner(4)
    for i, chunk in enumerate(rdd.glom().collect()):
        for key, count in chunk:
            assert part(key) == i
            assert count == 10
    assert rdd.partitioner == part


def test_reduce_by_key_default_partitions(sc):
    rdd = sc.parallelize([("a", 1)] * 6, 3)
    assert rdd.reduceByKey(operator.add).getNumPartitions() == 3
    with Context("local[1]", conf={"spark.default.parallelism": "7"}) as ctx:
        assert ctx.parallelize([("a", 1)], 2).reduceByKey(operator.add).getNumPartitions() == 7


def test_reduce_by_key_custom_partition_func(sc):
    rdd = sc.parallelize([(k, 1) for k in range(10)], 2)
    out = rdd.reduceByKey(operator.add, 3, partitionFunc=lambda k: k)
    for i, chunk in enumerate(out.glom().collect()):
        assert all(k % 3 == i for k, _ in chunk)


def test_group_by_key(sc):
    rdd = sc.parallelize([("a", 1), ("b", 1), ("a", 1)], 2)
    assert sorted(rdd.groupByKey().mapValues(len).collect()) == [("a", 2), ("b", 1)]
    assert sorted(rdd.groupByKey().mapValues(list).collect()) == [("a", [1, 1]), ("b", [1])]
    assert rdd.groupByKey(4).getNumPartitions() == 4


def test_combine_by_key(sc):
    x = sc.parallelize([("a", 1), ("b", 1), ("a", 2)], 2)

    def to_list(a):
        return [a]

    def append(a, b):
        a.append(b)
        return a

    def extend(a, b):
        a.extend(b)
        return a

    assert sorted(x.combineByKey(to_list, append, extend).collect()) == [
        ("a", [1, 2]), ("b", [1])
    ]


def test_fold_by_key(sc):
    rdd = sc.parallelize([("a", 1), ("b", 1), ("a", 1)], 2)
    assert sorted(rdd.foldByKey(0, operator.add).collect()) == [("a", 2), ("b", 1)]


def test_aggregate_by_key(sc):
    rdd = sc.parallelize([("a", 1), ("b", 2), ("a", 3), ("a", 5)], 3)
    seq = lambda acc, v: (acc[0] + v, acc[1] + 1)  # noqa: E731
    comb = lambda a, b: (a[0] + b[0], a[1] + b[1])  # noqa: E731
    assert sorted(rdd.aggregateByKey((0, 0), seq, comb).collect()) == [
        ("a", (9, 3)), ("b", (2, 1))
    ]


@pytest.mark.parametrize("op", ["aggregateByKey", "foldByKey"])
def test_by_key_mutable_zero_value_is_copied_per_key(sc, op):
    def add_to(acc, v):
        acc.append(v)
        return acc

    rdd = sc.parallelize([("a", 1), ("b", 2), ("a", 3)], 1)
    if op == "aggregateByKey":
        out = rdd.aggregateByKey([], add_to, operator.add)
    else:
        out = rdd.mapValues(lambda v: [v]).foldByKey([], operator.iadd)
    assert sorted((k, sorted(v)) for k, v in out.collect()) == [("a", [1, 3]), ("b", [2])]


def test_partition_by(sc):
    rdd = sc.parallelize([(x, x) for x in [1, 2, 3, 4, 2, 4, 1]], 2)
    sets = rdd.partitionBy(2).glom().collect()
    assert len(sets) == 2
    part = HashPartitioner(2)
    for i, chunk in enumerate(sets):
        assert all(part(k) == i for k, _ in chunk)
    assert sorted(x for chunk in sets for x in chunk) == sorted(rdd.collect())


def test_partition_by_custom_func_and_noop(sc):
    rdd = sc.parallelize([(k, str(k)) for k in range(12)], 3)
    parted = rdd.partitionBy(4, lambda k: k)
    assert parted.glom().map(lambda c: sorted(k for k, _ in c)).collect() == [
        [0, 4, 8], [1, 5, 9], [2, 6, 10], [3, 7, 11]
    ]
    same = rdd.partitionBy(3)
    assert same.partitionBy(3) is same  # already partitioned that way: no shuffle
    assert same.partitionBy(2) is not same


def test_partition_by_columnar_table(sc):
    table = pa.table({"k": ["a", "b", "c", "a", "d", "e"], "v": [1, 2, 3, 4, 5, 6]})
    parted = sc.parallelize(table, 2).partitionBy(3)
    result = parted.toArrow()  # every output partition is still a table
    assert sorted(zip(result["k"].to_pylist(), result["v"].to_pylist(), strict=True)) == sorted(
        zip(table["k"].to_pylist(), table["v"].to_pylist(), strict=True)
    )
    part = HashPartitioner(3)
    for i, chunk in enumerate(parted.glom().collect()):
        assert all(part(k) == i for k, _ in chunk)


@pytest.mark.parametrize("n", [1, 3, 7])
def test_repartition(sc, n):
    rdd = sc.parallelize(range(50), 4).repartition(n)
    assert rdd.getNumPartitions() == n
    assert sorted(rdd.collect()) == list(range(50))
    assert rdd.partitioner is None
    sizes = rdd.glom().map(len).collect()
    assert max(sizes) - min(sizes) <= 4  # spread evenly, not by key


def test_repartition_table_stays_columnar(sc):
    table = pa.table({"value": [str(i) for i in range(30)]})
    rdd = sc.parallelize(table, 2).repartition(5)
    assert rdd.getNumPartitions() == 5
    out = rdd.toArrow()
    assert sorted(out["value"].to_pylist()) == sorted(table["value"].to_pylist())


def test_repartition_rejects_zero(sc):
    with pytest.raises(ValueError, match="at least 1"):
        sc.parallelize([1]).repartition(0)


def test_coalesce_reduces_partitions(sc):
    rdd = sc.parallelize(range(10), 4).coalesce(1)
    assert rdd.getNumPartitions() == 1
    assert sorted(rdd.collect()) == list(range(10))


def test_coalesce_without_shuffle_does_not_increase_partitions(sc):
    assert sc.parallelize([1, 2, 3], 2).coalesce(5).getNumPartitions() == 2


def test_coalesce_merges_neighbours_and_shuffle_can_grow(sc):
    rdd = sc.parallelize(range(8), 4)
    merged = rdd.coalesce(2)
    assert merged.glom().collect() == [[0, 1, 2, 3], [4, 5, 6, 7]]
    grown = rdd.coalesce(6, shuffle=True)
    assert grown.getNumPartitions() == 6
    assert sorted(grown.collect()) == list(range(8))
    table = sc.parallelize(pa.table({"value": list("abcdef")}), 3).coalesce(1)
    assert table.toArrow()["value"].to_pylist() == list("abcdef")


def test_distinct(sc):
    rdd = sc.parallelize([1, 1, 2, 3, 3, 3, "a", "a", (1, 2), (1, 2)], 3)
    assert sorted(rdd.distinct().collect(), key=repr) == sorted([1, 2, 3, "a", (1, 2)], key=repr)
    assert rdd.distinct(5).getNumPartitions() == 5
    assert sorted(sc.parallelize([1, 1.0, True, 2], 2).distinct().collect()) == [1, 2]


def test_cogroup(sc):
    x = sc.parallelize([("a", 1), ("b", 4)], 2)
    y = sc.parallelize([("a", 2)], 1)
    out = [(k, tuple(map(list, v))) for k, v in sorted(x.cogroup(y).collect())]
    assert out == [("a", ([1], [2])), ("b", ([4], []))]
    w = sc.parallelize([("b", 42)], 1)
    grouped = sorted((k, tuple(map(sorted, v))) for k, v in x.groupWith(y, w).collect())
    assert grouped == [("a", ([1], [2], [])), ("b", ([4], [], [42]))]


def test_joins(sc):
    x = sc.parallelize([("a", 1), ("b", 4)], 2)
    y = sc.parallelize([("a", 2), ("a", 3)], 2)
    assert sorted(x.join(y).collect()) == [("a", (1, 2)), ("a", (1, 3))]
    assert sorted(x.leftOuterJoin(y).collect()) == [("a", (1, 2)), ("a", (1, 3)), ("b", (4, None))]
    y1 = sc.parallelize([("a", 2)], 1)
    assert sorted(y1.rightOuterJoin(x).collect()) == [("a", (2, 1)), ("b", (None, 4))]
    y2 = sc.parallelize([("a", 2), ("c", 8)], 2)
    assert sorted(x.fullOuterJoin(y2).collect()) == [
        ("a", (1, 2)), ("b", (4, None)), ("c", (None, 8))
    ]
    assert x.join(y, 5).getNumPartitions() == 5


def test_reduce_by_key_stable_across_actions(sc):
    rdd = sc.parallelize([("a", 1), ("a", 2), ("b", 3)], 2).reduceByKey(operator.add)
    first = sorted(rdd.collect())
    assert rdd.count() == 2
    assert sorted(rdd.collect()) == first == [("a", 3), ("b", 3)]


def _group_values(rdd):
    return sorted(rdd.groupByKey().mapValues(sorted).collect())


@pytest.mark.parametrize("op", ["groupByKey", "join", "cogroup"])
def test_wide_ops_give_same_result_on_second_action(sc, op):
    left = sc.parallelize([("a", 1), ("a", 2), ("b", 3)], 2)
    right = sc.parallelize([("a", 9), ("b", 8)], 2)
    if op == "groupByKey":
        rdd = left.groupByKey()
    elif op == "join":
        rdd = left.join(right)
    else:
        rdd = left.cogroup(right)

    def normal(rows):
        return sorted(repr((k, v if op == "join" else [sorted(x) for x in v]
                            if op == "cogroup" else sorted(v))) for k, v in rows)

    first = normal(rdd.collect())
    assert normal(rdd.collect()) == first


# --- actions ---------------------------------------------------------------------------


def test_collect_count_get_num_partitions(sc):
    rdd = sc.parallelize(range(100), 7)
    assert rdd.getNumPartitions() == 7
    assert rdd.count() == 100
    assert rdd.collect() == list(range(100))
    assert rdd.filter(lambda x: x > 90).count() == 9


def test_take(sc):
    rdd = sc.parallelize(range(100), 10)
    assert rdd.take(0) == []
    assert rdd.take(3) == [0, 1, 2]
    assert rdd.take(25) == list(range(25))
    assert rdd.take(1000) == list(range(100))
    # the first partitions are empty: take keeps scanning
    assert rdd.filter(lambda x: x >= 95).take(3) == [95, 96, 97]


def test_take_scans_few_partitions(sc, tmp_path):
    log = tmp_path / "calls"
    rdd = sc.parallelize(range(100), 10).mapPartitionsWithIndex(_logger(log))
    assert rdd.take(3) == [0, 1, 2]
    assert _calls(log) == [0]  # one partition was enough
    os.remove(log)
    assert rdd.take(15) == list(range(15))
    calls = _calls(log)
    assert 0 in calls and 1 in calls
    assert len(calls) < 10  # not the whole RDD


def test_take_on_columnar_partitions(sc):
    rdd = sc.parallelize(pa.table({"value": list("abcdefg")}), 3)
    assert rdd.take(4) == ["a", "b", "c", "d"]
    assert rdd.first() == "a"


def test_first_and_empty_error(sc):
    assert sc.parallelize([2, 3, 4], 2).first() == 2
    assert sc.parallelize([5], 4).first() == 5
    with pytest.raises(ValueError, match="RDD is empty"):
        sc.parallelize([], 2).first()


def test_is_empty(sc):
    assert sc.emptyRDD().isEmpty()
    assert sc.parallelize([], 3).isEmpty()
    assert sc.parallelize(range(5), 3).filter(lambda x: x > 10).isEmpty()
    assert not sc.parallelize([1], 3).isEmpty()


def test_reduce(sc):
    assert sc.parallelize([1, 2, 3, 4, 5], 2).reduce(operator.add) == 15
    assert sc.parallelize((2 for _ in range(10)), 5).reduce(operator.add) == 20
    assert sc.parallelize([1, 2], 5).reduce(operator.add) == 3  # empty partitions skipped
    assert sc.parallelize(["b", "a", "c"], 2).reduce(min) == "a"
    with pytest.raises(ValueError, match="empty"):
        sc.parallelize([], 3).reduce(operator.add)


def test_fold(sc):
    assert sc.parallelize([1, 2, 3, 4, 5], 2).fold(0, operator.add) == 15
    # As Spark: the zero value is used once per partition and once more on the driver.
    assert sc.parallelize([1, 2, 3, 4, 5], 3).fold(1, operator.add) == 15 + 3 + 1
    assert sc.parallelize([], 2).fold(0, operator.add) == 0


def test_sum(sc):
    assert sc.parallelize([1.0, 2.0, 3.0], 2).sum() == 6.0
    assert sc.parallelize(range(101), 4).sum() == 5050
    assert sc.parallelize([], 2).sum() == 0
    assert sc.parallelize(pa.table({"value": [1, 2, 3]}), 2).sum() == 6
    assert sc.parallelize(pa.table({"value": pa.array([], pa.int64())}), 2).sum() == 0


def test_foreach_and_foreach_partition(sc, tmp_path):
    path = str(tmp_path / "seen")

    def write(x):
        with open(path, "a") as f:
            f.write(f"{x}\n")

    sc.parallelize(range(10), 3).foreach(write)
    with open(path) as f:
        assert sorted(int(x) for x in f.read().split()) == list(range(10))

    part_path = str(tmp_path / "parts")

    def write_part(it):
        items = list(it)
        with open(part_path, "a") as f:
            f.write(f"{len(items)}\n")

    sc.parallelize(range(10), 3).foreachPartition(write_part)
    with open(part_path) as f:
        assert sorted(int(x) for x in f.read().split()) == [3, 3, 4]


def test_count_by_value_and_key(sc):
    assert sc.parallelize([1, 2, 1, 2, 2], 2).countByValue() == {1: 2, 2: 3}
    assert sc.parallelize([("a", 1), ("b", 1), ("a", 1)], 2).countByKey() == {"a": 2, "b": 1}
    assert sc.parallelize([], 2).countByValue() == {}


def test_collect_as_map(sc):
    assert sc.parallelize([(1, 2), (3, 4)], 2).collectAsMap() == {1: 2, 3: 4}


def test_save_as_text_file(sc, tmp_path):
    out = tmp_path / "out"
    sc.parallelize([1, "two", (3, 4), None], 3).saveAsTextFile(str(out))
    files = sorted(os.listdir(out))
    # Hadoop's layout: the parts, and an empty _SUCCESS marking the directory complete.
    assert files == ["_SUCCESS", "part-00000", "part-00001", "part-00002"]
    assert (out / "_SUCCESS").read_bytes() == b""
    text = "".join((out / name).read_text() for name in files)
    assert text == "1\ntwo\n(3, 4)\nNone\n"
    # textFile reads it back without the marker
    assert sorted(sc.textFile(str(out)).collect()) == sorted(["1", "two", "(3, 4)", "None"])
    # nothing else (no staging directory) is left beside it
    assert os.listdir(tmp_path) == ["out"]


def test_save_as_text_file_refuses_existing_path(sc, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep").write_text("x")
    with pytest.raises(FileExistsError, match="already exists"):
        sc.parallelize([1]).saveAsTextFile(str(out))
    assert os.listdir(out) == ["keep"]


def _fail_on_three(x):
    if x == 3:
        raise CustomTaskError("bad record 3")
    return x


def test_save_as_text_file_failure_leaves_no_output(sc, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(CustomTaskError):
        sc.parallelize(range(6), 3).map(_fail_on_three).saveAsTextFile(str(out))
    assert not out.exists()


def test_save_as_text_file_failure_cleans_staging(sc, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(CustomTaskError):
        sc.parallelize(range(6), 3).map(_fail_on_three).saveAsTextFile(str(out))
    assert os.listdir(tmp_path) == []


def test_save_as_text_file_directory_mode_follows_umask(sc, tmp_path):
    out = tmp_path / "out"
    sc.parallelize([1]).saveAsTextFile(str(out))
    normal = tmp_path / "normal"
    normal.mkdir()
    assert stat.S_IMODE(out.stat().st_mode) == stat.S_IMODE(normal.stat().st_mode)


# --- persistence -----------------------------------------------------------------------


def test_uncached_rdd_recomputes(sc, tmp_path):
    log = tmp_path / "calls"
    rdd = sc.parallelize(range(9), 3).mapPartitionsWithIndex(_logger(log))
    rdd.count()
    rdd.collect()
    assert sorted(_calls(log)) == [0, 0, 1, 1, 2, 2]


def test_cache_computes_partitions_once(sc, tmp_path):
    log = tmp_path / "calls"
    rdd = sc.parallelize(range(9), 3).mapPartitionsWithIndex(_logger(log)).cache()
    assert rdd.is_cached
    assert rdd.count() == 9
    assert rdd.collect() == list(range(9))
    assert rdd.map(lambda x: x * 2).sum() == 72  # a child reads the cached blocks
    assert sorted(_calls(log)) == [0, 1, 2]
    assert ("rdd", rdd.id(), 0) in block_ids(sc)

    rdd.unpersist()
    assert not rdd.is_cached
    assert ("rdd", rdd.id(), 0) not in block_ids(sc)
    assert rdd.collect() == list(range(9))
    assert sorted(_calls(log)) == [0, 0, 1, 1, 2, 2]


def test_persist_returns_self_and_accepts_storage_level(sc, tmp_path):
    from fastdstream import StorageLevel

    log = tmp_path / "calls"
    rdd = sc.parallelize(range(4), 2).mapPartitionsWithIndex(_logger(log))
    assert rdd.persist(StorageLevel.MEMORY_ONLY) is rdd
    rdd.collect()
    rdd.collect()
    assert sorted(_calls(log)) == [0, 1]


def test_cached_columnar_partitions_stay_tables(sc):
    rdd = sc.parallelize(pa.table({"value": ["a b", "c"]}), 2).flatMap(str.split).cache()
    assert rdd.collect() == ["a", "b", "c"]
    assert ("rdd", rdd.id(), 0) in block_ids(sc)
    assert all(isinstance(p, pa.Table) for p in partitions(rdd))
    rdd.unpersist()


# --- Arrow -----------------------------------------------------------------------------


def test_to_arrow(sc):
    table = pa.table({"value": ["a", "b", "c"]})
    assert sc.parallelize(table, 2).toArrow().equals(table)
    with pytest.raises(TypeError, match="Python objects"):
        sc.parallelize([1, 2], 2).toArrow()
    assert sc.emptyRDD().toArrow().num_rows == 0


def _upper(batches):
    for b in batches:
        assert isinstance(b, pa.RecordBatch)
        yield b.set_column(0, "value", pc.utf8_upper(b[0]))


def test_map_in_arrow(sc):
    rdd = sc.parallelize(pa.table({"value": ["a", "B", "c"]}), 2).mapInArrow(_upper)
    assert rdd.collect() == ["A", "B", "C"]
    out = rdd.toArrow()
    assert out.column_names == ["value"]
    assert out["value"].to_pylist() == ["A", "B", "C"]


def test_map_in_arrow_refuses_object_partitions(sc):
    with pytest.raises(TypeError, match=r"mapInArrow.*partition"):
        sc.parallelize(["a"], 1).mapInArrow(_upper).collect()


# --- errors ----------------------------------------------------------------------------


def _divide(x):
    return 10 // x


@pytest.mark.parametrize(
    ("build", "exc"),
    [
        (lambda sc: sc.parallelize([1, 0, 2], 3).map(_divide).collect(), ZeroDivisionError),
        (lambda sc: sc.parallelize([1, 0], 1).map(_divide).count(), ZeroDivisionError),
        (lambda sc: sc.parallelize(range(6), 3).map(_fail_on_three).collect(), CustomTaskError),
        (lambda sc: sc.parallelize(range(6), 3).foreach(_fail_on_three), CustomTaskError),
        (lambda sc: sc.parallelize([("a", 1), ("a", 0)], 2)
         .reduceByKey(lambda a, b: a // b).collect(), ZeroDivisionError),
        (lambda sc: sc.parallelize([{}], 2).map(lambda d: d["missing"]).take(1), KeyError),
    ],
)
def test_user_exception_type_propagates(sc, build, exc):
    with pytest.raises(exc):
        build(sc)


def test_context_usable_after_task_failure(sc):
    with pytest.raises(CustomTaskError, match="bad record 3"):
        sc.parallelize(range(6), 3).map(_fail_on_three).collect()
    assert sc.parallelize(range(6), 3).map(lambda x: x + 1).sum() == 21


def test_offset_ranges_of_an_rdd_not_from_kafka_is_a_clear_error(sc):
    # Importing the Kafka module gives RDDs offsetRanges(), as a Kafka user's program does;
    # run alone, this file has imported nothing else that would.
    import fastdstream.kafka  # noqa: F401

    with pytest.raises(TypeError, match="not derived from a Kafka direct stream"):
        sc.parallelize([1, 2]).map(str).offsetRanges()
