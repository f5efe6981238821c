"""ExecutorBackend: what the engine needs from wherever tasks run.

The DAG scheduler hands a back end one stage at a time: a stage function
``fn(task_context, split)`` and the splits to run. A back end ships the
function through serde, runs one task per split on its executors, and returns
the results in split order. It also stores blocks on its executors for the
driver (received input), and removes blocks when the driver forgets them. The
rest of the engine does not know which back end runs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

from fastdstream.engine.backend.block_manager import BlockId
from fastdstream.engine.backend.long_task import LongTaskCallbacks, LongTaskFn, LongTaskHandle
from fastdstream.engine.backend.task_context import TaskContext
from fastdstream.errors import FastDStreamError

StageFn = Callable[[TaskContext, int], Any]
Preference = Callable[[int], "str | None"]
TaskCallback = Callable[[int, Any], None]


class ExecutorLostError(FastDStreamError):
    """An executor died while it ran tasks (or held blocks) of this job."""

    def __init__(self, message: str, executor_id: str):
        super().__init__(message)
        self.executor_id = executor_id

    def __reduce__(self) -> tuple[Any, ...]:
        return (ExecutorLostError, (str(self), self.executor_id))


class ExecutorBackend(ABC):
    """The interface every back end implements (``local[N]``, ``local-cluster``, Ray)."""

    parallelism: int
    _on_executor_lost: Callable[[str], None] | None = None

    @abstractmethod
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
        """Run ``stage_fn(context, split)`` for every split; results in split order.

        ``preferred(split)`` names the executor a task should run on (where its
        input blocks are), or None. ``on_success(split, result)`` runs on the calling
        thread for each task that succeeds, as its result arrives, also when another
        task of the stage fails. The first task error is raised once every task
        of the stage has ended, so no task outlives its stage.
        """

    @abstractmethod
    def executor_ids(self) -> list[str]:
        """The executors that are alive now."""

    @abstractmethod
    def store_block(self, block_id: BlockId, data: Any) -> str:
        """Store a block on an executor (received input); return that executor's id."""

    @abstractmethod
    def remove_blocks(self, *prefix: Any) -> None:
        """Remove, on every executor, the blocks whose id starts with ``prefix``."""

    @abstractmethod
    def remove_block(self, block_id: BlockId, executor_id: str) -> None:
        """Remove one block from the executor that holds it."""

    @abstractmethod
    def block_ids(self) -> list[tuple[str, BlockId]]:
        """Every block held by every executor, as ``(executor id, block id)``."""

    @abstractmethod
    def executor_state_keys(self) -> dict[str, list[str]]:
        """Each executor's per-executor state keys, as text (status, tests)."""

    ships_closures: bool = True
    """Whether task closures are serialized (all but ``local[N]`` with
    ``fastdstream.task.serializeClosures=false``): operations then check at once that
    the functions they are given can be (engine/closure_check.py)."""

    supports_long_tasks: bool = False
    """Whether :meth:`start_long_task` runs tasks on executors of their own process."""

    def start_long_task(self, fn: LongTaskFn, name: str, callbacks: LongTaskCallbacks,
                        avoid: frozenset[str] = frozenset()) -> LongTaskHandle:
        """Run ``fn(context)`` on one executor until it returns (Spark's receiver jobs).

        The executor is the one running the fewest long tasks, not one in ``avoid``
        unless no other is alive. See :mod:`~fastdstream.engine.backend.long_task`.
        """
        raise NotImplementedError(f"{type(self).__name__} runs no long-running tasks")

    def preload(self, modules: Sequence[str]) -> None:
        """Import ``modules`` on the executors ahead of the tasks that need them, without
        waiting for it (a no-op where executors share the driver's interpreter)."""
        return

    def set_executor_lost_handler(self, handler: Callable[[str], None]) -> None:
        """``handler(executor_id)`` runs when an executor is lost (its blocks with it)."""
        self._on_executor_lost = handler

    def _executor_lost(self, executor_id: str) -> None:
        if self._on_executor_lost is not None:
            self._on_executor_lost(executor_id)

    @abstractmethod
    def stop(self) -> None:
        """Stop the executors (their state's close hooks run) and release them."""
