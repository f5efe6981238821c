"""RDD.explain / toDebugString: the lineage, and per step columnar or rows and why."""

from __future__ import annotations

import operator

import pyarrow as pa
import pytest

from fastdstream import Context, register_kernel
from fastdstream.engine.columnar import registry


@pytest.fixture
def sc():
    # A fresh context per test: RDD ids in the expected text start at 0.
    context = Context("local[2]", "test-explain")
    yield context
    context.stop()


def lines_of(sc, n=2):
    return sc.parallelize(pa.table({"value": ["a b", "B"]}), n)


def test_lambda_word_count_says_where_it_leaves_the_columnar_path(sc):
    counts = lines_of(sc).flatMap(str.split).map(lambda w: (w, 1)).reduceByKey(operator.add)
    assert counts.explain() == "\n".join([
        "(2) ShuffledRDD[3] reduceByKey(operator.add) rows: its input is Python rows "
        "(from map(<lambda>))",
        " +-(2) PipelinedRDD[2] 2 steps",
        "    |    map(<lambda>) rows: not a registered function for map",
        "    |    flatMap(str.split) columnar when one string column, no nulls; else rows",
        "    |  ParallelCollectionRDD[0] Arrow tables",
    ])


def test_columnar_word_count_is_columnar_at_every_step(sc):
    counts = lines_of(sc).flatMap(str.split).map(str.lower).countByValueRDD(3)
    assert counts.explain().splitlines() == [
        "(3) ShuffledRDD[3] countByValue() columnar when one column of string, binary or "
        "integer values; else rows",
        " +-(2) PipelinedRDD[2] 2 steps",
        "    |    map(str.lower) columnar when one string column, no nulls, ASCII only; "
        "else rows",
        "    |    flatMap(str.split) columnar when one string column, no nulls; else rows",
        "    |  ParallelCollectionRDD[0] Arrow tables",
    ]


def test_to_debug_string_is_bytes_as_in_pyspark(sc):
    rdd = lines_of(sc).map(len)
    debug = rdd.toDebugString()
    assert isinstance(debug, bytes)
    assert debug.decode("utf-8") == rdd.explain()


def test_recognised_function_on_python_rows_says_so(sc):
    rdd = sc.parallelize(["A b"], 1).map(str.lower).flatMap(str.split)
    assert rdd.explain().splitlines() == [
        "(1) PipelinedRDD[2] 2 steps",
        " |    flatMap(str.split) rows: its input is Python rows (from parallelize)",
        " |    map(str.lower) rows: its input is Python rows (from parallelize)",
        " |  ParallelCollectionRDD[0] Python rows",
    ]


def test_reduce_by_key_fallbacks_say_why(sc):
    pairs = sc.parallelize(pa.table({"k": ["a"], "v": [1]}), 1)
    assert pairs.reduceByKey(operator.add, partitionFunc=hash).explain().splitlines()[0] == (
        "(1) ShuffledRDD[1] reduceByKey(operator.add) rows: a custom partitionFunc")
    assert pairs.reduceByKey(lambda a, b: a + b).explain().splitlines()[0] == (
        "(1) ShuffledRDD[2] reduceByKey(<lambda>) rows: not a registered function for "
        "reduceByKey")
    assert pairs.reduceByKey(max).explain().splitlines()[0].endswith(
        "reduceByKey(max) columnar when two columns: string, binary or integer keys; "
        "integer or float values, no nulls, no NaN; else rows")


def test_python_operations_and_arrow_operations(sc):
    table = sc.parallelize(pa.table({"k": ["a"], "v": [1]}), 2)
    rdd = (table.partitionBy(3).repartition(2).mapInArrow(iter).values()
           .glom().mapPartitionsWithIndex(lambda i, it: it))
    assert rdd.explain().splitlines() == [
        "(2) PipelinedRDD[6] 4 steps",
        " |    partition function <lambda> rows: Python code over rows",
        " |    glom rows: Python code over rows",
        " |    map(operator.itemgetter(1)) columnar when a table of two or more columns "
        "(selects column i); else rows",
        " |    mapInArrow(iter) columnar: a function of Arrow record batches",
        " |  ShuffledRDD[2] repartition columnar on tables: slices",
        " +-(3) ShuffledRDD[1] partitionBy columnar on tables: the core's hash partitioning",
        "    +-(2) ParallelCollectionRDD[0] Arrow tables",
    ]


def test_cached_rdd_ends_a_pipeline_and_is_marked(sc):
    cached = lines_of(sc).map(str.upper).cache()
    rdd = cached.map(lambda s: s)
    assert rdd.explain().splitlines() == [
        "(2) PipelinedRDD[2] 1 step",
        " |    map(<lambda>) rows: not a registered function for map",
        " |  PipelinedRDD[1] 1 step [cached]",
        " |    map(str.upper) columnar when one string column, no nulls, ASCII only; else rows",
        " |  ParallelCollectionRDD[0] Arrow tables",
    ]


def test_join_shows_both_sides_and_the_shuffle(sc):
    left = sc.parallelize(pa.table({"k": ["a"], "v": [1]}), 1)
    right = sc.parallelize([("a", 2)], 1)
    assert left.join(right).explain().splitlines() == [
        "(1) PipelinedRDD[7] 2 steps",
        " |    flatMapValues rows: Python code over rows",
        " |    mapValues rows: Python code over rows",
        " |  ShuffledRDD[5] combineByKey rows: Python combiner functions",
        " +-(2) UnionRDD[4] union: Python rows",
        "    |  PipelinedRDD[2] 1 step",
        "    |    cogroup rows: tags values by side",
        "    |  ParallelCollectionRDD[0] Arrow tables",
        "    |  PipelinedRDD[3] 1 step",
        "    |    cogroup rows: tags values by side",
        "    |  ParallelCollectionRDD[1] Python rows",
    ]


def test_union_of_tables_and_rows_may_be_either(sc):
    rdd = lines_of(sc, 1).union(sc.parallelize(["c"], 1)).map(str.strip)
    assert rdd.explain().splitlines()[1:3] == [
        " |    map(str.strip) columnar when one string column, no nulls; else rows",
        " |  UnionRDD[2] union: Arrow tables or Python rows",
    ]


def raising_guard(table):
    raise AssertionError("the explain must not run guards")


def shout(s):
    return s.upper()


def test_explain_runs_nothing(sc):
    register_kernel("map", shout, raising_guard, guard=raising_guard, description="never")
    try:
        rdd = lines_of(sc).map(lambda s: 1 / 0).map(shout)
        text = rdd.explain()
    finally:
        registry.unregister("map", shout)
    assert " |    map(shout) rows: its input is Python rows (from map(<lambda>))" in text
