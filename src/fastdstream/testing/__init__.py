"""Test helpers for streaming programs (as ``pyspark.testing`` is for PySpark's).

Run a StreamingContext on a :class:`~fastdstream.ManualClock`, batch by batch,
and wait on listener events instead of sleeping.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import pyarrow as pa

from fastdstream.clock import ManualClock
from fastdstream.engine.context import Context
from fastdstream.engine.rdd import RDD
from fastdstream.streaming.dstream.dstream import DStream
from fastdstream.streaming.scheduler.listener import (
    BatchInfo,
    StreamingListener,
    StreamingListenerBatchCompleted,
    StreamingListenerBatchStarted,
    StreamingListenerBatchSubmitted,
    StreamingListenerOutputOperationCompleted,
    StreamingListenerOutputOperationStarted,
    StreamingListenerReceiverError,
    StreamingListenerReceiverStarted,
    StreamingListenerReceiverStopped,
    StreamingListenerStreamingStarted,
)
from fastdstream.streaming.streaming_context import StreamingContext


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition"
               ) -> None:
    """Wait for a condition another thread makes true; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    event = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        event.wait(0.005)


def partitions(rdd: RDD) -> list[Any]:
    """Each partition of ``rdd`` as its task computed it: a table stays a
    :class:`pyarrow.Table` (the columnar path held), objects come back as a list."""
    return rdd._run(_as_computed)


def _as_computed(_: int, data: Any) -> Any:
    return data if isinstance(data, pa.Table) else list(data)


def block_ids(sc: Context) -> set[tuple[Any, ...]]:
    """The ids of every block held by any of ``sc``'s executors, once queued cleanups
    (garbage-collected RDDs and shuffles) are done."""
    sc._cleaner.wait_until_idle()
    return {block_id for _, block_id in sc._backend.block_ids()}


