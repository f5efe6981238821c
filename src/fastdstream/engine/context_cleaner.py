"""ContextCleaner: removes the blocks of RDDs and shuffles nobody can reach any more.

When a persisted RDD or a shuffle is garbage-collected on the driver, its
blocks on the executors (and its map-output registration) are removed, and so
are a checkpointed RDD's files where that is asked for -- on a
cleaning thread, as in Spark, never inside the garbage collector: a finalizer
may run on any thread at any moment, including one that holds a lock the
removal needs or is halfway through a message to a worker.
"""

from __future__ import annotations

import logging
import queue
import shutil
import threading
import weakref
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastdstream.engine.backend.base import ExecutorBackend
    from fastdstream.engine.map_output_tracker import MapOutputTracker

log = logging.getLogger(__name__)

_STOP = ("stop",)


class ContextCleaner:
    def __init__(self, backend: ExecutorBackend, tracker: MapOutputTracker,
                 clean_checkpoints: bool = False):
        self._backend = backend
        self._tracker = tracker
        self._clean_checkpoints = clean_checkpoints
        # SimpleQueue: put and get in C; a stream's every batch leaves RDDs to clean.
        self._queue: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._idle = threading.Condition()
        self._pending = 0
        self._stopped = False
        self._thread = threading.Thread(target=self._loop, name="context-cleaner", daemon=True)
        self._thread.start()

    def register_rdd(self, rdd: object, rdd_id: int) -> None:
        weakref.finalize(rdd, self._enqueue, ("rdd", rdd_id))

    def register_shuffle(self, rdd: object, shuffle_id: int) -> None:
        weakref.finalize(rdd, self._enqueue, ("shuffle", shuffle_id))

    def register_broadcast(self, broadcast: object, broadcast_id: int) -> None:
        """Remove a broadcast's blocks from the executors when it is garbage-collected."""
        weakref.finalize(broadcast, self._enqueue, ("broadcast", broadcast_id))

    def register_checkpoint(self, rdd: object, directory: str) -> None:
        """Remove a reliably checkpointed RDD's files with it, when
        ``spark.cleaner.referenceTracking.cleanCheckpoints`` is on (off by default, as in
        Spark: a checkpoint may be wanted after the job)."""
        if self._clean_checkpoints:
            weakref.finalize(rdd, self._enqueue, ("checkpoint", directory))

    def _enqueue(self, task: tuple[Any, ...]) -> None:
        with self._idle:
            if self._stopped:  # the executors and their blocks are gone already
                return
            self._pending += 1
        self._queue.put(task)

    def clean_now(self, task: tuple[Any, ...]) -> None:
        """Remove at once (unpersist, a cut lineage) rather than at garbage collection."""
        self._enqueue(task)
        self.wait_until_idle()

    def wait_until_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every queued removal is done (tests, and a Context stopping)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def _loop(self) -> None:
        while True:
            task = self._queue.get()
            if task == _STOP:
                return
            try:
                kind, ident = task
                if kind == "checkpoint":
                    shutil.rmtree(ident, ignore_errors=True)
                    continue
                if kind == "shuffle":
                    self._tracker.unregister(ident)
                self._backend.remove_blocks(kind, ident)
            except Exception:
                log.exception("cleaning %s %s failed", *task)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def stop(self) -> None:
        with self._idle:
            self._stopped = True
        self._queue.put(_STOP)
        self._thread.join(10)
