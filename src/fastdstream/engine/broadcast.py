"""Broadcast: a read-only value shipped to each executor once, not with every task.

``sc.broadcast(v)`` serializes ``v`` once and stores it as a block on an executor.
A task closure that uses the broadcast carries only its id and that block's
location; the first task on an executor to read ``.value`` fetches the block
(from its own executor or a peer), deserializes it and keeps the value in its
executor's block manager, so every later task there reads the same object. As in
Spark, the blocks go with :meth:`Broadcast.unpersist` (they are sent again when a
task needs them), with :meth:`Broadcast.destroy` (for good), and when the
broadcast is garbage-collected on the driver.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from fastdstream.engine.backend import serde
from fastdstream.engine.backend.task_context import TaskContext
from fastdstream.errors import FastDStreamError

if TYPE_CHECKING:
    from fastdstream.engine.context import Context

T = TypeVar("T")

__all__ = ["Broadcast"]


class Broadcast(Generic[T]):
    """A broadcast variable, made by :meth:`Context.broadcast` (PySpark's ``Broadcast``).

    Examples
    --------
    >>> from fastdstream import Context
    >>> sc = Context("local[2]")
    >>> b = sc.broadcast([1, 2, 3, 4, 5])
    >>> b.value
    [1, 2, 3, 4, 5]
    >>> sc.parallelize([0, 0]).flatMap(lambda x: b.value).collect()
    [1, 2, 3, 4, 5, 1, 2, 3, 4, 5]
    >>> b.unpersist()
    >>> sc.stop()
    """

    def __init__(self, sc: Context, value: T, bid: int):
        self._sc: Context | None = sc
        self._value = value
        self._id = bid
        self._location: str | None = None  # the executor holding the block, once stored
        self._destroyed = False
        self._lock = threading.Lock()
        sc._cleaner.register_broadcast(self, bid)

    @property
    def id(self) -> int:
        """This broadcast's id, unique within its Context."""
        return self._id

    @property
    def value(self) -> T:
        """The broadcast value: on the driver the object given, in a task its executor's copy.

        Raises
        ------
        FastDStreamError
            If the broadcast has been destroyed.
        """
        if self._sc is not None:
            if self._destroyed:
                raise FastDStreamError(self._destroyed_message())
            return self._value
        return self._task_value()

    def _destroyed_message(self) -> str:
        return f"Attempted to use broadcast variable {self._id} after it was destroyed"

    def _block_location(self) -> str:
        """Where the block is, storing it first if no live executor holds it (driver)."""
        sc = self._sc
        assert sc is not None
        with self._lock:
            if self._destroyed:
                raise FastDStreamError(self._destroyed_message())
            if self._location is None or self._location not in sc._backend.executor_ids():
                self._location = sc._store_block(("broadcast", self._id), [self._value])
            return self._location

    def __reduce__(self) -> tuple[Any, ...]:
        if self._sc is None:  # a task's copy, passed on: it still names the same block
            return (_task_copy, (self._id, self._location))
        return (_task_copy, (self._id, self._block_location()))

    def _task_value(self) -> T:
        context = TaskContext.get()
        if context is None:
            raise FastDStreamError(
                f"broadcast variable {self._id}: a copy of a broadcast is read inside the "
                "tasks it was shipped with; read .value of the original on the driver")
        blocks = context.block_manager
        cached = blocks.get_local_or_none(("broadcast", self._id, "value"))
        if cached is None:
            block_id = ("broadcast", self._id)
            try:
                # A fresh copy even from this executor's own block: a task may not change
                # the driver's object (local[N]) under it.
                if blocks.contains(block_id):
                    cached = serde.decode_partition(blocks.get_encoded(block_id))
                else:
                    cached = blocks.get(block_id, self._location)
            except (KeyError, ConnectionError) as exc:
                raise FastDStreamError(
                    f"broadcast variable {self._id} is gone from executor {self._location} "
                    f"(destroyed, or its executor was lost during this stage): {exc}"
                ) from exc
            blocks.put(("broadcast", self._id, "value"), cached)
        return cached[0]

    def unpersist(self, blocking: bool = False) -> None:
        """Delete the executors' copies; a later task that uses the broadcast has it sent
        again. The removal is waited for, whatever ``blocking`` says.

        Raises
        ------
        FastDStreamError
            On a task's copy, or after :meth:`destroy`.
        """
        sc = self._driver_context("unpersist")
        with self._lock:
            self._location = None
        sc._cleaner.clean_now(("broadcast", self._id))

    def destroy(self, blocking: bool = False) -> None:
        """Delete the broadcast for good, on the executors and the driver: using it
        afterwards is an error. The removal is waited for, whatever ``blocking`` says.

        Raises
        ------
        FastDStreamError
            On a task's copy, or if already destroyed.
        """
        sc = self._driver_context("destroy")
        with self._lock:
            self._destroyed = True
            self._location = None
            self._value = None  # type: ignore[assignment]
        sc._cleaner.clean_now(("broadcast", self._id))

    def _driver_context(self, what: str) -> Context:
        if self._sc is None:
            raise FastDStreamError(f"Broadcast.{what} is called on the driver, not in a task")
        if self._destroyed:
            raise FastDStreamError(self._destroyed_message())
        return self._sc

    def __repr__(self) -> str:
        return f"Broadcast({self._id})"


def _task_copy(bid: int, location: str | None) -> Broadcast[Any]:
    copy: Broadcast[Any] = Broadcast.__new__(Broadcast)
    copy._sc = None
    copy._id = bid
    copy._location = location
    copy._destroyed = False
    copy._lock = threading.Lock()
    return copy