class BatchRecorder(StreamingListener):
    """Records listener events; tests wait on completed batches instead of sleeping."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.completed: list[BatchInfo] = []
        self._cond = threading.Condition()

    def _record(self, name: str, event: object) -> None:
        with self._cond:
            self.events.append((name, event))
            self._cond.notify_all()

    def onBatchCompleted(self, batchCompleted: StreamingListenerBatchCompleted) -> None:
        # One step: a test that waited for the batch also finds its event.
        with self._cond:
            self.completed.append(batchCompleted.batchInfo())
            self.events.append(("batchCompleted", batchCompleted))
            self._cond.notify_all()

    def onBatchSubmitted(self, batchSubmitted: StreamingListenerBatchSubmitted) -> None:
        self._record("batchSubmitted", batchSubmitted)

    def onBatchStarted(self, batchStarted: StreamingListenerBatchStarted) -> None:
        self._record("batchStarted", batchStarted)

    def onOutputOperationStarted(
        self, outputOperationStarted: StreamingListenerOutputOperationStarted
    ) -> None:
        self._record("outputOperationStarted", outputOperationStarted)

    def onOutputOperationCompleted(
        self, outputOperationCompleted: StreamingListenerOutputOperationCompleted
    ) -> None:
        self._record("outputOperationCompleted", outputOperationCompleted)

    def onReceiverStarted(self, receiverStarted: StreamingListenerReceiverStarted) -> None:
        self._record("receiverStarted", receiverStarted)

    def onReceiverError(self, receiverError: StreamingListenerReceiverError) -> None:
        self._record("receiverError", receiverError)

    def onReceiverStopped(self, receiverStopped: StreamingListenerReceiverStopped) -> None:
        self._record("receiverStopped", receiverStopped)

    def onStreamingStarted(self, streamingStarted: StreamingListenerStreamingStarted) -> None:
        self._record("streamingStarted", streamingStarted)

    def names(self) -> list[str]:
        with self._cond:
            return [name for name, _ in self.events]

    def events_named(self, name: str) -> list[Any]:
        """The events recorded so far under ``name`` (e.g. ``"batchSubmitted"``), in order.

        Parameters
        ----------
        name : str
            The callback's name without ``on``, first letter lower case.

        Returns
        -------
        list
        """
        with self._cond:
            return [event for n, event in self.events if n == name]

    def wait_for_batches(self, n: int, timeout: float = 10.0) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.completed) >= n, timeout):
                raise AssertionError(f"only {len(self.completed)} of {n} batches completed")

    def wait_for_event(self, name: str, timeout: float = 10.0) -> object:
        with self._cond:
            found = self._cond.wait_for(
                lambda: next((e for n, e in self.events if n == name), None), timeout
            )
        if found is None:
            raise AssertionError(f"no {name} event within {timeout} s")
        return found


class ManualStreaming:
    """A StreamingContext on a ManualClock, with helpers to run batch by batch.

    What the ``manual_streaming`` pytest fixture gives a test (the fixture stops it).
    Batches run only when the test moves the clock, so a test of a job is exact:
    feed batches, run them, compare what each batch output.

    Parameters
    ----------
    batch_seconds : float
        The batch interval.
    master : str
        ``local[N]`` or ``local-cluster[N,C,M]``.
    conf : dict, optional
        More settings; ``spark.streaming.clock`` is ``manual``.

    Examples
    --------
    >>> streaming = ManualStreaming(batch_seconds=1.0)
    >>> lines = streaming.input([["a b a"], ["b"]])      # one list per batch
    >>> counts = streaming.collect(lines.flatMap(str.split).countByValue())
    >>> streaming.run_batches(2)                          # starts, then two intervals
    >>> [sorted(batch) for batch in counts]
    [[('a', 2), ('b', 1)], [('b', 1)]]
    >>> streaming.feed(lines, ["c"])
    >>> streaming.run_batches()
    >>> counts[-1]
    [('c', 1)]
    >>> streaming.stop()
    """

    def __init__(self, batch_seconds: float = 1.0, master: str = "local[2]",
                 conf: dict[str, str] | None = None):
        settings = {"spark.streaming.clock": "manual",
                    "fastdstream.receiver.restartDelay": "20ms"}
        settings.update(conf or {})
        self.sc = Context(master, "test", conf=settings)
        self.ssc = StreamingContext(self.sc, batch_seconds)
        clock = self.ssc._clock
        assert isinstance(clock, ManualClock), "ManualStreaming needs spark.streaming.clock=manual"
        self.clock = clock
        self.batch_ms = self.ssc._graph.batch_duration_ms
        self.recorder = BatchRecorder()
        self.ssc.addStreamingListener(self.recorder)
        self._inputs: dict[int, tuple[queue.Queue[Any], int | None]] = {}

    def start(self) -> None:
        """Start the StreamingContext (:meth:`run_batches` does it if needed)."""
        self.ssc.start()

    def input(self, batches: Iterable[Any] = (), numSlices: int | None = None) -> DStream:
        """A stream fed by the test: each item of ``batches`` is one batch's records.

        Parameters
        ----------
        batches : iterable
            One list of records (or a :class:`pyarrow.Table`) per batch, in order; a
            batch with nothing queued is empty. :meth:`feed` adds more.
        numSlices : int, optional
            Partitions of each batch; default the context's parallelism.

        Returns
        -------
        DStream
        """
        pending: queue.Queue[Any] = queue.Queue()
        stream = self.ssc.queueStream(pending, oneAtATime=True)
        self._inputs[id(stream)] = pending, numSlices
        for batch in batches:
            self.feed(stream, batch)
        return stream

    def feed(self, stream: DStream, records: Any) -> None:
        """Queue one more batch of ``records`` for a stream made by :meth:`input`.

        Parameters
        ----------
        stream : DStream
            The stream :meth:`input` returned.
        records : list or pyarrow.Table
            The batch's records.
        """
        if id(stream) not in self._inputs:
            raise ValueError("feed() takes a stream made by this ManualStreaming's input()")
        pending, slices = self._inputs[id(stream)]
        pending.put(self.sc.parallelize(records, slices))

    def collect(self, stream: DStream) -> list[list[Any]]:
        """Record what ``stream`` holds in each batch: a list that gets one list of
        records per batch run (empty batches too), in batch order.

        Parameters
        ----------
        stream : DStream

        Returns
        -------
        list of list
            Filled as batches run; compare it after :meth:`run_batches`.
        """
        batches: list[list[Any]] = []
        stream.foreachRDD(lambda rdd: batches.append(rdd.collect()))
        return batches

    def run_batches(self, n: int = 1, timeout: float = 10.0) -> None:
        """Advance the clock ``n`` batch intervals and wait until those batches complete.

        Starts the StreamingContext first if it is not running yet.

        Parameters
        ----------
        n : int
            How many batches to run.
        timeout : float
            Seconds to wait for each batch before failing the test.
        """
        if self.ssc._state == "INITIALIZED":
            self.start()
        done = len(self.recorder.completed)
        for i in range(n):
            self.clock.advance(self.batch_ms)
            self.recorder.wait_for_batches(done + i + 1, timeout)

    def cut_blocks(self, stream_id: int, rows: int, timeout: float = 10.0) -> None:
        """Wait until a receiver stored ``rows`` records, then move the clock one block
        interval so they are cut into blocks before the next batch time."""
        tracker = self.ssc._receiver_tracker
        wait_until(lambda: tracker.pending_rows(stream_id)
                   + tracker.unallocated_rows(stream_id) >= rows, timeout,
                   f"{rows} records at receiver {stream_id}")
        self.clock.advance(self.ssc._block_interval_ms)
        wait_until(lambda: tracker.unallocated_rows(stream_id) >= rows, timeout,
                   f"{rows} records cut into blocks")

    def take_error(self, timeout: float = 10.0) -> BaseException:
        """Wait for the error a batch reported, and clear it so the stream can go on
        (``awaitTermination`` would raise it again on every call, as in Spark)."""
        error = self.ssc._waiter.take_error(timeout)
        if error is None:
            raise AssertionError(f"no error was reported within {timeout} s")
        return error

    def stop(self) -> None:
        """Stop the StreamingContext and its Context."""
        self.ssc.stop(stopSparkContext=True, stopGraceFully=False)
