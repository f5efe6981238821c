"""Queue source: batches taken from a queue of RDDs (for tests and demos)."""

from __future__ import annotations

import collections
import queue
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from fastdstream.engine.rdd import RDD
from fastdstream.streaming.dstream.input_dstream import InputDStream

if TYPE_CHECKING:
    from fastdstream.streaming.streaming_context import StreamingContext


class QueueInputDStream(InputDStream):
    """Each batch takes the next RDD of a queue (all of them with ``oneAtATime=False``).

    Reports no input info to listeners, as Spark's: a batch's ``numRecords()`` is 0.
    """

    def __init__(self, ssc: StreamingContext, rdds: Iterable[Any] | queue.Queue[Any],
                 oneAtATime: bool = True, default: Any = None):
        super().__init__(ssc)
        self._queue: queue.Queue[Any] | collections.deque[RDD]
        if isinstance(rdds, queue.Queue):
            self._queue = rdds  # a live queue: the caller may keep adding to it
        else:
            self._queue = collections.deque(self._as_rdd(r) for r in rdds)
        self._one_at_a_time = oneAtATime
        self._default = None if default is None else self._as_rdd(default)
        self._lock = threading.Lock()

    def _as_rdd(self, item: Any) -> RDD:
        return item if isinstance(item, RDD) else self._sc.parallelize(item)

    def _take(self) -> list[RDD]:
        taken: list[RDD] = []
        with self._lock:
            while True:
                try:
                    if isinstance(self._queue, queue.Queue):
                        item = self._as_rdd(self._queue.get_nowait())
                    else:
                        item = self._queue.popleft()
                except (IndexError, queue.Empty):
                    break
                taken.append(item)
                if self._one_at_a_time:
                    break
        return taken

    def _compute(self, time_ms: int) -> RDD | None:
        taken = self._take()
        if taken:
            rdd = taken[0] if len(taken) == 1 else self._sc.union(taken)
        elif self._default is not None:
            rdd = self._default
        else:
            rdd = self._sc.emptyRDD()
        # No input info, as Spark's QueueInputDStream: a queued RDD is not input read
        # for the batch, so its batches show numRecords() 0 (Spark's own test pins it).
        return rdd
