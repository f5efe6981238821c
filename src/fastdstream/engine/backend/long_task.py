"""Long-running tasks: a function that runs on one executor until it is told to stop.

Spark runs each receiver as such a task: it is placed on an executor, stores
blocks in that executor's block manager (so the batches that read them run
there), and talks to the driver the whole time it runs. A back end that supports
them (``local-cluster``, Ray) starts one with
:meth:`ExecutorBackend.start_long_task` and returns a :class:`LongTaskHandle`;
the task sees a :class:`LongTaskContext`.

Two channels, both of serde-picklable messages, kept in order: the task's
*reports* to the driver (``on_report``, called on one thread of the back end, so
it must not block) and the driver's *messages* to the task (``handle.send``,
delivered to the handler the task set, also on one thread and also not to
block). The driver hears ``on_end(error)`` when the function returns (error
None) or raises, and ``on_lost(executor_id)`` instead when the executor that ran
it died: that is the moment to start it again elsewhere.

The engine gives the messages no meaning: what a receiver reports (block infos,
started, errors) is the streaming layer's business.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastdstream.engine.backend.block_manager import BlockId
from fastdstream.engine.backend.executor import Executor

log = logging.getLogger(__name__)

MessageHandler = Callable[[Any], None]


class LongTaskContext:
    """What a long-running task sees on its executor: its blocks, and its two channels."""

    def __init__(self, executor: Executor, report: Callable[[Any], None]):
        self.executor_id = executor.executor_id
        self._executor = executor
        self._report = report
        self._handler: MessageHandler | None = None
        self._early: list[Any] = []
        self._lock = threading.Lock()

    def store_block(self, block_id: BlockId, data: Any) -> str:
        """Store a block in this executor's block manager; return the executor's id."""
        self._executor.block_manager.put(block_id, data)
        return self.executor_id

    def block_handle(self, block_id: BlockId) -> Any:
        """What a task on any executor may read a stored block by without asking this one
        (a Ray object store handle), or None where blocks are fetched from their holder."""
        return self._executor.block_manager.handle(block_id)

    def report(self, message: Any) -> None:
        """Send ``message`` to the driver's ``on_report`` (in order with the others)."""
        self._report(message)

    def set_message_handler(self, handler: MessageHandler) -> None:
        """``handler(message)`` gets what the driver sends, also what came before it
        was set; it runs on the back end's receiving thread and must not block."""
        with self._lock:
            self._handler = handler
            early, self._early = self._early, []
        for message in early:
            handler(message)

    def deliver(self, message: Any) -> None:
        """The back end's side: a message from the driver arrived."""
        with self._lock:
            handler = self._handler
            if handler is None:
                self._early.append(message)
                return
        try:
            handler(message)
        except Exception:
            log.exception("executor %s: a long-running task failed to handle %r",
                          self.executor_id, message)


LongTaskFn = Callable[[LongTaskContext], None]


@dataclass(frozen=True)
class LongTaskCallbacks:
    """The driver's side of a long-running task's life (see the module's text)."""

    on_report: Callable[[Any], None]
    on_end: Callable[[BaseException | None], None]
    on_lost: Callable[[str], None]


class LongTaskHandle(ABC):
    """The driver's handle on a long-running task."""

    executor_id: str
    """The executor it runs on."""

    @abstractmethod
    def send(self, message: Any) -> None:
        """Send ``message`` to the task (dropped if its executor is gone)."""

    @abstractmethod
    def join(self, timeout: float) -> bool:
        """Wait until the task ended or its executor was lost; False on timeout."""


def run_in_thread(fn: LongTaskFn, context: LongTaskContext, name: str,
                  on_end: Callable[[BaseException | None], None]) -> threading.Thread:
    """Run ``fn(context)`` on a daemon thread of its own and call ``on_end`` after it."""

    def run() -> None:
        try:
            fn(context)
        except BaseException as exc:
            log.exception("executor %s: long-running task %s failed", context.executor_id,
                          name)
            on_end(exc)
        else:
            on_end(None)

    thread = threading.Thread(target=run, name=f"long-task-{name}", daemon=True)
    thread.start()
    return thread
