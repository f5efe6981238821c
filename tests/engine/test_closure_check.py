"""A function that cannot be serialized fails at the operation given it, naming what it
captures, before any task runs -- on every master (engine/closure_check.py)."""

from __future__ import annotations

import functools
import inspect
import operator
import socket
import threading

import pytest

from fastdstream import Context, TaskNotSerializableError
from fastdstream.engine import closure_check

LOCK = threading.Lock()
SETTINGS = {"retries": 3, "guard": threading.Lock()}


def _uses_settings(x):
    # Module-level: shipped by reference (imported on the executor), never checked.
    return x + SETTINGS["retries"]


def _nested_capture():
    lock = threading.Lock()

    def inner(x):
        with lock:
            return x

    return lambda x: inner(x)


class Step:
    def __init__(self) -> None:
        self.step = 1

    def bump(self, x):
        return x + self.step


def _next_line() -> int:
    """The line number of the caller's next line: where the user's call is."""
    frame = inspect.currentframe()
    assert frame is not None and frame.f_back is not None
    return frame.f_back.f_lineno + 1


class Counter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.step = 1

    def bump(self, x):
        return x + self.step


def test_the_operation_fails_at_the_call_naming_variable_and_operation(sc, tmp_path):
    lock = threading.Lock()
    ran = tmp_path / "ran"

    def touch(x):
        with open(ran, "a") as f:  # a task that ran leaves this file behind
            f.write("x")
        return x

    def locked(x):
        with lock:
            return x

    mapped = sc.parallelize(range(4), 2).map(touch)
    with pytest.raises(TaskNotSerializableError) as info:
        line = _next_line()
        mapped.map(locked)
    message = str(info.value)
    assert message.startswith("RDD.map: function ")
    assert "locked at test_closure_check.py:" in message
    assert "captures 'lock' (_thread.lock)" in message
    assert "cannot pickle '_thread.lock' object" in message
    assert f"(called at test_closure_check.py:{line})" in message
    # The traceback's last frame of this file is the call, not an action.
    here = [e for e in info.traceback if e.path.name == "test_closure_check.py"]
    assert here[-1].lineno + 1 == line  # pytest's lineno counts from 0
    assert isinstance(info.value.__cause__, TypeError)
    assert not ran.exists()
    # The same RDD runs once the culprit is not captured.
    assert mapped.map(lambda x: x + 1).collect() == [1, 2, 3, 4]
    assert ran.exists()


@pytest.mark.parametrize("operation, call", [
    ("flatMap", lambda rdd, f: rdd.flatMap(f)),
    ("filter", lambda rdd, f: rdd.filter(f)),
    ("mapPartitions", lambda rdd, f: rdd.mapPartitions(f)),
    ("mapPartitionsWithIndex", lambda rdd, f: rdd.mapPartitionsWithIndex(f)),
    ("mapValues", lambda rdd, f: rdd.mapValues(f)),
    ("flatMapValues", lambda rdd, f: rdd.flatMapValues(f)),
    ("keyBy", lambda rdd, f: rdd.keyBy(f)),
    ("groupBy", lambda rdd, f: rdd.groupBy(f)),
    ("sortBy", lambda rdd, f: rdd.sortBy(f)),
    ("sortByKey", lambda rdd, f: rdd.sortByKey(keyfunc=f)),
    ("reduceByKey", lambda rdd, f: rdd.reduceByKey(f)),
    ("reduceByKey", lambda rdd, f: rdd.reduceByKey(operator.add, partitionFunc=f)),
    ("combineByKey", lambda rdd, f: rdd.combineByKey(str, f, operator.add)),
    ("foldByKey", lambda rdd, f: rdd.foldByKey(0, f)),
    ("aggregateByKey", lambda rdd, f: rdd.aggregateByKey(0, operator.add, f)),
    ("partitionBy", lambda rdd, f: rdd.partitionBy(2, f)),
    ("groupByKey", lambda rdd, f: rdd.groupByKey(2, f)),
    ("repartitionAndSortWithinPartitions",
     lambda rdd, f: rdd.repartitionAndSortWithinPartitions(2, f)),
    ("reduce", lambda rdd, f: rdd.reduce(f)),
    ("fold", lambda rdd, f: rdd.fold(0, f)),
    ("aggregate", lambda rdd, f: rdd.aggregate(0, f, operator.add)),
    ("treeAggregate", lambda rdd, f: rdd.treeAggregate(0, operator.add, f)),
    ("treeReduce", lambda rdd, f: rdd.treeReduce(f)),
    ("foreach", lambda rdd, f: rdd.foreach(f)),
    ("foreachPartition", lambda rdd, f: rdd.foreachPartition(f)),
    ("max", lambda rdd, f: rdd.max(f)),
    ("top", lambda rdd, f: rdd.top(1, f)),
    ("takeOrdered", lambda rdd, f: rdd.takeOrdered(1, f)),
    ("reduceByKeyLocally", lambda rdd, f: rdd.reduceByKeyLocally(f)),
])
def test_every_operation_that_ships_a_function_checks_it(local_sc, operation, call):
    # Named by the operation the user called, not by the one it is built on.
    guard = threading.Lock()
    pairs = local_sc.parallelize([(1, 1), (2, 2)], 2)
    with pytest.raises(TaskNotSerializableError,
                       match=rf"^RDD\.{operation}: function .* captures 'guard' "):
        call(pairs, lambda *args: guard and args[0])


