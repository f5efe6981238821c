"""StreamingListener, the batch/receiver/output-operation figures it gets, and the bus.

The events and info objects have PySpark's shape: every figure is a method
(``batchCompleted.batchInfo().processingDelay()``), a batch time is a
:class:`Time` (``batchInfo.batchTime().milliseconds()``), and a time or delay not
known yet is ``-1``, as PySpark's listener objects give them. Each event carries
its own immutable snapshot: the BatchInfo a listener kept from ``onBatchSubmitted``
still shows the batch as it was submitted after the batch completed.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar, Generic, TypeVar

log = logging.getLogger(__name__)

UNKNOWN = -1
"""What a time or delay not known yet reads as (Spark's Java listener API gives -1)."""


def _frozen(value: Any) -> Any:
    """A read-only copy of metadata: lists become tuples, dicts read-only mappings, sets
    frozensets. Other types (an OffsetRange, a named tuple) are kept as they are."""
    kind = type(value)
    if kind is dict or kind is MappingProxyType:
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    if kind is list or kind is tuple:
        return tuple(_frozen(v) for v in value)
    if kind is set:
        return frozenset(value)
    return value


def _plain(value: Any) -> Any:
    """The inverse of :func:`_frozen` for repr and pickling: plain dicts for mappings."""
    if isinstance(value, MappingProxyType):
        return {k: _plain(v) for k, v in value.items()}
    if type(value) is tuple:
        return tuple(_plain(v) for v in value)
    return value


@dataclass(frozen=True, order=True)
class Time:
    """A batch time, as Spark's ``org.apache.spark.streaming.Time`` reaches PySpark.

    Parameters
    ----------
    millis : int
        Milliseconds since the epoch.

    Examples
    --------
    >>> t = Time(1000)
    >>> t.milliseconds(), str(t), Time(1000) < Time(2000)
    (1000, '1000 ms', True)
    """

    _millis: int

    def milliseconds(self) -> int:
        """The time in milliseconds since the epoch.

        Returns
        -------
        int
        """
        return self._millis

    def __str__(self) -> str:
        return f"{self._millis} ms"

    def __repr__(self) -> str:
        return f"Time({self._millis})"


def _as_time(value: Time | int) -> Time:
    return value if isinstance(value, Time) else Time(int(value))


def _read_only(mapping: Mapping[Any, Any]) -> Mapping[Any, Any]:
    # A read-only view is taken as it is: the scheduler hands every snapshot of a batch
    # the same view of input infos it never changes, instead of a copy per event.
    return mapping if isinstance(mapping, MappingProxyType) else MappingProxyType(dict(mapping))


@dataclass(frozen=True, init=False)
class StreamInputInfo:
    """What one input stream read for one batch: its record count and metadata.

    ``metadata`` holds what the source can say about the batch (Kafka: ``"offsets"``,
    the batch's OffsetRanges; files: ``"files"``; receivers: ``"blocks"``), and under
    :attr:`METADATA_KEY_DESCRIPTION` a text for people to read, as in Spark. It is
    read-only: lists in it become tuples.

    Parameters
    ----------
    inputStreamId : int
        The id of the input stream.
    numRecords : int
        Records the stream read for the batch; not negative.
    metadata : mapping of str to object, optional
        What the source says about the batch.

    Examples
    --------
    >>> info = StreamInputInfo(0, 3, {StreamInputInfo.METADATA_KEY_DESCRIPTION: "a.txt"})
    >>> info.inputStreamId(), info.numRecords(), info.metadataDescription()
    (0, 3, 'a.txt')
    """

    METADATA_KEY_DESCRIPTION: ClassVar[str] = "Description"

    _input_stream_id: int
    _num_records: int
    _metadata: Mapping[str, Any]

    def __init__(self, inputStreamId: int, numRecords: int,
                 metadata: Mapping[str, Any] | None = None):
        if numRecords < 0:
            raise ValueError(f"numRecords must not be negative, got {numRecords} "
                             f"(input stream {inputStreamId})")
        # Fields are set once, past the frozen __setattr__ (as dataclass's own __init__).
        self.__dict__.update(_input_stream_id=inputStreamId, _num_records=numRecords,
                             _metadata=_frozen(metadata or {}))

    def inputStreamId(self) -> int:
        """The id of the input stream this info is about.

        Returns
        -------
        int
        """
        return self._input_stream_id

    def numRecords(self) -> int:
        """Records the stream read for the batch.

        Returns
        -------
        int
        """
        return self._num_records

    def metadata(self) -> Mapping[str, Any]:
        """What the source said about the batch (read-only).

        Returns
        -------
        mapping of str to object
        """
        return self._metadata

    def metadataDescription(self) -> str | None:
        """The description a source gave of this batch's input, if any.

        Returns
        -------
        str or None
            The metadata's ``"Description"`` entry as text; None without one (Spark's
            null).
        """
        description = self._metadata.get(self.METADATA_KEY_DESCRIPTION)
        return None if description is None else str(description)

    def __reduce__(self) -> tuple[Any, ...]:
        return (StreamInputInfo, (self._input_stream_id, self._num_records,
                                  _plain(self._metadata)))

    def __repr__(self) -> str:
        return (f"StreamInputInfo(inputStreamId={self._input_stream_id}, "
                f"numRecords={self._num_records}, metadata={_plain(self._metadata)!r})")


@dataclass(frozen=True, init=False)
class OutputOperationInfo:
    """One output operation (``foreachRDD``, ``pprint``, ...) of one batch.

    Parameters
    ----------
    batchTime : Time or int
        The batch's time (an int is milliseconds).
    id : int
        The output operation's id, unique within a batch.
    name, description : str
        What the operation is, short and long.
    startTime, endTime : int, optional
        Clock times (ms) it started and ended; -1 until then.
    failureReason : str, optional
        The error, with its traceback text, if the operation failed.

    Examples
    --------
    >>> op = OutputOperationInfo(1000, 0, "foreachRDD", "foreachRDD", 1002, 1010)
    >>> op.batchTime().milliseconds(), op.id(), op.duration(), op.failureReason()
    (1000, 0, 8, None)
    >>> OutputOperationInfo(1000, 0, "pprint", "pprint").endTime()
    -1
    """

    _batch_time: Time
    _id: int
    _name: str
    _description: str
    _start_time: int
    _end_time: int
    _failure_reason: str | None

    def __init__(self, batchTime: Time | int, id: int, name: str, description: str,
                 startTime: int = UNKNOWN, endTime: int = UNKNOWN,
                 failureReason: str | None = None):
        self.__dict__.update(_batch_time=_as_time(batchTime), _id=id, _name=name,
                             _description=description, _start_time=startTime,
                             _end_time=endTime, _failure_reason=failureReason)

    def batchTime(self) -> Time:
        """The time of the batch this operation belongs to.

        Returns
        -------
        Time
        """
        return self._batch_time

    def id(self) -> int:
        """The output operation's id; different operations of a batch have different ids.

        Returns
        -------
        int
        """
        return self._id

    def name(self) -> str:
        """The operation's name.

        Returns
        -------
        str
        """
        return self._name

    def description(self) -> str:
        """The operation's description.

        Returns
        -------
        str
        """
        return self._description

    def startTime(self) -> int:
        """Clock time (ms) the operation started.

        Returns
        -------
        int
            -1 if it has not started.
        """
        return self._start_time

    def endTime(self) -> int:
        """Clock time (ms) the operation ended.

        Returns
        -------
        int
            -1 if it has not ended.
        """
        return self._end_time

    def failureReason(self) -> str | None:
        """Why the operation failed: the error with its traceback text.

        Returns
        -------
        str or None
            None if it did not fail (Spark's null).
        """
        return self._failure_reason

    def duration(self) -> int:
        """How long the operation ran, in ms.

        Returns
        -------
        int
            ``endTime() - startTime()``; -1 until it has ended.
        """
        if self._start_time < 0 or self._end_time < 0:
            return UNKNOWN
        return self._end_time - self._start_time

    def __repr__(self) -> str:
        return (f"OutputOperationInfo(batchTime={self._batch_time!r}, id={self._id}, "
                f"name={self._name!r}, description={self._description!r}, "
                f"startTime={self._start_time}, endTime={self._end_time}, "
                f"failureReason={self._failure_reason!r})")


@dataclass(frozen=True, init=False)
class BatchInfo:
    """The figures of one batch: what users watch to see whether a stream keeps up.

    Parameters
    ----------
    batchTime : Time or int
        The batch's time (an int is milliseconds).
    streamIdToInputInfo : mapping of int to StreamInputInfo
        What each input stream read for the batch.
    submissionTime : int
        Clock time (ms) the batch's jobs were submitted.
    processingStartTime, processingEndTime : int, optional
        Clock times (ms) its first job started and its last job ended; -1 until then.
    outputOperationInfos : mapping of int to OutputOperationInfo, optional
        The batch's output operations, by id.

    Examples
    --------
    >>> info = BatchInfo(1000, {0: StreamInputInfo(0, 5)}, 1001, 1003, 1010)
    >>> info.batchTime().milliseconds(), info.numRecords()
    (1000, 5)
    >>> info.schedulingDelay(), info.processingDelay(), info.totalDelay()
    (2, 7, 9)
    >>> BatchInfo(1000, {}, 1001).processingDelay()
    -1
    """

    _batch_time: Time
    _stream_id_to_input_info: Mapping[int, StreamInputInfo]
    _submission_time: int
    _processing_start_time: int
    _processing_end_time: int
    _output_operation_infos: Mapping[int, OutputOperationInfo]

    def __init__(self, batchTime: Time | int,
                 streamIdToInputInfo: Mapping[int, StreamInputInfo], submissionTime: int,
                 processingStartTime: int = UNKNOWN, processingEndTime: int = UNKNOWN,
                 outputOperationInfos: Mapping[int, OutputOperationInfo] | None = None):
        self.__dict__.update(
            _batch_time=_as_time(batchTime),
            _stream_id_to_input_info=_read_only(streamIdToInputInfo),
            _submission_time=submissionTime, _processing_start_time=processingStartTime,
            _processing_end_time=processingEndTime,
            _output_operation_infos=MappingProxyType(dict(outputOperationInfos or {})))

    def batchTime(self) -> Time:
        """The batch's time.

        Returns
        -------
        Time
            ``batchTime().milliseconds()`` is milliseconds since the epoch.
        """
        return self._batch_time

    def streamIdToInputInfo(self) -> Mapping[int, StreamInputInfo]:
        """What each input stream read for the batch, by stream id (read-only).

        Returns
        -------
        mapping of int to StreamInputInfo
            Streams that report no input info (``queueStream``, as in Spark) are absent.
        """
        return self._stream_id_to_input_info

    def submissionTime(self) -> int:
        """Clock time (ms) the batch's jobs were submitted to the job scheduler.

        Returns
        -------
        int
        """
        return self._submission_time

    def processingStartTime(self) -> int:
        """Clock time (ms) the batch's first job started.

        Returns
        -------
        int
            -1 if the batch has not started.
        """
        return self._processing_start_time

    def processingEndTime(self) -> int:
        """Clock time (ms) the batch's last job ended.

        Returns
        -------
        int
            -1 if the batch has not completed.
        """
        return self._processing_end_time

    def numRecords(self) -> int:
        """Records the batch's input streams read, all streams together.

        Returns
        -------
        int
        """
        return sum(i.numRecords() for i in self._stream_id_to_input_info.values())

    def schedulingDelay(self) -> int:
        """Time (ms) from the submission of the batch's jobs to the start of its first job.

        Returns
        -------
        int
            -1 if the batch has not started.
        """
        if self._processing_start_time < 0:
            return UNKNOWN
        return self._processing_start_time - self._submission_time

    def processingDelay(self) -> int:
        """Time (ms) the batch's jobs took, from the first one's start to the last one's end.

        Returns
        -------
        int
            -1 if the batch has not completed.
        """
        if self._processing_start_time < 0 or self._processing_end_time < 0:
            return UNKNOWN
        return self._processing_end_time - self._processing_start_time

    def totalDelay(self) -> int:
        """Scheduling delay plus processing delay, in ms.

        Returns
        -------
        int
            -1 if the batch has not completed.
        """
        scheduling, processing = self.schedulingDelay(), self.processingDelay()
        if scheduling < 0 or processing < 0:
            return UNKNOWN
        return scheduling + processing

    def outputOperationInfos(self) -> Mapping[int, OutputOperationInfo]:
        """The batch's output operations, by id (read-only).

        Returns
        -------
        mapping of int to OutputOperationInfo
        """
        return self._output_operation_infos

    def __reduce__(self) -> tuple[Any, ...]:
        return (BatchInfo, (self._batch_time, dict(self._stream_id_to_input_info),
                            self._submission_time, self._processing_start_time,
                            self._processing_end_time, dict(self._output_operation_infos)))

    def __repr__(self) -> str:
        return (f"BatchInfo(batchTime={self._batch_time!r}, "
                f"streamIdToInputInfo={dict(self._stream_id_to_input_info)!r}, "
                f"submissionTime={self._submission_time}, "
                f"processingStartTime={self._processing_start_time}, "
                f"processingEndTime={self._processing_end_time}, "
                f"outputOperationInfos={dict(self._output_operation_infos)!r})")


DRIVER_HOST = socket.gethostname()
"""Where receivers run on ``local[N]`` (or on a manual clock): on the driver. On
``local-cluster`` and Ray they run on executors, as in Spark."""

DRIVER_EXECUTOR_ID = "driver"
"""The executor id of the driver, as Spark names it."""


@dataclass(frozen=True, init=False)
class ReceiverInfo:
    """One receiver: its stream, whether it runs, where, and its last error.

    Parameters
    ----------
    streamId : int
        The id of the receiver's input stream.
    name : str
        The receiver's name.
    active : bool
        Whether it is running.
    location : str
        The host it runs on.
    executorId : str
        The executor it runs on (``"driver"`` where receivers run in the driver).
    lastErrorMessage, lastError : str, optional
        The message and error text it last reported; empty if none.
    lastErrorTime : int, optional
        Clock time (ms) of that error; -1 if none.

    Examples
    --------
    >>> info = ReceiverInfo(0, "SocketReceiver", True, "host-1", "driver")
    >>> info.streamId(), info.active(), info.lastErrorMessage(), info.lastErrorTime()
    (0, True, '', -1)
    """

    _stream_id: int
    _name: str
    _active: bool
    _location: str
    _executor_id: str
    _last_error_message: str
    _last_error: str
    _last_error_time: int

    def __init__(self, streamId: int, name: str, active: bool, location: str,
                 executorId: str, lastErrorMessage: str = "", lastError: str = "",
                 lastErrorTime: int = UNKNOWN):
        self.__dict__.update(_stream_id=streamId, _name=name, _active=active,
                             _location=location, _executor_id=executorId,
                             _last_error_message=lastErrorMessage, _last_error=lastError,
                             _last_error_time=lastErrorTime)

    def streamId(self) -> int:
        """The id of the receiver's input stream.

        Returns
        -------
        int
        """
        return self._stream_id

    def name(self) -> str:
        """The receiver's name.

        Returns
        -------
        str
        """
        return self._name

    def active(self) -> bool:
        """Whether the receiver is running.

        Returns
        -------
        bool
        """
        return self._active

    def location(self) -> str:
        """The host the receiver runs on.

        Returns
        -------
        str
        """
        return self._location

    def executorId(self) -> str:
        """The executor the receiver runs on.

        Returns
        -------
        str
            The executor's id; ``"driver"`` on ``local[N]``, where receivers run
            in the driver.
        """
        return self._executor_id

    def lastErrorMessage(self) -> str:
        """The message of the error the receiver last reported.

        Returns
        -------
        str
            Empty if it reported none.
        """
        return self._last_error_message

    def lastError(self) -> str:
        """The error (with its traceback text) the receiver last reported.

        Returns
        -------
        str
            Empty if it reported none.
        """
        return self._last_error

    def lastErrorTime(self) -> int:
        """Clock time (ms) of the error the receiver last reported.

        Returns
        -------
        int
            -1 if it reported none.
        """
        return self._last_error_time

    def __repr__(self) -> str:
        return (f"ReceiverInfo(streamId={self._stream_id}, name={self._name!r}, "
                f"active={self._active}, location={self._location!r}, "
                f"executorId={self._executor_id!r}, "
                f"lastErrorMessage={self._last_error_message!r}, "
                f"lastError={self._last_error!r}, lastErrorTime={self._last_error_time})")


_P = TypeVar("_P")


class _Event(Generic[_P]):
    """A listener event: one immutable payload, read through PySpark's accessor."""

    __slots__ = ("_payload",)
    _payload: _P

    def __init__(self, payload: _P):
        object.__setattr__(self, "_payload", payload)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._payload!r})"


