"""Broadcast variables: shipped to each executor once (not with every task), read as one
object per executor, removed by unpersist/destroy and garbage collection."""

from __future__ import annotations

import gc
import os

import pytest

from fastdstream import Broadcast, FastDStreamError
from fastdstream.engine.backend import serde
from fastdstream.testing import block_ids


def _broadcast_blocks(sc, bid):
    return {b for b in block_ids(sc) if b[:2] == ("broadcast", bid)}


def test_value_on_driver_and_in_tasks(sc) -> None:
    b = sc.broadcast({"a": 1, "b": 2})
    assert isinstance(b, Broadcast) and b.value == {"a": 1, "b": 2}
    assert sc.parallelize(["a", "b", "a"], 3).map(lambda k: b.value[k]).collect() == [1, 2, 1]
    assert sc.parallelize([0, 0], 2).flatMap(lambda _: b.value).collect() == ["a", "b"] * 2


def test_a_task_closure_carries_a_reference_not_the_value(sc) -> None:
    big = sc.broadcast(b"x" * 4_000_000)
    frame = serde.dumps_function(lambda x: len(big.value) + x)
    assert len(frame) < 20_000
    assert sc.parallelize(range(4), 4).map(lambda x: len(big.value) + x).collect() == [
        4_000_000, 4_000_001, 4_000_002, 4_000_003]


def test_each_executor_deserializes_it_once(sc) -> None:
    b = sc.broadcast(list(range(1000)))
    seen = sc.parallelize(range(12), 12).map(lambda _: (os.getpid(), id(b.value))).collect()
    by_process: dict[int, set[int]] = {}
    for pid, ident in seen:
        by_process.setdefault(pid, set()).add(ident)
    assert all(len(ids) == 1 for ids in by_process.values())  # one object per executor
    # The block itself is stored once, and each executor keeps one decoded copy.
    held = sc._backend.block_ids()
    values = [e for e, block in held if block == ("broadcast", b.id, "value")]
    assert len(values) == len(set(values)) == len(by_process)
    assert len([e for e, block in held if block == ("broadcast", b.id)]) == 1


def test_a_task_cannot_change_the_drivers_value(sc) -> None:
    b = sc.broadcast([1, 2])
    sc.parallelize([0], 1).foreach(lambda _: b.value.append(3))
    assert b.value == [1, 2]


def test_unpersist_removes_the_copies_and_they_come_back(sc) -> None:
    b = sc.broadcast([1, 2, 3])
    assert sc.parallelize([0, 0], 2).map(lambda _: sum(b.value)).collect() == [6, 6]
    assert _broadcast_blocks(sc, b.id)
    b.unpersist()
    assert _broadcast_blocks(sc, b.id) == set()
    assert sc.parallelize([0], 1).map(lambda _: sum(b.value)).collect() == [6]


def test_destroy_makes_later_use_an_error(sc) -> None:
    b = sc.broadcast([1])
    b.destroy()
    assert _broadcast_blocks(sc, b.id) == set()
    with pytest.raises(FastDStreamError, match="after it was destroyed"):
        _ = b.value
    with pytest.raises(FastDStreamError, match="after it was destroyed"):
        sc.parallelize([0]).map(lambda _: b.value).collect()
    with pytest.raises(FastDStreamError, match="after it was destroyed"):
        b.unpersist()


def test_garbage_collected_broadcasts_leave_the_executors(sc) -> None:
    def use_one() -> int:
        b = sc.broadcast("payload")
        sc.parallelize([0, 0], 2).map(lambda _: b.value).collect()
        assert _broadcast_blocks(sc, b.id)
        return b.id

    bid = use_one()  # the broadcast, its RDD and closure are unreachable now
    gc.collect()
    sc._cleaner.wait_until_idle()
    assert _broadcast_blocks(sc, bid) == set()


def test_a_copy_outside_a_task_says_so() -> None:
    from fastdstream.engine.broadcast import _task_copy

    with pytest.raises(FastDStreamError, match="inside the tasks"):
        _ = _task_copy(0, None).value
