"""ray: a task runs where its input blocks are, unless that executor stays busy past
``spark.locality.wait`` (Spark's delay scheduling)."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import ray

from fastdstream import Context
from fastdstream.engine.backend.task_context import TaskContext
from fastdstream.testing import wait_until


@ray.remote(num_cpus=0)
class Gate:
    """Holds the tasks that pass it until the test opens it."""

    def __init__(self) -> None:
        self._open = asyncio.Event()
        self._arrived = asyncio.Event()

    async def hold(self) -> None:
        self._arrived.set()
        await self._open.wait()

    async def arrived(self) -> None:
        await self._arrived.wait()

    async def open(self) -> None:
        self._open.set()


def _where(context: TaskContext, split: int) -> str:
    return context.executor.executor_id


def _held(name: str) -> Any:
    def task(context: TaskContext, split: int) -> str:
        ray.get(ray.get_actor(name).hold.remote(), timeout=120)
        return context.executor.executor_id
    return task


class Busy:
    """Executor "0" busy with a task of another stage until :meth:`release`."""

    def __init__(self, sc: Context) -> None:
        self.name = f"gate-{uuid.uuid4().hex}"
        self.gate = Gate.options(name=self.name).remote()  # type: ignore[attr-defined]
        self.result: list[Any] = []
        backend = sc._backend
        self.thread = threading.Thread(target=lambda: self.result.extend(backend.run_stage(
            _held(self.name), [0], preferred=lambda _: "0")))
        self.thread.start()
        ray.get(self.gate.arrived.remote(), timeout=60)

    def release(self) -> None:
        ray.get(self.gate.open.remote(), timeout=60)
        self.thread.join(60)
        assert self.result == ["0"]
        ray.kill(self.gate)


def _context(wait: str) -> Context:
    return Context("ray", "test-locality", conf={"spark.locality.wait": wait,
                                                  "fastdstream.ray.reuseExecutors": "false"})


@pytest.fixture
def patient(ray_session: None) -> Iterator[Context]:
    sc = _context("60s")
    yield sc
    sc.stop()


def test_a_task_runs_on_the_executor_that_holds_its_input(patient: Context) -> None:
    backend = patient._backend
    assert backend.run_stage(_where, [0, 1, 2], preferred=lambda _: "1") == ["1"] * 3
    assert backend.run_stage(_where, [0, 1], preferred=lambda s: str(1 - s)) == ["1", "0"]
    assert backend.locality_waits == 0


def test_a_task_waits_for_its_busy_executor_within_the_locality_wait(patient: Context) -> None:
    backend = patient._backend
    busy = Busy(patient)
    try:
        done: list[str] = []
        waiting = threading.Thread(target=lambda: done.extend(
            backend.run_stage(_where, [0], preferred=lambda _: "0")))
        waiting.start()
        wait_until(lambda: backend.locality_waits == 1, timeout=30,
                   what="the task to wait for executor 0")
        assert not done  # executor 1 is free, but the input is on 0
    finally:
        busy.release()
    waiting.join(60)
    assert done == ["0"]


@pytest.mark.parametrize("wait", ["0", "300ms"])
def test_a_task_runs_elsewhere_when_its_executor_is_busy_past_the_wait(
        ray_session: None, wait: str) -> None:
    with _context(wait) as sc:
        backend = sc._backend
        busy = Busy(sc)
        try:
            start = time.monotonic()
            assert backend.run_stage(_where, [0, 1], preferred=lambda _: "0") == ["1", "1"]
            assert time.monotonic() - start >= (0.3 if wait == "300ms" else 0)
            assert backend.locality_waits == (1 if wait == "300ms" else 0)
        finally:
            busy.release()


def test_the_locality_wait_is_checked(ray_session: None) -> None:
    with pytest.raises(ValueError, match=r"spark\.locality\.wait"):
        _context("soon")