class StreamingListenerStreamingStarted(_Event[int]):
    """The streaming context started."""

    __slots__ = ()

    def time(self) -> int:
        """Clock time (ms) the streaming context started.

        Returns
        -------
        int
        """
        return self._payload


class _ReceiverEvent(_Event[ReceiverInfo]):
    __slots__ = ()

    def receiverInfo(self) -> ReceiverInfo:
        """The receiver, as it was when the event happened.

        Returns
        -------
        ReceiverInfo
        """
        return self._payload


class StreamingListenerReceiverStarted(_ReceiverEvent):
    """A receiver started."""

    __slots__ = ()


class StreamingListenerReceiverError(_ReceiverEvent):
    """A receiver reported an error."""

    __slots__ = ()


class StreamingListenerReceiverStopped(_ReceiverEvent):
    """A receiver stopped."""

    __slots__ = ()


class _BatchEvent(_Event[BatchInfo]):
    __slots__ = ()

    def batchInfo(self) -> BatchInfo:
        """The batch, as it was when the event happened.

        Returns
        -------
        BatchInfo
        """
        return self._payload


class StreamingListenerBatchSubmitted(_BatchEvent):
    """A batch's jobs were submitted for processing."""

    __slots__ = ()


class StreamingListenerBatchStarted(_BatchEvent):
    """A batch's first job started."""

    __slots__ = ()


