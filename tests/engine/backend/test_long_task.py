"""Long-running tasks on the process back ends: placement, both channels, end and loss."""

from __future__ import annotations

import os
import queue
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from fastdstream import Context, TaskContext
from fastdstream.engine.backend.long_task import LongTaskCallbacks, LongTaskContext
from fastdstream.testing import wait_until

PROCESS_MASTERS = ["local-cluster[2,1,1024]", "ray"]


@pytest.fixture(params=PROCESS_MASTERS)
def cluster(request: pytest.FixtureRequest) -> Iterator[Context]:
    if request.param == "ray":
        request.getfixturevalue("ray_session")
    sc = Context(request.param, "test-long-task",
                 conf={"fastdstream.ray.reuseExecutors": "false"})
    yield sc
    sc.stop()


def echo(context: LongTaskContext) -> None:
    """Reports its pid, stores a block, echoes what it gets; returns on "stop", raises on
    "fail"."""
    done: queue.Queue[str] = queue.Queue()
    context.set_message_handler(lambda m: done.put(m) if m in ("stop", "fail")
                                else context.report(("echo", m)))
    location = context.store_block(("input", 0, "long"), ["stored"])
    context.report(("pid", os.getpid(), location))
    if done.get() == "fail":
        raise ValueError("asked to fail")


class Recorder:
    def __init__(self) -> None:
        self.reports: queue.Queue[Any] = queue.Queue()
        self.ended: queue.Queue[BaseException | None] = queue.Queue()
        self.lost: queue.Queue[str] = queue.Queue()
        self.callbacks = LongTaskCallbacks(self.reports.put, self.ended.put, self.lost.put)


def test_a_long_task_runs_in_an_executor_process_and_talks_both_ways(cluster: Context
                                                                      ) -> None:
    backend = cluster._backend
    recorder = Recorder()
    handle = backend.start_long_task(echo, "echo", recorder.callbacks)
    kind, pid, location = recorder.reports.get(timeout=30)
    assert kind == "pid" and pid != os.getpid() and location == handle.executor_id
    assert backend.worker_pids()[handle.executor_id] == pid  # type: ignore[attr-defined]
    assert (handle.executor_id, ("input", 0, "long")) in backend.block_ids()
    handle.send("hello")
    handle.send(7)
    assert recorder.reports.get(timeout=10) == ("echo", "hello")
    assert recorder.reports.get(timeout=10) == ("echo", 7)
    handle.send("stop")
    assert handle.join(10)
    assert recorder.ended.get(timeout=10) is None


def test_a_failing_long_task_ends_with_its_error(cluster: Context) -> None:
    recorder = Recorder()
    handle = cluster._backend.start_long_task(echo, "echo", recorder.callbacks)
    recorder.reports.get(timeout=30)
    handle.send("fail")
    error = recorder.ended.get(timeout=10)
    assert isinstance(error, ValueError) and "asked to fail" in str(error)


def test_long_tasks_spread_over_executors_and_a_killed_one_is_reported_lost(
        cluster: Context) -> None:
    backend = cluster._backend
    first, second = Recorder(), Recorder()
    a = backend.start_long_task(echo, "a", first.callbacks)
    b = backend.start_long_task(echo, "b", second.callbacks)
    assert a.executor_id != b.executor_id
    first.reports.get(timeout=30)
    second.reports.get(timeout=30)
    os.kill(backend.worker_pids()[a.executor_id], signal.SIGKILL)  # type: ignore
    assert first.lost.get(timeout=30) == a.executor_id
    assert a.join(1) and first.ended.empty()
    # Started again, avoiding the dead executor.
    again = Recorder()
    c = backend.start_long_task(echo, "a-again", again.callbacks,
                                avoid=frozenset({a.executor_id}))
    assert again.reports.get(timeout=60)[0] == "pid" and c.executor_id != a.executor_id
    for handle in (b, c):
        handle.send("stop")
        assert handle.join(10)
    assert second.lost.empty() and second.ended.get(timeout=10) is None


def _where(context: TaskContext, split: int) -> str:
    return context.executor.executor_id


@pytest.mark.parametrize("master", PROCESS_MASTERS)
def test_a_long_task_takes_a_core_so_its_executors_tasks_run_elsewhere_after_the_wait(
        request: pytest.FixtureRequest, master: str) -> None:
    """As in Spark, a receiver occupies a core of its executor while it runs: with one
    core per executor, a task whose input is there runs on the other executor (not
    behind the receiver), at once since no core will come free there within the wait;
    once the receiver ends, there again."""
    if master == "ray":
        request.getfixturevalue("ray_session")
    with Context(master, "test-long-task-core",
                 conf={"spark.locality.wait": "60s",
                       "fastdstream.ray.reuseExecutors": "false"}) as sc:
        backend: Any = sc._backend
        recorder = Recorder()
        handle = backend.start_long_task(echo, "echo", recorder.callbacks)
        recorder.reports.get(timeout=30)
        held = handle.executor_id
        (other,) = [e for e in backend.executor_ids() if e != held]
        assert backend.locality_waits == 0
        start = time.monotonic()
        assert backend.run_stage(_where, [0, 1], preferred=lambda _: held) == [other] * 2
        assert time.monotonic() - start < 30
        assert backend.locality_waits == 0
        # Tasks that prefer the free executor run there at once.
        assert backend.run_stage(_where, [0], preferred=lambda _: other) == [other]
        assert backend.locality_waits == 0
        handle.send("stop")
        assert handle.join(10) and recorder.ended.get(timeout=10) is None
        wait_until(lambda: not backend.load.busy(held), timeout=10,
                   what=f"executor {held}'s core to be free once its long task ended")
        assert backend.run_stage(_where, [0, 1], preferred=lambda _: held) == [held] * 2
        assert backend.locality_waits == 0
