"""The ``local[N]`` back end: one executor in the driver process, N task threads.

The compiled kernels release the GIL, so columnar partitions really do run in
parallel; Python-object partitions run concurrently as far as the GIL allows. A
stage's closure still goes through serde once per stage, so a program that
works here also works where tasks cross a process boundary.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Sequence
from typing import Any

from fastdstream.engine.backend import serde
from fastdstream.engine.backend.base import ExecutorBackend, Preference, StageFn, TaskCallback
from fastdstream.engine.backend.block_manager import BlockId
from fastdstream.engine.backend.executor import Executor
from fastdstream.engine.backend.task_pool import TaskPool

_LOCAL_RE = re.compile(r"^local(?:\[(\*|\d+)\])?$")

DRIVER = "driver"
"""The id of the executor that runs inside the driver process (as Spark names it)."""


def parse_local_master(master: str) -> int | None:
    """Return the thread count of a ``local``/``local[N]``/``local[*]`` master, else None."""
    match = _LOCAL_RE.match(master.strip())
    if match is None:
        return None
    spec = match.group(1)
    if spec is None:
        return 1
    if spec == "*":
        return os.cpu_count() or 1
    threads = int(spec)
    if threads < 1:
        raise ValueError(f"master {master!r}: need at least one thread")
    return threads


class LocalBackend(ExecutorBackend):
    """Run tasks on a pool of ``num_threads`` threads in this process."""

    def __init__(self, num_threads: int, serialize_closures: bool = True):
        self.parallelism = num_threads
        self.executor = Executor(DRIVER)
        self._serialize = serialize_closures
        self.ships_closures = serialize_closures
        self._pool = TaskPool(num_threads, "executor")
        self._stopped = False
        self._lock = threading.Lock()

    def run_stage(
        self,
        stage_fn: StageFn,
        splits: Sequence[int],
        *,
        stage_id: int = 0,
        description: str = "",
        preferred: Preference | None = None,
        on_success: TaskCallback | None = None,
    ) -> list[Any]:
        if self._stopped:
            raise RuntimeError("cannot run tasks: the Context has been stopped")
        fn = self._ship(stage_fn, description) if self._serialize else stage_fn
        run = self.executor.run_task
        if len(splits) == 1:
            # One task: skip the pool hand-off, which costs more than a tiny task.
            result = run(fn, stage_id, splits[0])
            if on_success is not None:
                on_success(splits[0], result)
            return [result]
        handles = self._pool.submit_all([(run, (fn, stage_id, split)) for split in splits])
        results: list[Any] = []
        first_error: BaseException | None = None
        for split, handle in zip(splits, handles, strict=True):
            try:
                results.append(handle.result())
                if on_success is not None:
                    on_success(split, results[-1])
            except BaseException as exc:  # keep waiting so no task outlives its stage
                if first_error is None:
                    first_error = exc
        if first_error is not None:
            raise first_error
        return results

    @staticmethod
    def _ship(stage_fn: StageFn, description: str) -> StageFn:
        return serde.copy_function(stage_fn, description)

    def executor_ids(self) -> list[str]:
        return [DRIVER]

    def store_block(self, block_id: BlockId, data: Any) -> str:
        self.executor.block_manager.put(block_id, data)
        return DRIVER

    def remove_blocks(self, *prefix: Any) -> None:
        self.executor.block_manager.remove_prefix(*prefix)

    def remove_block(self, block_id: BlockId, executor_id: str) -> None:
        self.executor.block_manager.remove(block_id)

    def block_ids(self) -> list[tuple[str, BlockId]]:
        return [(DRIVER, b) for b in self.executor.block_manager.block_ids()]

    def executor_state_keys(self) -> dict[str, list[str]]:
        return {DRIVER: [repr(k) for k in self.executor.state_keys()]}

    def stop(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._pool.shutdown()
        self.executor.stop()