def test_zero_values_are_checked_too(local_sc):
    pairs = local_sc.parallelize([(1, 1)], 1)
    with pytest.raises(TaskNotSerializableError, match=r"^RDD\.foldByKey: zeroValue \(_thread"):
        pairs.foldByKey(threading.Lock(), operator.add)
    with pytest.raises(TaskNotSerializableError, match=r"^RDD\.aggregate: zeroValue "
                                                       r"\(list\) captures '\[1\]'"):
        pairs.aggregate([0, threading.Lock()], operator.add, operator.add)


@pytest.mark.parametrize("fn, culprit", [
    (lambda x: LOCK and x, "'LOCK' (_thread.lock)"),
    (lambda x: SETTINGS["retries"], '''"SETTINGS['guard']" (_thread.lock)'''),
    (_nested_capture(), "'inner' -> 'lock' (_thread.lock)"),
    (lambda x, lock=LOCK: x, "'lock' (_thread.lock)"),
    (Counter().bump, "'self.lock' (_thread.lock)"),
    (functools.partial(lambda lock, x: x, threading.Lock()), "'args[0]' (_thread.lock)"),
    (functools.partial(operator.add, y=threading.Lock()), "'y' (_thread.lock)"),
])
def test_the_culprit_is_named_through_globals_defaults_methods_and_partials(
        local_sc, fn, culprit):
    with pytest.raises(TaskNotSerializableError) as info:
        local_sc.parallelize([1], 1).map(fn)
    assert f"captures {culprit}, which cannot be serialized" in str(info.value)


def test_a_bound_method_of_a_socket_names_the_socket(local_sc):
    with socket.socket() as sock, pytest.raises(
            TaskNotSerializableError, match=r"captures 'self' \(socket\.socket\)"):
        local_sc.parallelize([b"x"], 1).foreach(sock.sendall)


def test_capturing_the_context_is_named(sc):
    with pytest.raises(TaskNotSerializableError, match=r"captures 'sc' \(.*Context\)"):
        sc.parallelize([1], 1).map(lambda x: sc.defaultParallelism)


def test_picklable_closures_still_run(sc):
    offset = 10
    table = {"a": 1}
    counter = Step()
    rdd = sc.parallelize(range(4), 2)
    assert rdd.map(lambda x: x + offset).collect() == [10, 11, 12, 13]
    assert rdd.map(counter.bump).collect() == [1, 2, 3, 4]
    assert rdd.map(functools.partial(operator.add, 1)).collect() == [1, 2, 3, 4]
    assert rdd.map(_uses_settings).sum() == 18  # its global holds a lock: by reference
    assert rdd.map(lambda x: table.get("a", 0) * x).fold(0, operator.add) == 6


def test_a_function_fixed_after_a_failed_check_passes(local_sc):
    box: list = [threading.Lock()]

    def f(x):
        return x + len(box)

    rdd = local_sc.parallelize([1], 1)
    with pytest.raises(TaskNotSerializableError, match=r"captures 'box\[0\]'"):
        rdd.map(f)
    box[0] = 1
    assert rdd.map(f).collect() == [2]


def test_without_serialized_closures_local_does_not_check():
    # fastdstream.task.serializeClosures=false: local tasks share the driver's objects,
    # nothing is shipped, so nothing is checked.
    with Context("local[2]", conf={"fastdstream.task.serializeClosures": "false"}) as ctx:
        lock = threading.Lock()
        seen: list = []

        def add(x):
            with lock:
                seen.append(x)

        ctx.parallelize(range(4), 2).foreach(add)
        assert sorted(seen) == [0, 1, 2, 3]


class CountsPickling:
    """Counts how often it is pickled: a check that pickles leaves a mark."""

    pickled = 0

    def __reduce__(self):
        CountsPickling.pickled += 1
        return (CountsPickling, ())


def test_a_verdict_is_cached_per_code_and_captured_objects():
    # A function made again (each batch, in transform) with the same captured objects
    # is not pickled again; a new captured object is checked anew.
    def make(v):
        return lambda x: (v, x)

    shared = CountsPickling()
    before = CountsPickling.pickled
    for _ in range(3):
        closure_check.check("RDD.map", make(shared))
    assert CountsPickling.pickled == before + 1
    closure_check.check("RDD.map", make(CountsPickling()))
    assert CountsPickling.pickled == before + 2
    with pytest.raises(TaskNotSerializableError):
        closure_check.check("RDD.map", make(threading.Lock()))


def test_the_library_wrappers_are_not_blamed(local_sc):
    # keyBy wraps f in a lambda of rdd.py that map checks: the user's f is named.
    guard = threading.Lock()

    def key(x):
        return guard and x

    with pytest.raises(TaskNotSerializableError) as info:
        local_sc.parallelize([1], 1).keyBy(key)
    assert str(info.value).startswith("RDD.keyBy: function test_the_library_wrappers_are_"
                                      "not_blamed.<locals>.key at test_closure_check.py:")


class Refuses:
    """Says itself why it cannot be pickled; what it holds is not the reason."""

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def __reduce__(self):
        raise TypeError("Refuses is never shipped")


def test_an_object_that_refuses_itself_is_the_culprit(local_sc):
    refuses = Refuses()
    with pytest.raises(TaskNotSerializableError,
                       match=r"captures 'refuses' \(.*Refuses\), which cannot be serialized: "
                             r"Refuses is never shipped"):
        local_sc.parallelize([1], 1).map(lambda x: refuses and x)
