"""Accumulators: what tasks add is merged on the driver once per successful task, on
both back ends; a failed task's additions are dropped."""

from __future__ import annotations

import os

import pytest

from fastdstream import Accumulator, AccumulatorParam, Context, FastDStreamError


class VectorParam(AccumulatorParam):
    def zero(self, value):
        return [0.0] * len(value)

    def addInPlace(self, value1, value2):
        for i in range(len(value1)):
            value1[i] += value2[i]
        return value1


def test_tasks_add_and_the_driver_reads(sc) -> None:
    total = sc.accumulator(0)
    sc.parallelize(range(100), 7).foreach(lambda x: total.add(x))
    assert isinstance(total, Accumulator) and total.value == sum(range(100))
    total += 5
    assert total.value == sum(range(100)) + 5
    floats = sc.accumulator(0.5)
    sc.parallelize([1.0, 2.0], 2).foreach(lambda x: floats.add(x))
    assert floats.value == 3.5
    assert str(floats) == "3.5" and repr(floats).startswith("Accumulator<id=")


def test_additions_in_transformations_count_when_the_job_runs(sc) -> None:
    seen = sc.accumulator(0)

    def tally(x):
        seen.add(1)
        return x

    counts = sc.parallelize(["a", "b", "a"], 2).map(tally).map(lambda w: (w, 1)) \
        .reduceByKey(lambda a, b: a + b)
    assert seen.value == 0  # nothing has run
    assert sorted(counts.collect()) == [("a", 2), ("b", 1)]
    assert seen.value == 3  # the map stage ran once


def test_a_custom_param_and_the_default_params(sc) -> None:
    vector = sc.accumulator([1.0, 2.0], VectorParam())
    sc.parallelize([[1.0, 1.0], [0.5, 0.5]], 2).foreach(lambda v: vector.add(v))
    assert vector.value == [2.5, 3.5]
    assert sc.accumulator(1j).accum_param.zero(1j) == 0j
    with pytest.raises(TypeError, match="No default accumulator param"):
        sc.accumulator("text")


def test_value_cannot_be_read_in_a_task(sc) -> None:
    acc = sc.accumulator(0)
    with pytest.raises(FastDStreamError, match="cannot be accessed inside tasks"):
        sc.parallelize([1]).map(lambda _: acc.value).collect()


def test_a_failed_tasks_additions_are_dropped(sc) -> None:
    acc = sc.accumulator(0)

    def add_then_maybe_fail(split, it):
        for x in it:
            acc.add(x)
        if split == 1:
            raise ValueError("partition 1 fails after adding")
        return []

    with pytest.raises(ValueError, match="partition 1 fails"):
        sc.parallelize([1, 2, 30, 40], 2).mapPartitionsWithIndex(add_then_maybe_fail).collect()
    assert acc.value == 3  # partition 0's additions; partition 1's went with its failure


def test_a_retried_task_is_counted_once(tmp_path) -> None:
    marker = str(tmp_path / "died-once")
    with Context("local-cluster[2,1,1024]", "retry") as sc:
        acc = sc.accumulator(0)

        def add_and_die_the_first_time(x):
            acc.add(x)
            if x == 10 and not os.path.exists(marker):
                open(marker, "w").close()
                os._exit(1)  # the executor dies with this attempt's additions

        sc.parallelize([1, 10, 100], 3).foreach(add_and_die_the_first_time)
        assert os.path.exists(marker)  # the task did fail once, and was retried
        assert acc.value == 111


def test_accumulators_in_a_stream(manual) -> None:
    words = manual.sc.accumulator(0)
    manual.ssc.queueStream([["a b"], ["c d e"]]).flatMap(str.split).foreachRDD(
        lambda rdd: rdd.foreach(lambda _: words.add(1)))
    manual.start()
    manual.run_batches(2)
    assert words.value == 5


def test_a_stage_run_again_does_not_count_a_split_twice(local_sc) -> None:
    # A result stage runs again after a fetch failure; the splits whose tasks
    # succeeded the first time must not add again.
    acc = local_sc.accumulator(0)
    merged: set[int] = set()
    scheduler = local_sc._dag_scheduler
    scheduler._merge_updates(merged, 0, ("result", {acc.aid: 5}))
    scheduler._merge_updates(merged, 1, ("result", {acc.aid: 7}))
    scheduler._merge_updates(merged, 0, ("result", {acc.aid: 5}))  # split 0, attempt 2
    assert acc.value == 12
