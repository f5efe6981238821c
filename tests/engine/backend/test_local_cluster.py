"""local-cluster[N,C,M]: real worker processes, and what happens when they die."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from operator import add

import pytest

from fastdstream import Context, TaskContext
from fastdstream.engine.backend.local_cluster import (
    RemoteTaskError,
    parse_local_cluster_master,
)
from fastdstream.testing import block_ids, child_process, wait_until

MASTER = "local-cluster[2,1,1024]"


@pytest.fixture
def cluster() -> Iterator[Context]:
    sc = Context(MASTER, "test-local-cluster")
    yield sc
    sc.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped) counts as gone
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(") ")[1][0] != "Z"


@pytest.mark.parametrize("master, expected", [
    ("local-cluster[2,1,1024]", (2, 1, 1024)),
    ("local-cluster[ 3 , 2 , 512 ]", (3, 2, 512)),
    ("local[2]", None),
])
def test_parse_master(master: str, expected: tuple[int, int, int] | None) -> None:
    assert parse_local_cluster_master(master) == expected


def test_parse_master_refuses_zero() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        parse_local_cluster_master("local-cluster[0,1,1024]")


def test_tasks_run_in_worker_processes_with_their_own_executor(cluster: Context) -> None:
    where = cluster.parallelize(range(8), 4).map(
        lambda _: (os.getpid(), TaskContext.get().executor.executor_id)).collect()
    pids = {pid for pid, _ in where}
    assert os.getpid() not in pids
    assert pids == set(cluster._backend.worker_pids().values())
    assert {e for _, e in where} == {"0", "1"}
    assert cluster.defaultParallelism == 2


def test_a_shuffle_reads_map_outputs_from_both_workers(cluster: Context) -> None:
    counts = cluster.parallelize([(i % 7, 1) for i in range(1000)], 4).reduceByKey(add)
    assert sorted(counts.collect()) == [(k, len(range(k, 1000, 7))) for k in range(7)]
    # Each reducer read map outputs held by both workers (one of them remote).
    holders = {e for e, b in cluster._backend.block_ids() if b[:2] == ("shuffle",
                                                                          counts.shuffle_id)}
    assert holders == {"0", "1"}
    shuffle_id = counts.shuffle_id
    del counts  # nobody can reach the shuffle any more: its outputs go
    gc.collect()
    assert not any(b[:2] == ("shuffle", shuffle_id) for b in block_ids(cluster))


def test_an_exception_that_does_not_pickle_comes_back_as_text(cluster: Context) -> None:
    class UnpicklableError(Exception):
        def __init__(self) -> None:
            super().__init__("holds a lock")
            self.lock = threading.Lock()

    def fail(_):
        raise UnpicklableError()

    with pytest.raises(RemoteTaskError, match="holds a lock") as info:
        cluster.parallelize([1], 1).map(fail).collect()
    assert "Traceback on executor" in str(info.value)


def test_a_task_error_keeps_its_type_and_carries_the_worker_traceback(cluster) -> None:
    def divide(x):
        return 1 / x

    with pytest.raises(ZeroDivisionError) as info:
        cluster.parallelize([1, 0], 2).map(divide).collect()
    notes = "".join(getattr(info.value, "__notes__", []))
    assert "Traceback on executor" in notes and "divide" in notes


def test_a_worker_killed_mid_task_is_replaced_and_its_task_retried(cluster: Context) -> None:
    before = cluster._backend.worker_pids()

    def die_on_first_attempt(x):
        context = TaskContext.get()
        if x == 0 and context.attemptNumber() == 0:
            os.kill(os.getpid(), signal.SIGKILL)
        return x, context.attemptNumber()

    result = cluster.parallelize(range(4), 4).map(die_on_first_attempt).collect()
    assert [x for x, _ in result] == [0, 1, 2, 3]
    assert dict(result)[0] == 1  # the retry
    after = cluster._backend.worker_pids()
    assert len(after) == 2 and set(after.values()) != set(before.values())
    assert len(cluster._backend._workers) == 2  # the dead one's record is gone too
    dead = set(before.values()) - set(after.values())
    assert len(dead) == 1 and not _alive(dead.pop())


def test_shuffle_outputs_lost_with_a_worker_are_recomputed(cluster: Context) -> None:
    counts = cluster.parallelize([(i % 5, 1) for i in range(500)], 4).reduceByKey(add)
    expected = sorted(counts.collect())
    victim = cluster._backend.worker_pids()["0"]
    os.kill(victim, signal.SIGKILL)
    # Either the loss is seen first (its outputs are forgotten and the map stage runs
    # again) or a reduce task finds them gone (FetchFailed): the answer is the same.
    assert sorted(counts.collect()) == expected
    wait_until(lambda: not _alive(victim), what="the killed worker to be reaped")
    assert sorted(counts.collect()) == expected


def test_stop_ends_every_worker(cluster: Context) -> None:
    pids = list(cluster._backend.worker_pids().values())
    cluster.stop()
    assert not any(_alive(pid) for pid in pids)
    with pytest.raises(RuntimeError, match="stopped"):
        cluster.parallelize([1]).collect()


def test_stopping_the_context_ends_a_running_job_at_once(cluster: Context, tmp_path) -> None:
    never = tmp_path / "never"

    def wait_forever(x):
        while not never.exists():
            time.sleep(0.01)
        return x

    errors: list[BaseException] = []

    def job() -> None:
        try:
            cluster.parallelize(range(2), 2).map(wait_forever).collect()
        except BaseException as exc:
            errors.append(exc)

    runner = threading.Thread(target=job, daemon=True)  # a hang fails, never blocks exit
    runner.start()
    wait_until(lambda: all(len(w.pending) == 1 for w in cluster._backend._alive()),
               what="a task running on each worker")
    started = time.monotonic()
    cluster.stop()
    runner.join(10)
    assert not runner.is_alive() and time.monotonic() - started < 5
    assert len(errors) == 1 and "Context stopped" in str(errors[0])


def test_workers_do_not_outlive_a_driver_that_is_killed(tmp_path) -> None:
    script = textwrap.dedent(f"""
        import sys, time
        from fastdstream import Context
        sc = Context({MASTER!r})
        sc.parallelize(range(4), 2).count()
        print(*sc._backend.worker_pids().values(), flush=True)
        time.sleep(600)
    """)
    driver = child_process.start([sys.executable, "-c", script], stdout=subprocess.PIPE,
                                 text=True)
    try:
        assert driver.stdout is not None
        pids = [int(p) for p in driver.stdout.readline().split()]
        assert len(pids) == 2 and all(_alive(p) for p in pids)
        driver.send_signal(signal.SIGKILL)
        driver.wait(10)
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_alive(p) for p in pids), "a worker outlived its driver"
    finally:
        driver.kill()
        driver.wait()


def test_finished_stages_are_forgotten_on_both_sides(cluster: Context) -> None:
    for _ in range(20):
        cluster.parallelize(range(4), 4).map(lambda x: x + 1).count()
    assert all(not w.stages for w in cluster._backend._alive())


def _preloaded(_: object) -> tuple[str, bool]:
    """On a worker: whether ``colorsys`` was imported, once its preload threads ended."""
    for thread in threading.enumerate():
        if thread.name == "preload":
            thread.join()
    return TaskContext.get().executor.executor_id, "colorsys" in sys.modules


def test_preloaded_modules_are_imported_on_every_worker_also_one_started_later(
        cluster: Context) -> None:
    # colorsys: a module nothing in a worker imports by itself. A module that does not
    # import stops neither the worker nor the modules after it.
    assert not any(ok for _, ok in cluster.parallelize(range(4), 4).map(_preloaded).collect())
    cluster._backend.preload(["fastdstream_no_such_module", "colorsys"])
    assert dict(cluster.parallelize(range(4), 4).map(_preloaded).collect()) == {
        "0": True, "1": True}
    os.kill(cluster._backend.worker_pids()["0"], signal.SIGKILL)
    assert cluster.parallelize(range(4), 4).count() == 4  # retried; a new worker starts
    assert set(cluster._backend.worker_pids()) == {"1", "2"}
    assert dict(cluster.parallelize(range(4), 4).map(_preloaded).collect()) == {
        "1": True, "2": True}
