"""DStream operations check the functions they will ship to executors when the stream
is defined, as Spark does; functions that run on the driver (foreachRDD, transform's
own function) are not checked, but the RDD operations they call are."""

from __future__ import annotations

import operator
import threading

import pytest

from fastdstream import StateSpec, StreamingJobError, TaskNotSerializableError
from fastdstream.testing import ManualStreaming


@pytest.mark.parametrize("operation, define", [
    ("map", lambda s, f: s.map(f)),
    ("flatMap", lambda s, f: s.flatMap(f)),
    ("filter", lambda s, f: s.filter(f)),
    ("mapPartitions", lambda s, f: s.mapPartitions(f)),
    ("mapPartitionsWithIndex", lambda s, f: s.mapPartitionsWithIndex(f)),
    ("mapValues", lambda s, f: s.mapValues(f)),
    ("flatMapValues", lambda s, f: s.flatMapValues(f)),
    ("reduce", lambda s, f: s.reduce(f)),
    ("reduceByKey", lambda s, f: s.reduceByKey(f)),
    ("combineByKey", lambda s, f: s.combineByKey(str, f, operator.add)),
    ("partitionBy", lambda s, f: s.partitionBy(2, f)),
    ("reduceByWindow", lambda s, f: s.reduceByWindow(operator.add, f, 2, 1)),
    ("reduceByKeyAndWindow", lambda s, f: s.reduceByKeyAndWindow(f, None, 2, 1)),
    ("reduceByKeyAndWindow",
     lambda s, f: s.reduceByKeyAndWindow(operator.add, f, 2, 1)),
    ("reduceByKeyAndWindow",
     lambda s, f: s.reduceByKeyAndWindow(operator.add, None, 2, 1, filterFunc=f)),
    ("updateStateByKey", lambda s, f: s.updateStateByKey(f)),
    ("mapWithState", lambda s, f: s.mapWithState(StateSpec.function(f))),
    ("mapWithState", lambda s, f: s.mapWithState(
        StateSpec.function(lambda k, v, state: v).partitioner(f))),
])
def test_an_operation_fails_when_the_stream_is_defined(manual: ManualStreaming,
                                                       operation, define) -> None:
    guard = threading.Lock()
    pairs = manual.input([[("a", 1)]])
    with pytest.raises(TaskNotSerializableError,
                       match=rf"^DStream\.{operation}: function .* captures 'guard' "
                             r"\(_thread\.lock\)"):
        define(pairs, lambda *args: guard and args[0])


def test_the_stream_runs_without_the_rejected_operation(master: str, tmp_path) -> None:
    # The check happens at definition: nothing of the rejected stream was registered,
    # and the job defined around it runs on every back end.
    manual = ManualStreaming(master=master)
    try:
        lock = threading.Lock()
        lines = manual.input([["a b"], ["b"]])
        words = lines.flatMap(str.split)
        with pytest.raises(TaskNotSerializableError, match=r"captures 'lock'"):
            words.map(lambda w: (w, lock))
        counts = manual.collect(words.map(lambda w: (w, 1)).reduceByKey(operator.add))
        manual.run_batches(2)
        assert [sorted(batch) for batch in counts] == [[("a", 1), ("b", 1)], [("b", 1)]]
        assert len(manual.ssc._graph.output_streams) == 1
    finally:
        manual.stop()


def test_driver_side_functions_may_hold_driver_objects(manual: ManualStreaming) -> None:
    # foreachRDD's and transform's functions run on the driver: a lock there is fine.
    lock = threading.Lock()
    seen: list = []

    def keep(rdd):
        with lock:
            return rdd.filter(bool)

    def record(rdd):
        with lock:
            seen.append(sorted(rdd.collect()))

    manual.input([[0, 1, 2]]).transform(keep).foreachRDD(record)
    manual.run_batches(1)
    assert seen == [[1, 2]]


def test_an_rdd_operation_inside_transform_is_checked_per_batch(
        manual: ManualStreaming) -> None:
    # transform's function runs on the driver, the map it calls ships its function:
    # the batch's job fails with the RDD operation's error, no task of it ran.
    lock = threading.Lock()
    outputs: list = []
    manual.input([[1, 2]]).transform(lambda rdd: rdd.map(lambda x: lock and x)).foreachRDD(
        lambda rdd: outputs.append(rdd.collect()))
    manual.run_batches(1)
    error = manual.take_error()
    assert isinstance(error, StreamingJobError)
    assert isinstance(error.__cause__, TaskNotSerializableError)
    assert str(error.__cause__).startswith("RDD.map: function ")
    assert "captures 'lock' (_thread.lock)" in str(error.__cause__)
    assert outputs == []
