"""Long-running tasks on Ray executor actors (see :mod:`long_task`).

A long-running task (a receiver) runs on a thread of an executor actor, not in
an actor of its own: its blocks then go into that executor's block manager, and
the batches that read them are placed there -- what Spark does, and what a
receiver actor of its own could only have by shipping every block to an
executor. The actor holds a :class:`LongTaskHost`; the driver a
:class:`RayLongTask` per task, whose thread long-polls the actor for the task's
reports (a pending call per task, like the executor's ``watch``), so a report
arrives when it is made and the actor's death is noticed when it happens: the
poll fails, and the driver hears ``on_lost``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

import ray

from fastdstream.engine.backend import serde
from fastdstream.engine.backend.base import ExecutorLostError
from fastdstream.engine.backend.executor import Executor
from fastdstream.engine.backend.local_cluster import decode_error
from fastdstream.engine.backend.locality import ExecutorLoad
from fastdstream.engine.backend.long_task import (
    LongTaskCallbacks,
    LongTaskContext,
    LongTaskHandle,
    run_in_thread,
)
from fastdstream.engine.backend.worker import encode_error

log = logging.getLogger(__name__)

POLL_S = 1.0
"""How long one poll waits in the actor for a report before it returns empty."""


class _Hosted:
    """One task on the actor: its context and the reports the driver has not polled."""

    def __init__(self, executor: Executor) -> None:
        self.cond = threading.Condition()
        self.reports: list[Any] = []
        self.ended = False
        self.error: BaseException | None = None
        self.context = LongTaskContext(executor, self.report)
        # The driver's messages, numbered: a threaded actor runs calls in any order.
        self.next_seq = 0
        self.early: dict[int, Any] = {}
        self.lock = threading.Lock()

    def deliver(self, seq: int, message: Any) -> None:
        """Hand message ``seq`` on once every earlier one has been."""
        with self.lock:
            self.early[seq] = message
            ready = []
            while self.next_seq in self.early:
                ready.append(self.early.pop(self.next_seq))
                self.next_seq += 1
            for message in ready:  # under the lock: in order also across callers
                self.context.deliver(message)

    def report(self, message: Any) -> None:
        with self.cond:
            self.reports.append(message)
            self.cond.notify_all()

    def end(self, error: BaseException | None) -> None:
        with self.cond:
            self.ended, self.error = True, error
            self.cond.notify_all()


class LongTaskHost:
    """The actor's side: the long-running tasks it runs, by key."""

    def __init__(self) -> None:
        self._tasks: dict[int, _Hosted] = {}
        self._lock = threading.Lock()

    def start(self, executor: Executor, key: int, frame: bytes, name: str) -> None:
        hosted = _Hosted(executor)
        with self._lock:
            self._tasks[key] = hosted
        try:
            fn = serde.loads_function(frame)
        except BaseException as exc:
            hosted.end(exc)
            return
        run_in_thread(fn, hosted.context, name, hosted.end)

    def send(self, key: int, seq: int, frame: bytes) -> None:
        with self._lock:
            hosted = self._tasks.get(key)
        if hosted is not None:
            hosted.deliver(seq, serde.loads(frame))

    def poll(self, key: int, timeout: float) -> bytes:
        """``(reports, ended, error)`` as a serde frame, once there is a report or the
        task ended, or after ``timeout`` seconds; error is an ``encode_error`` frame."""
        with self._lock:
            hosted = self._tasks.get(key)
        if hosted is None:
            return serde.dumps(([], True, None))
        with hosted.cond:
            hosted.cond.wait_for(lambda: hosted.reports or hosted.ended, timeout)
            reports, hosted.reports = hosted.reports, []
            ended, error = hosted.ended, hosted.error
        if ended:
            with self._lock:
                self._tasks.pop(key, None)
        return serde.dumps((reports, ended,
                            None if error is None else encode_error(error)))


class RayLongTask(LongTaskHandle):
    """The driver's handle on a long-running task on an executor actor."""

    def __init__(self, actor: Any, executor_id: str, key: int, callbacks: LongTaskCallbacks,
                 load: ExecutorLoad | None = None):
        self.executor_id = executor_id
        self.key = key
        self.ended = threading.Event()
        self._load = load
        self._actor = actor
        self._callbacks = callbacks
        self._seq = 0
        self._send_lock = threading.Lock()
        self.closed = False  # the back end is stopping: the actor's end is no loss

    def start(self, frame: bytes, name: str) -> None:
        ray.get(self._actor.long_start.remote(self.key, frame, name))
        if self._load is not None:  # it takes a core of its executor while it runs
            self._load.long_task_started(self.executor_id)
        threading.Thread(target=self._poll, name=f"long-task-{self.key}-poll",
                         daemon=True).start()

    def _poll(self) -> None:
        try:
            self._poll_reports()
        finally:
            if self._load is not None:
                self._load.long_task_ended(self.executor_id)

    def _poll_reports(self) -> None:
        where = f"executor {self.executor_id} (Ray actor)"
        while True:
            try:
                frame = ray.get(self._actor.long_poll.remote(self.key, POLL_S))
            except Exception as exc:  # the actor died (or Ray went down with the Context)
                self.ended.set()
                if self.closed:
                    return
                log.warning("long-running task %d: %s is gone: %s", self.key, where,
                            str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
                self._callbacks.on_lost(self.executor_id)
                return
            reports, ended, error = serde.loads(frame)
            for report in reports:
                try:
                    self._callbacks.on_report(report)
                except Exception:
                    log.exception("a report of long-running task %d on %s failed", self.key,
                                  where)
            if ended:
                self.ended.set()
                self._callbacks.on_end(None if error is None else decode_error(error, where))
                return

    def send(self, message: Any) -> None:
        if not self.ended.is_set():
            # Not waited for: a lost actor is told through on_lost, by the poll.
            with self._send_lock:
                seq, self._seq = self._seq, self._seq + 1
                self._actor.long_send.remote(self.key, seq, serde.dumps(message))

    def join(self, timeout: float) -> bool:
        return self.ended.wait(timeout)


class RayLongTasks:
    """The driver's long-running tasks on one Ray back end, spread over its executors."""

    def __init__(self, load: ExecutorLoad | None = None) -> None:
        self._load = load
        self._tasks: list[RayLongTask] = []
        self._keys = iter(range(1 << 62))
        self._lock = threading.Lock()

    def start(self, actors: Sequence[tuple[str, Any]], fn_frame: bytes, name: str,
              callbacks: LongTaskCallbacks, avoid: frozenset[str]) -> RayLongTask:
        """Start on the executor, of ``(executor id, actor)``, running the fewest (not one
        in ``avoid`` unless it is the last)."""
        with self._lock:
            self._tasks = [t for t in self._tasks if not t.ended.is_set()]
            running = [t.executor_id for t in self._tasks]
            candidates = [a for a in actors if a[0] not in avoid] or list(actors)
            executor_id, actor = min(candidates, key=lambda a: running.count(a[0]))
            task = RayLongTask(actor, executor_id, next(self._keys), callbacks, self._load)
            self._tasks.append(task)
        try:
            task.start(fn_frame, name)
        except ray.exceptions.RayError as exc:
            task.ended.set()
            raise ExecutorLostError(f"executor {executor_id} (Ray actor) is gone: "
                                    f"{type(exc).__name__}", executor_id) from exc
        return task

    def close(self) -> None:
        """The back end stops: its actors' ends are no losses to report."""
        with self._lock:
            for task in self._tasks:
                task.closed = True
