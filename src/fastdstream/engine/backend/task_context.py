"""TaskContext: what a running task may touch.

A task sees its stage, partition and attempt, and its executor: the executor's
block manager, shuffle service and per-executor state. It never reaches a
process global, so the same task runs unchanged in the driver's thread pool, in
a worker process or on a Ray actor. Engine code receives the context as an
argument; user code may ask for the current one with :meth:`TaskContext.get`,
as in PySpark.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastdstream.engine.backend.block_manager import BlockManager
    from fastdstream.engine.backend.executor import Executor
    from fastdstream.engine.backend.shuffle import ShuffleService

_current = threading.local()


class TaskContext:
    """The context of one task attempt (PySpark's ``TaskContext``).

    Examples
    --------
    >>> from fastdstream import Context
    >>> from fastdstream.engine.backend.task_context import TaskContext
    >>> sc = Context("local[2]")
    >>> sc.parallelize(range(4), 2).map(lambda _: TaskContext.get().partitionId()).collect()
    [0, 0, 1, 1]
    >>> sc.stop()
    """

    __slots__ = ("_accumulator_updates", "_attempt", "_partition", "_stage", "executor")

    def __init__(self, executor: Executor, stage_id: int, partition_id: int,
                 attempt_number: int = 0):
        self.executor = executor
        self._stage = stage_id
        self._partition = partition_id
        self._attempt = attempt_number
        # What the task added to accumulators, by accumulator id: returned with its
        # result and merged on the driver if the task succeeds.
        self._accumulator_updates: dict[int, Any] = {}

    @classmethod
    def get(cls) -> TaskContext | None:
        """The context of the task running on this thread, or None outside a task."""
        return getattr(_current, "context", None)

    def stageId(self) -> int:
        """The ID of the stage this task belongs to."""
        return self._stage

    def partitionId(self) -> int:
        """The index of the partition this task computes."""
        return self._partition

    def attemptNumber(self) -> int:
        """How many times this task was attempted before: 0 at first, more on a retry."""
        return self._attempt

    @property
    def block_manager(self) -> BlockManager:
        """The block manager of the executor running this task (not in PySpark).

        It holds the executor's blocks: cached partitions, received input, local checkpoints.
        """
        return self.executor.block_manager

    @property
    def shuffle(self) -> ShuffleService:
        """The shuffle service of the executor running this task (not in PySpark).

        Shuffle map tasks write their outputs to it and reduce tasks fetch from it.
        """
        return self.executor.shuffle

    def executor_state(self, key: Any, create: Any, close: Any = None) -> Any:
        """Per-executor state shared by the tasks it runs (see :meth:`Executor.state`)."""
        return self.executor.state(key, create, close)

    def __enter__(self) -> TaskContext:
        _current.context = self
        return self

    def __exit__(self, *exc: object) -> None:
        _current.context = None

    def __repr__(self) -> str:
        return (f"TaskContext(stage={self._stage}, partition={self._partition}, "
                f"attempt={self._attempt}, executor={self.executor.executor_id!r})")