class StreamingListenerBatchCompleted(_BatchEvent):
    """A batch's last job ended."""

    __slots__ = ()


class _OutputEvent(_Event[OutputOperationInfo]):
    __slots__ = ()

    def outputOperationInfo(self) -> OutputOperationInfo:
        """The output operation, as it was when the event happened.

        Returns
        -------
        OutputOperationInfo
        """
        return self._payload


class StreamingListenerOutputOperationStarted(_OutputEvent):
    """An output operation of a batch started."""

    __slots__ = ()


class StreamingListenerOutputOperationCompleted(_OutputEvent):
    """An output operation of a batch ended."""

    __slots__ = ()


class StreamingListener:
    """Override the callbacks of interest; each is called on the listener bus thread.

    Callbacks get PySpark's events, in order, one at a time; a callback that raises is
    logged and the others still run. Each event's info object is its own immutable
    snapshot, so a listener may keep it.

    Examples
    --------
    >>> class Delays(StreamingListener):
    ...     def onBatchCompleted(self, batchCompleted):
    ...         print(batchCompleted.batchInfo().processingDelay())
    """

    def onStreamingStarted(self, streamingStarted: StreamingListenerStreamingStarted) -> None:
        """Called when the streaming context has started.

        Parameters
        ----------
        streamingStarted : StreamingListenerStreamingStarted
            ``streamingStarted.time()`` is the clock time (ms) it started.
        """

    def onReceiverStarted(self, receiverStarted: StreamingListenerReceiverStarted) -> None:
        """Called when a receiver has started.

        Parameters
        ----------
        receiverStarted : StreamingListenerReceiverStarted
            ``receiverStarted.receiverInfo()`` is the receiver.
        """

    def onReceiverError(self, receiverError: StreamingListenerReceiverError) -> None:
        """Called when a receiver has reported an error.

        Parameters
        ----------
        receiverError : StreamingListenerReceiverError
            ``receiverError.receiverInfo().lastErrorMessage()`` says what went wrong.
        """

    def onReceiverStopped(self, receiverStopped: StreamingListenerReceiverStopped) -> None:
        """Called when a receiver has stopped.

        Parameters
        ----------
        receiverStopped : StreamingListenerReceiverStopped
            ``receiverStopped.receiverInfo()`` is the receiver, no longer active.
        """

    def onBatchSubmitted(self, batchSubmitted: StreamingListenerBatchSubmitted) -> None:
        """Called when a batch's jobs have been submitted for processing.

        Parameters
        ----------
        batchSubmitted : StreamingListenerBatchSubmitted
            ``batchSubmitted.batchInfo()`` is the batch, its processing times -1.
        """

    def onBatchStarted(self, batchStarted: StreamingListenerBatchStarted) -> None:
        """Called when the processing of a batch has started.

        Parameters
        ----------
        batchStarted : StreamingListenerBatchStarted
            ``batchStarted.batchInfo()`` is the batch, its scheduling delay known.
        """

    def onBatchCompleted(self, batchCompleted: StreamingListenerBatchCompleted) -> None:
        """Called when the processing of a batch has completed.

        Parameters
        ----------
        batchCompleted : StreamingListenerBatchCompleted
            ``batchCompleted.batchInfo()`` is the batch with all its delays.
        """

    def onOutputOperationStarted(
        self, outputOperationStarted: StreamingListenerOutputOperationStarted
    ) -> None:
        """Called when an output operation of a batch has started.

        Parameters
        ----------
        outputOperationStarted : StreamingListenerOutputOperationStarted
            ``outputOperationStarted.outputOperationInfo()`` is the operation.
        """

    def onOutputOperationCompleted(
        self, outputOperationCompleted: StreamingListenerOutputOperationCompleted
    ) -> None:
        """Called when an output operation of a batch has completed (or failed).

        Parameters
        ----------
        outputOperationCompleted : StreamingListenerOutputOperationCompleted
            ``outputOperationCompleted.outputOperationInfo().failureReason()`` is None
            unless it failed.
        """


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
        # SimpleQueue: put and get in C, a waiter woken without a Python Condition --
        # five events a batch, 500 a second at 10 ms batches.
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def add_listener(self, listener: StreamingListener) -> None:
        """Deliver later events to ``listener`` too.

        Parameters
        ----------
        listener : StreamingListener
        """
        with self._lock:
            self._listeners = [*self._listeners, listener]

    def start(self) -> None:
        """Start the thread that delivers events."""
        self._thread = threading.Thread(target=self._loop, name="listener-bus", daemon=True)
        self._thread.start()

    def is_current_thread(self) -> bool:
        """Whether the caller runs on the bus thread (inside a listener callback)."""
        return self._thread is not None and self._thread is threading.current_thread()

    def has_listeners(self) -> bool:
        """Whether any listener would get an event (so that it is worth building).

        Returns
        -------
        bool
        """
        return bool(self._listeners)

    def post(self, event: _Event[Any]) -> None:
        """Queue ``event`` for the listeners (dropped if there are none).

        Parameters
        ----------
        event : a StreamingListener event
        """
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
