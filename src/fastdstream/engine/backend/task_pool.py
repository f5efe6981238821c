"""TaskPool: the task threads of ``local[N]``, with the least hand-off per task.

A stage of a 10 ms streaming batch is a few tasks of well under a millisecond each, so
what a task costs to hand over counts: ``ThreadPoolExecutor`` builds a ``Future`` (a
``Condition`` over an ``RLock``) per task and keeps an idle ``Semaphore`` in Python,
which at 100 batches a second was a tenth of the driver's time under the GIL. Here a
task is a tuple on a ``SimpleQueue`` (put and get in C) and its completion a plain lock
the caller waits on.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError
from typing import Any


class TaskHandle:
    """One submitted call: ``result()`` waits for it and returns or raises its outcome."""

    __slots__ = ("_done", "_error", "_value")

    def __init__(self) -> None:
        self._done = threading.Lock()
        self._done.acquire()  # released once, by the thread that ran (or cancelled) it
        self._value: Any = None
        self._error: BaseException | None = None

    def result(self) -> Any:
        """Wait for the call; its value, or raise what it raised (``CancelledError`` if
        the pool stopped before it ran)."""
        self._done.acquire()
        self._done.release()  # later result() calls return at once
        if self._error is not None:
            raise self._error
        return self._value


class TaskPool:
    """``threads`` daemon threads named ``{name}_{i}``, started at the first submit.

    Examples
    --------
    >>> pool = TaskPool(2, "example")
    >>> [h.result() for h in pool.submit_all([(pow, (2, 3)), (len, ("ab",))])]
    [8, 2]
    >>> pool.shutdown()
    """

    def __init__(self, threads: int, name: str):
        if threads < 1:
            raise ValueError(f"TaskPool {name!r}: need at least one thread, got {threads}")
        self._size = threads
        self._name = name
        self._queue: queue.SimpleQueue[tuple[TaskHandle, Callable[..., Any],
                                             tuple[Any, ...]] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._stopped = False

    def submit_all(self, calls: Sequence[tuple[Callable[..., Any], tuple[Any, ...]]]
                   ) -> list[TaskHandle]:
        """Queue ``fn(*args)`` for each ``(fn, args)``, in order; their handles."""
        with self._lock:
            if self._stopped:
                raise RuntimeError(f"cannot run tasks: TaskPool {self._name!r} has shut down")
            if not self._threads:
                for i in range(self._size):
                    thread = threading.Thread(target=self._loop, name=f"{self._name}_{i}",
                                              daemon=True)
                    thread.start()
                    self._threads.append(thread)
        handles = []
        for fn, args in calls:
            handle = TaskHandle()
            self._queue.put((handle, fn, args))
            handles.append(handle)
        return handles

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            handle, fn, args = item
            if self._stopped:
                handle._error = CancelledError()
            else:
                try:
                    handle._value = fn(*args)
                except BaseException as exc:  # the caller's to see, as a Future's would be
                    handle._error = exc
            handle._done.release()

    def shutdown(self) -> None:
        """Cancel what has not started, wait for what runs; idempotent."""
        with self._lock:
            self._stopped = True
            threads, self._threads = self._threads, []
        for _ in threads:
            self._queue.put(None)
        for thread in threads:
            thread.join()
