"""Executor: where tasks run, with the blocks, shuffle outputs and state they share.

One per executor: in ``local[N]`` the driver process holds one, in
``local-cluster`` each worker process holds one. It owns a block manager, a
shuffle service, and per-executor state (cached Kafka consumers, say) whose
close hooks run when the executor stops.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from fastdstream.engine.backend.block_manager import BlockManager, Fetcher
from fastdstream.engine.backend.shuffle import ShuffleService
from fastdstream.engine.backend.task_context import TaskContext

log = logging.getLogger(__name__)

T = TypeVar("T")
StageFn = Callable[[TaskContext, int], Any]


class Executor:
    def __init__(self, executor_id: str, fetcher: Fetcher | None = None,
                 block_manager: BlockManager | None = None):
        self.executor_id = executor_id
        self.block_manager = (block_manager if block_manager is not None
                              else BlockManager(executor_id, fetcher))
        self.shuffle = ShuffleService(self.block_manager)
        self._state: dict[Any, tuple[Any, Callable[[Any], None] | None]] = {}
        self._state_lock = threading.Lock()
        self._stopped = False

    def run_task(self, stage_fn: StageFn, stage_id: int, split: int, attempt: int = 0) -> Any:
        with TaskContext(self, stage_id, split, attempt) as context:
            return stage_fn(context, split)

    def state(self, key: Any, create: Callable[[], T],
              close: Callable[[T], None] | None = None) -> T:
        """The executor's value for ``key``, made by ``create`` on first use; ``close``
        runs on it when the executor stops. Keys that must not be shared between
        concurrently running tasks include the thread (``threading.get_ident()``)."""
        with self._state_lock:
            if self._stopped:
                raise RuntimeError(f"executor {self.executor_id} has stopped")
            entry = self._state.get(key)
            if entry is None:
                entry = self._state[key] = (create(), close)
        return entry[0]

    def state_keys(self) -> list[Any]:
        with self._state_lock:
            return list(self._state)

    def stop(self) -> None:
        """Run the state's close hooks and drop the blocks; idempotent."""
        with self._state_lock:
            if self._stopped:
                return
            self._stopped = True
            entries = list(self._state.values())
            self._state.clear()
        for value, close in entries:
            if close is None:
                continue
            try:
                close(value)
            except Exception:
                log.exception("executor %s: closing %r failed", self.executor_id, value)
        self.block_manager.clear()
