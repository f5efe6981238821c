"""The ``local[N]`` back end: tasks on a thread pool in the driver process.

``local[N]`` is a thread pool in this process. The compiled kernels release the
GIL, so columnar partitions really do run in parallel; Python-object partitions
run concurrently as far as the GIL allows. A task's closure is round-tripped
through cloudpickle once per stage, so a program that works here also works on
a back end where tasks cross a process boundary.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import cloudpickle

from fastdstream.engine.backend.base import ExecutorBackend
from fastdstream.errors import TaskNotSerializableError

T = TypeVar("T")

_LOCAL_RE = re.compile(r"^local(?:\[(\*|\d+)\])?$")


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


class LocalExecutor(ExecutorBackend):
    """Run tasks on a pool of ``num_threads`` threads in this process."""

    def __init__(self, num_threads: int, serialize_closures: bool = True):
        self.parallelism = num_threads
        self._serialize = serialize_closures
        self._pool = ThreadPoolExecutor(max_workers=num_threads, thread_name_prefix="executor")
        self._stopped = False
        self._lock = threading.Lock()

    def run_stage(
        self,
        stage_fn: Callable[[int], T],
        splits: Sequence[int],
        description: str = "",
    ) -> list[T]:
        if self._stopped:
            raise RuntimeError("cannot run tasks: the Context has been stopped")
        fn = self._ship(stage_fn, description) if self._serialize else stage_fn
        if len(splits) == 1:
            # One task: skip the pool hand-off, which costs more than a tiny task.
            return [fn(splits[0])]
        futures: list[Future[T]] = [self._pool.submit(fn, split) for split in splits]
        results: list[T] = []
        first_error: BaseException | None = None
        for future in futures:
            try:
                results.append(future.result())
            except BaseException as exc:  # keep waiting so no task outlives its stage
                if first_error is None:
                    first_error = exc
        if first_error is not None:
            raise first_error
        return results

    @staticmethod
    def _ship(stage_fn: Callable[[int], T], description: str) -> Callable[[int], T]:
        try:
            payload = cloudpickle.dumps(stage_fn)
        except Exception as exc:
            what = f" ({description})" if description else ""
            raise TaskNotSerializableError(
                f"task closure{what} cannot be serialized with cloudpickle: {exc}. "
                "Functions passed to RDD/DStream operations must not capture locks, "
                "sockets, open files or the Context/StreamingContext."
            ) from exc
        return cloudpickle.loads(payload)

    def stop(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._pool.shutdown(wait=True, cancel_futures=True)
