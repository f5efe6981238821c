"""TaskPool: results in order, errors to the caller, cancelled work on shutdown."""

from __future__ import annotations

import threading
import time
from concurrent.futures import CancelledError

import pytest

from fastdstream.engine.backend.task_pool import TaskPool


def test_results_in_submission_order_and_names() -> None:
    pool = TaskPool(2, "tp")
    try:
        handles = pool.submit_all([(lambda i=i: (i, threading.current_thread().name), ())
                                   for i in range(20)])
        results = [h.result() for h in handles]
        assert [i for i, _ in results] == list(range(20))
        assert {name for _, name in results} <= {"tp_0", "tp_1"}
        assert handles[0].result() == results[0]  # a second result() returns at once
    finally:
        pool.shutdown()


def test_runs_on_all_threads_at_once() -> None:
    pool = TaskPool(2, "tp")
    both = threading.Barrier(2, timeout=10)
    try:
        handles = pool.submit_all([(both.wait, ()), (both.wait, ())])
        assert sorted(h.result() for h in handles) == [0, 1]
    finally:
        pool.shutdown()


def test_an_error_is_raised_by_its_handle_only() -> None:
    pool = TaskPool(1, "tp")
    try:
        bad, good = pool.submit_all([(int, ("x",)), (int, ("7",))])
        with pytest.raises(ValueError, match="invalid literal"):
            bad.result()
        assert good.result() == 7
    finally:
        pool.shutdown()


def test_shutdown_cancels_queued_and_refuses_new() -> None:
    pool = TaskPool(1, "tp")
    release = threading.Event()
    started = threading.Event()

    def block() -> str:
        started.set()
        release.wait(10)
        return "ran"

    running, queued = pool.submit_all([(block, ()), (str, (1,))])
    assert started.wait(10)
    stopper = threading.Thread(target=pool.shutdown)
    stopper.start()
    deadline = time.monotonic() + 10
    while not pool._stopped and time.monotonic() < deadline:  # shutdown has begun
        pass
    release.set()
    stopper.join(10)
    assert not stopper.is_alive()
    assert running.result() == "ran"
    with pytest.raises(CancelledError):
        queued.result()
    with pytest.raises(RuntimeError, match="shut down"):
        pool.submit_all([(str, (2,))])
    pool.shutdown()  # idempotent


def test_needs_a_thread() -> None:
    with pytest.raises(ValueError, match="at least one thread"):
        TaskPool(0, "tp")
