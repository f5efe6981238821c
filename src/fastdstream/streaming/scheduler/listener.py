"""StreamingListener, the batch/receiver/output-operation figures it gets, and the bus.

Accessors are methods, as PySpark's listener objects expose them
(``batchCompleted.batchInfo().processingDelay()``); delays are milliseconds,
or None while unknown.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

log = logging.getLogger(__name__)


@dataclass
class StreamInputInfo:
    """What one input stream read for one batch: its record count and metadata.

    ``metadata`` holds what the source can say about the batch (Kafka: ``"offsets"``,
    the batch's OffsetRanges; files: ``"files"``), and under
    :attr:`METADATA_KEY_DESCRIPTION` a text for people to read, as in Spark.

    Examples
    --------
    >>> info = StreamInputInfo(0, 3, {StreamInputInfo.METADATA_KEY_DESCRIPTION: "a.txt"})
    >>> info.numRecords(), info.metadataDescription()
    (3, 'a.txt')
    """

    METADATA_KEY_DESCRIPTION: ClassVar[str] = "Description"

    input_stream_id: int
    num_records: int
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.num_records < 0:
            raise ValueError(f"numRecords must not be negative, got {self.num_records} "
                             f"(input stream {self.input_stream_id})")

    def inputStreamId(self) -> int:
        return self.input_stream_id

    def numRecords(self) -> int:
        return self.num_records

    def metadataDescription(self) -> str | None:
        """The description a source gave of this batch's input, if any."""
        description = self.metadata.get(self.METADATA_KEY_DESCRIPTION)
        return None if description is None else str(description)


@dataclass
class OutputOperationInfo:
    batch_time: int
    id: int
    name: str
    description: str
    start_time: int | None = None
    end_time: int | None = None
    failure_reason: str | None = None

    def batchTime(self) -> int:
        return self.batch_time

    def duration(self) -> int | None:
        if self.start_time is None or self.end_time is None:
            return None
        return self.end_time - self.start_time

    def failureReason(self) -> str | None:
        return self.failure_reason


@dataclass
class BatchInfo:
    """The figures of one batch: what users watch to see whether a stream keeps up.

    Examples
    --------
    >>> info = BatchInfo(1000, {0: StreamInputInfo(0, 5)}, 1001, 1003, 1010)
    >>> info.numRecords(), info.schedulingDelay(), info.processingDelay(), info.totalDelay()
    (5, 2, 7, 9)
    """

    batch_time: int
    stream_id_to_input_info: dict[int, StreamInputInfo]
    submission_time: int
    processing_start_time: int | None = None
    processing_end_time: int | None = None
    output_operation_infos: dict[int, OutputOperationInfo] = field(default_factory=dict)

    def batchTime(self) -> int:
        """Batch time in milliseconds since the epoch."""
        return self.batch_time

    def streamIdToInputInfo(self) -> dict[int, StreamInputInfo]:
        return self.stream_id_to_input_info

    def submissionTime(self) -> int:
        return self.submission_time

    def processingStartTime(self) -> int | None:
        return self.processing_start_time

    def processingEndTime(self) -> int | None:
        return self.processing_end_time

    def numRecords(self) -> int:
        return sum(i.num_records for i in self.stream_id_to_input_info.values())

    def schedulingDelay(self) -> int | None:
        """Time from submission of the batch's jobs to the start of its first job."""
        if self.processing_start_time is None:
            return None
        return self.processing_start_time - self.submission_time

    def processingDelay(self) -> int | None:
        """Time the batch's jobs took."""
        if self.processing_start_time is None or self.processing_end_time is None:
            return None
        return self.processing_end_time - self.processing_start_time

    def totalDelay(self) -> int | None:
        """Scheduling delay plus processing delay."""
        scheduling, processing = self.schedulingDelay(), self.processingDelay()
        if scheduling is None or processing is None:
            return None
        return scheduling + processing

    def outputOperationInfos(self) -> dict[int, OutputOperationInfo]:
        return self.output_operation_infos


@dataclass
class ReceiverInfo:
    stream_id: int
    name: str
    active: bool
    location: str = "driver"
    last_error_message: str = ""
    last_error: str = ""
    last_error_time: int = -1

    def streamId(self) -> int:
        return self.stream_id

    def lastErrorMessage(self) -> str:
        return self.last_error_message

    def lastError(self) -> str:
        return self.last_error


_P = TypeVar("_P")


class _Event(Generic[_P]):
    def __init__(self, payload: _P):
        self._payload = payload


class StreamingListenerStreamingStarted(_Event[int]):
    def time(self) -> int:
        return self._payload


class _ReceiverEvent(_Event[ReceiverInfo]):
    def receiverInfo(self) -> ReceiverInfo:
        return self._payload


class StreamingListenerReceiverStarted(_ReceiverEvent):
    pass


class StreamingListenerReceiverError(_ReceiverEvent):
    pass


class StreamingListenerReceiverStopped(_ReceiverEvent):
    pass


class _BatchEvent(_Event[BatchInfo]):
    def batchInfo(self) -> BatchInfo:
        return self._payload


class StreamingListenerBatchSubmitted(_BatchEvent):
    pass


class StreamingListenerBatchStarted(_BatchEvent):
    pass


class StreamingListenerBatchCompleted(_BatchEvent):
    pass


class _OutputEvent(_Event[OutputOperationInfo]):
    def outputOperationInfo(self) -> OutputOperationInfo:
        return self._payload


class StreamingListenerOutputOperationStarted(_OutputEvent):
    pass


class StreamingListenerOutputOperationCompleted(_OutputEvent):
    pass


class StreamingListener:
    """Override the callbacks of interest; each is called on the listener bus thread.

    Examples
    --------
    >>> class Delays(StreamingListener):
    ...     def onBatchCompleted(self, batchCompleted):
    ...         print(batchCompleted.batchInfo().processingDelay())
    """

    def onStreamingStarted(self, streamingStarted: StreamingListenerStreamingStarted) -> None:
        """Called when the StreamingContext has started."""

    def onReceiverStarted(self, receiverStarted: StreamingListenerReceiverStarted) -> None:
        """Called when a receiver has started."""

    def onReceiverError(self, receiverError: StreamingListenerReceiverError) -> None:
        """Called when a receiver has reported an error."""

    def onReceiverStopped(self, receiverStopped: StreamingListenerReceiverStopped) -> None:
        """Called when a receiver has stopped."""

    def onBatchSubmitted(self, batchSubmitted: StreamingListenerBatchSubmitted) -> None:
        """Called when a batch's jobs have been submitted for processing."""

    def onBatchStarted(self, batchStarted: StreamingListenerBatchStarted) -> None:
        """Called when processing of a batch's jobs has started."""

    def onBatchCompleted(self, batchCompleted: StreamingListenerBatchCompleted) -> None:
        """Called when processing of a batch's jobs has completed."""

    def onOutputOperationStarted(
        self, outputOperationStarted: StreamingListenerOutputOperationStarted
    ) -> None:
        """Called when an output operation of a batch has started."""

    def onOutputOperationCompleted(
        self, outputOperationCompleted: StreamingListenerOutputOperationCompleted
    ) -> None:
        """Called when an output operation of a batch has completed."""


_DISPATCH: dict[type, str] = {
    StreamingListenerStreamingStarted: "onStreamingStarted",
    StreamingListenerReceiverStarted: "onReceiverStarted",
    StreamingListenerReceiverError: "onReceiverError",
    StreamingListenerReceiverStopped: "onReceiverStopped",
    StreamingListenerBatchSubmitted: "onBatchSubmitted",
    StreamingListenerBatchStarted: "onBatchStarted",
    StreamingListenerBatchCompleted: "onBatchCompleted",
    StreamingListenerOutputOperationStarted: "onOutputOperationStarted",
    StreamingListenerOutputOperationCompleted: "onOutputOperationCompleted",
}

_STOP = object()


class ListenerBus:
    """Delivers events to listeners on one thread, in order, off the scheduling path."""

    def __init__(self) -> None:
        self._listeners: list[StreamingListener] = []
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def add_listener(self, listener: StreamingListener) -> None:
        with self._lock:
            self._listeners = [*self._listeners, listener]

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="listener-bus", daemon=True)
        self._thread.start()

    def post(self, event: _Event[Any]) -> None:
        if self._listeners:
            self._queue.put(event)

    def _loop(self) -> None:
        while True:
            event = self._queue.get()
            if event is _STOP:
                return
            method = _DISPATCH[type(event)]
            for listener in self._listeners:
                try:
                    getattr(listener, method)(event)
                except Exception:
                    log.exception("StreamingListener %r failed in %s", listener, method)

    def stop(self) -> None:
        """Deliver what was posted, then stop."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join()
        self._thread = None
