"""ExecutorLoad: cores taken by tasks and long-running tasks, and the locality wait."""

from __future__ import annotations

import threading
import time

import pytest

from fastdstream.conf import Conf
from fastdstream.engine.backend.locality import ExecutorLoad, locality_wait_s
from fastdstream.testing import wait_until


def test_tasks_and_long_tasks_take_cores() -> None:
    load = ExecutorLoad(cores=2, wait_s=0)
    load.long_task_started("a")
    assert not load.busy("a")
    load.tasks_started("a")
    assert load.busy("a") and not load.busy("b")
    load.tasks_ended("a")
    assert not load.busy("a")
    load.long_task_ended("a")
    load.long_task_ended("a")  # twice (ended and lost) counts once
    assert load.long_tasks("a") == 0


def test_a_wait_ends_when_a_core_is_freed() -> None:
    load = ExecutorLoad(cores=1, wait_s=60)
    load.tasks_started("a")

    def free_once_waited_for() -> None:
        wait_until(lambda: load.waits == 1, timeout=10, what="the wait to start")
        load.tasks_ended("a")

    freer = threading.Thread(target=free_once_waited_for)
    freer.start()
    start = time.monotonic()
    try:
        assert load.wait_for({"a", "b"}) == set()
    finally:
        freer.join()
    assert time.monotonic() - start < 30


def test_an_executor_busy_past_the_wait_is_returned() -> None:
    load = ExecutorLoad(cores=1, wait_s=0.2)
    load.tasks_started("a")
    start = time.monotonic()
    assert load.wait_for({"a", "b"}) == {"a"}
    assert time.monotonic() - start >= 0.2
    assert load.waits == 1
    assert ExecutorLoad(cores=1, wait_s=0).wait_for({"a"}) == set()


def test_an_executor_whose_every_core_runs_a_receiver_is_not_waited_for() -> None:
    load = ExecutorLoad(cores=1, wait_s=60)
    load.long_task_started("a")  # a receiver: busy for as long as it runs
    start = time.monotonic()
    assert load.wait_for({"a", "b"}) == {"a"}
    assert time.monotonic() - start < 30
    assert load.waits == 0
    # With a core left over for tasks, a task there is waited for as usual.
    two = ExecutorLoad(cores=2, wait_s=0.2)
    two.long_task_started("a")
    two.tasks_started("a")
    assert two.wait_for({"a"}) == {"a"}
    assert two.waits == 1


def test_a_wait_ends_when_the_last_free_core_goes_to_a_receiver() -> None:
    load = ExecutorLoad(cores=1, wait_s=60)
    load.tasks_started("a")

    def receiver_takes_the_core() -> None:
        wait_until(lambda: load.waits == 1, timeout=10, what="the wait to start")
        load.long_task_started("a")
        load.tasks_ended("a")

    taker = threading.Thread(target=receiver_takes_the_core)
    taker.start()
    start = time.monotonic()
    try:
        assert load.wait_for({"a"}) == {"a"}
    finally:
        taker.join()
    assert time.monotonic() - start < 30


def test_the_locality_wait_is_read_and_checked() -> None:
    assert locality_wait_s(Conf()) == 3.0
    assert locality_wait_s(Conf().set("spark.locality.wait", "250ms")) == 0.25
    with pytest.raises(ValueError, match=r"spark\.locality\.wait"):
        locality_wait_s(Conf().set("spark.locality.wait", "soon"))
