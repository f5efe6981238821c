"""The seed's rule: tasks run on executor threads, closures survive cloudpickle, and a
task's failure reaches the action with its original exception type."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from fastdstream import Context, FastDStreamError, TaskNotSerializableError
from fastdstream.engine.backend import create_backend
from fastdstream.engine.backend.local import LocalBackend, parse_local_master


class TaskError(Exception):
    pass


def _thread_name(_):
    return threading.current_thread().name


@pytest.mark.parametrize(
    ("master", "threads"),
    [("local", 1), ("local[1]", 1), ("local[4]", 4), (" local[2] ", 2),
     ("local[*]", os.cpu_count() or 1), ("yarn", None), ("local[x]", None), ("ray", None)],
)
def test_parse_local_master(master, threads):
    assert parse_local_master(master) == threads


def test_parse_local_master_zero_threads():
    with pytest.raises(ValueError, match="at least one thread"):
        parse_local_master("local[0]")


def test_tasks_run_on_executor_threads(local_sc):
    sc = local_sc
    names = sc.parallelize(range(8), 4).map(_thread_name).collect()
    assert all(name.startswith("executor") for name in names), names
    main = threading.current_thread().name
    assert main not in names
    # shuffle map stages run there too
    names = sc.parallelize([(i, i) for i in range(8)], 4).mapValues(_thread_name) \
        .reduceByKey(lambda a, b: a).values().collect()
    assert all(name.startswith("executor") for name in names)


def test_tasks_of_a_stage_run_concurrently():
    """local[2] runs two tasks at once: both wait on one barrier (closures not shipped,
    so the barrier, which cannot be pickled, is shared)."""
    barrier = threading.Barrier(2, timeout=10)

    def meet(x):
        barrier.wait()
        return x

    with Context("local[2]", conf={"fastdstream.task.serializeClosures": "false"}) as ctx:
        assert ctx.parallelize([1, 2], 2).map(meet).collect() == [1, 2]


def test_closure_capturing_a_lock_is_not_serializable(sc):
    lock = threading.Lock()

    def use_lock(x):
        with lock:
            return x

    for n in (1, 3):
        with pytest.raises(TaskNotSerializableError) as info:
            sc.parallelize(range(3), n).map(use_lock).collect()
        message = str(info.value)
        assert "cannot be serialized" in message
        assert "lock" in message
        assert "must not capture locks" in message
    assert isinstance(info.value, FastDStreamError)
    assert isinstance(info.value.__cause__, Exception)


def test_closure_capturing_a_socket_is_not_serializable(sc):
    sock = socket.socket()
    try:
        with pytest.raises(TaskNotSerializableError, match="cannot be serialized"):
            sc.parallelize(range(4), 2).foreach(lambda x: sock.fileno())
    finally:
        sock.close()


def test_closure_capturing_the_context_fails_clearly(sc):
    with pytest.raises(TaskNotSerializableError):
        sc.parallelize(range(4), 2).map(lambda x: sc.defaultParallelism).collect()


def test_unserializable_shuffle_function(sc):
    # The operation checks the function when it is called (tests/engine/
    # test_closure_check.py); what it captures changed after that check is caught
    # where the stage is shipped, naming the stage.
    held: list = []

    def add(a, b):
        return a + b + len(held)

    summed = sc.parallelize([("a", 1), ("a", 2)], 2).reduceByKey(add)
    held.append(threading.Lock())
    with pytest.raises(TaskNotSerializableError, match="shuffle map stage"):
        summed.collect()


def test_driver_variables_mutated_in_tasks_are_unchanged(sc):
    seen = []
    counter = {"n": 0}

    def touch(x):
        seen.append(x)
        counter["n"] += 1
        return x

    assert sc.parallelize(range(10), 3).map(touch).count() == 10
    sc.parallelize(range(10), 1).foreach(touch)
    sc.parallelize(range(10), 2).foreach(seen.append)
    assert seen == []
    assert counter == {"n": 0}


def test_serialize_closures_off_shares_driver_objects():
    with Context("local[2]", conf={"fastdstream.task.serializeClosures": "false"}) as ctx:
        seen = []
        lock = threading.Lock()

        def add(x):
            with lock:
                seen.append(x)

        ctx.parallelize(range(6), 3).foreach(add)
        assert sorted(seen) == list(range(6))


def test_bad_serialize_closures_value():
    with pytest.raises(ValueError, match="not a boolean"):
        Context("local[1]", conf={"fastdstream.task.serializeClosures": "maybe"})


def _fail_on_odd(x):
    if x % 2:
        raise TaskError(f"odd {x}")
    return x


def test_task_error_propagates_original_type_and_message(sc):
    with pytest.raises(TaskError, match="odd 1"):
        sc.parallelize([0, 1, 2, 3], 4).map(_fail_on_odd).collect()
    with pytest.raises(TaskError):
        sc.parallelize([1], 1).map(_fail_on_odd).collect()
    with pytest.raises(TypeError):
        sc.parallelize(["a", 1], 2).reduce(lambda a, b: a + b)


def test_failed_stage_waits_for_its_other_tasks(sc, tmp_path):
    done = str(tmp_path / "slow-done")

    def task(split, it):
        if split == 0:
            raise TaskError("fast failure")
        time.sleep(0.3)
        with open(done, "w") as f:
            f.write("x")
        return it

    with pytest.raises(TaskError):
        sc.parallelize(range(2), 2).mapPartitionsWithIndex(task).collect()
    assert os.path.exists(done)  # no task outlives its stage


def test_local_backend_directly():
    backend = LocalBackend(3)
    try:
        assert backend.parallelism == 3
        assert backend.run_stage(lambda tc, s: s * s, [4, 1, 3, 0]) == [16, 1, 9, 0]
        assert backend.run_stage(lambda tc, s: s, []) == []
        lock = threading.Lock()
        with pytest.raises(TaskNotSerializableError, match="my stage"):
            backend.run_stage(lambda tc, s: lock, [0, 1], description="my stage")
    finally:
        backend.stop()
    backend.stop()
    with pytest.raises(RuntimeError, match="stopped"):
        backend.run_stage(lambda tc, s: s, [0])


def test_create_backend_errors():
    from fastdstream import Conf

    with pytest.raises(ValueError, match="unknown master"):
        create_backend("mesos://x", Conf())
    backend = create_backend("local[2]", Conf())
    try:
        assert backend.parallelism == 2
    finally:
        backend.stop()
