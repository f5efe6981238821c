"""What checking closures at the operation costs (engine/closure_check.py).

Each figure has its peer in the same run: the same calls on a ``local[2]`` Context with
``fastdstream.task.serializeClosures=false``, where nothing is shipped and nothing is
checked.

- ``rdd.map(f)`` alone: a function checked before (the verdict cache), and a lambda
  made again per call capturing the same object (what ``transform`` does per batch);
- a pickling of a new small closure (what a cache miss costs);
- an empty streaming batch whose ``transform`` makes three RDD operations per batch
  (its peer also skips pickling the stage's closure: an upper bound of the check's share).
"""

from __future__ import annotations

import operator

import pytest

from fastdstream import Context
from fastdstream.engine.backend.serde import serialization_error
from fastdstream.testing import ManualStreaming

CHECKED = {"checked": {}, "unchecked": {"fastdstream.task.serializeClosures": "false"}}


@pytest.fixture(params=list(CHECKED))
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.benchmark(group="closure-check-rdd-map")
def test_rdd_map_of_a_checked_function(benchmark, mode: str) -> None:
    offset = 3
    with Context("local[2]", conf=CHECKED[mode]) as sc:
        rdd = sc.parallelize([1], 1)

        def f(x):
            return x + offset

        benchmark(rdd.map, f)


@pytest.mark.benchmark(group="closure-check-rdd-map-new-lambda")
def test_rdd_map_of_a_lambda_made_per_call(benchmark, mode: str) -> None:
    table = {"a": 1}
    with Context("local[2]", conf=CHECKED[mode]) as sc:
        rdd = sc.parallelize([1], 1)
        benchmark(lambda: rdd.map(lambda x: table.get(x)))


@pytest.mark.benchmark(group="closure-check-miss")
def test_pickling_a_new_small_closure(benchmark) -> None:
    """A cache miss: one pickling of a closure over a new small object."""
    counter = iter(range(10**9))
    benchmark(lambda: serialization_error((lambda v: lambda x: x + v)(next(counter))))


@pytest.mark.benchmark(group="closure-check-batch")
def test_batch_with_rdd_operations_in_transform(benchmark, mode: str) -> None:
    """One empty batch whose transform makes map, filter and reduceByKey every batch."""
    streaming = ManualStreaming(batch_seconds=0.01, conf=CHECKED[mode])
    scale = 2

    def per_batch(rdd):
        return (rdd.map(lambda x: (x, x * scale)).filter(lambda kv: kv[1] > 0)
                .reduceByKey(operator.add))

    streaming.ssc.queueStream([]).transform(per_batch).foreachRDD(lambda rdd: rdd.count())
    streaming.start()
    try:
        benchmark.pedantic(streaming.run_batches, args=(1,), rounds=200, iterations=1,
                           warmup_rounds=10)
    finally:
        streaming.stop()
    assert len(streaming.recorder.completed) >= 200
