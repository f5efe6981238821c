"""What the status page, its JSON API and ``/metrics`` show: a listener that keeps the
recent batches, receivers and Kafka offset ranges (Spark's StreamingJobProgressListener).

Every figure comes from the listener bus, so the page shows what a user's own
``StreamingListener`` would see; nothing here reaches into the scheduler. Snapshots are
plain dicts in the shape of Spark's REST API (``/api/v1/.../streaming/...``), built under
one lock so a reader never sees a batch half updated.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from fastdstream.streaming.scheduler.listener import (
    UNKNOWN,
    BatchInfo,
    ReceiverInfo,
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

RETAINED_BATCHES = "spark.streaming.ui.retainedBatches"
"""How many completed batches the page keeps (Spark's setting, default 1000)."""


@dataclass
class _Batch:
    info: BatchInfo
    status: str  # QUEUED, PROCESSING, COMPLETED (Spark's BatchStatus)
    outputs: dict[int, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class InputStreamView:
    """What the page says about one input stream, beyond its batches' figures."""

    stream_id: int
    name: str
    rate: Callable[[], float | None] | None = None
    """The rate the stream may read now (records/s): backpressure's estimate, and for a
    receiver its limit (maxRate and backpressure); None while unlimited or not known."""
    buffered_bytes: Callable[[], int | None] | None = None
    """A receiver's bytes stored and not yet released by finished batches."""


@dataclass(frozen=True)
class OutputView:
    """One output operation and how each step of its pipeline runs (``DStream.explain``)."""

    output_id: int
    name: str
    explain: str


def iso_time(ms: int) -> str:
    """Spark's REST API date format: ``2026-11-29T23:05:46.123GMT``."""
    stamp = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}GMT"


class StreamingStatistics(StreamingListener):
    """The state of a running StreamingContext as its listener bus reports it.

    Parameters
    ----------
    app_id, app_name : str
    batch_duration_ms : int
    inputs, outputs : iterable
        The graph's input streams and output operations, for names, rates and explain.
    retained_batches : int
        Completed batches kept (older ones drop from the page, not from the totals).
    """

    def __init__(self, app_id: str, app_name: str, batch_duration_ms: int,
                 inputs: Iterable[InputStreamView] = (),
                 outputs: Iterable[OutputView] = (), retained_batches: int = 1000):
        if retained_batches <= 0:
            raise ValueError(f"{RETAINED_BATCHES} must be positive, got {retained_batches}")
        self.app_id = app_id
        self.app_name = app_name
        self.batch_duration_ms = batch_duration_ms
        self.inputs = {view.stream_id: view for view in inputs}
        self.outputs = list(outputs)
        self._retained = retained_batches
        self._lock = threading.Lock()
        self._start_time = int(time.time() * 1000)
        self._batches: OrderedDict[int, _Batch] = OrderedDict()  # by batch time
        self._completed_total = 0
        self._failed_batches_total = 0
        self._failed_outputs_total = 0
        self._processed_records = 0
        self._received_records = 0
        self._received_by_stream: dict[int, int] = {}
        self._receivers: dict[int, ReceiverInfo] = {}
        self._latest_offsets: dict[tuple[str, int], int] = {}

    # --- listener ---------------------------------------------------------------------

    def onStreamingStarted(self, streamingStarted: StreamingListenerStreamingStarted) -> None:
        with self._lock:
            self._start_time = streamingStarted.time()

    def onReceiverStarted(self, receiverStarted: StreamingListenerReceiverStarted) -> None:
        self._receiver(receiverStarted.receiverInfo())

    def onReceiverError(self, receiverError: StreamingListenerReceiverError) -> None:
        self._receiver(receiverError.receiverInfo())

    def onReceiverStopped(self, receiverStopped: StreamingListenerReceiverStopped) -> None:
        self._receiver(receiverStopped.receiverInfo())

    def _receiver(self, info: ReceiverInfo) -> None:
        with self._lock:
            self._receivers[info.streamId()] = info

    def onBatchSubmitted(self, batchSubmitted: StreamingListenerBatchSubmitted) -> None:
        info = batchSubmitted.batchInfo()
        with self._lock:
            self._batches[info.batchTime().milliseconds()] = _Batch(info, "QUEUED")
            self._received_records += info.numRecords()
            for stream_id, stream in info.streamIdToInputInfo().items():
                self._received_by_stream[stream_id] = (
                    self._received_by_stream.get(stream_id, 0) + stream.numRecords())
                latest = stream.metadata().get("latestOffsets")
                if latest:
                    for key, offset in latest.items():
                        topic, _, partition = str(key).rpartition("/")
                        self._latest_offsets[(topic, int(partition))] = int(offset)

    def onBatchStarted(self, batchStarted: StreamingListenerBatchStarted) -> None:
        info = batchStarted.batchInfo()
        with self._lock:
            batch = self._batches.get(info.batchTime().milliseconds())
            if batch is not None:
                batch.info, batch.status = info, "PROCESSING"

    def onOutputOperationStarted(
            self, outputOperationStarted: StreamingListenerOutputOperationStarted) -> None:
        self._output(outputOperationStarted.outputOperationInfo())

    def onOutputOperationCompleted(
            self, outputOperationCompleted: StreamingListenerOutputOperationCompleted) -> None:
        self._output(outputOperationCompleted.outputOperationInfo())

    def _output(self, info: Any) -> None:
        with self._lock:
            batch = self._batches.get(info.batchTime().milliseconds())
            if batch is None:
                return
            failure = info.failureReason()
            end = info.endTime()
            batch.outputs[info.id()] = {
                "outputOpId": info.id(),
                "name": info.name(),
                "description": info.description(),
                "startTime": iso_time(info.startTime()) if info.startTime() >= 0 else None,
                "endTime": iso_time(end) if end >= 0 else None,
                "duration": info.duration() if end >= 0 else None,
                "failureReason": failure,
            }

    def onBatchCompleted(self, batchCompleted: StreamingListenerBatchCompleted) -> None:
        info = batchCompleted.batchInfo()
        time_ms = info.batchTime().milliseconds()
        with self._lock:
            batch = self._batches.pop(time_ms, None) or _Batch(info, "COMPLETED")
            batch.info, batch.status = info, "COMPLETED"
            for output in info.outputOperationInfos().values():
                batch.outputs.setdefault(output.id(), {}).update(
                    outputOpId=output.id(), name=output.name(),
                    description=output.description(),
                    duration=output.duration() if output.endTime() >= 0 else None,
                    failureReason=output.failureReason())
            self._batches[time_ms] = batch  # completed batches kept in time order at the end
            self._completed_total += 1
            self._processed_records += info.numRecords()
            failed = sum(1 for o in batch.outputs.values() if o.get("failureReason"))
            self._failed_outputs_total += failed
            self._failed_batches_total += failed > 0
            completed = [t for t, b in self._batches.items() if b.status == "COMPLETED"]
            for old in completed[:max(0, len(completed) - self._retained)]:
                del self._batches[old]

    # --- snapshots (Spark's REST API shapes) ---------------------------------------------

    def _batch_json(self, batch: _Batch) -> dict[str, Any]:
        info = batch.info
        outputs = sorted(batch.outputs.values(), key=lambda o: o["outputOpId"])
        failures = [o["failureReason"] for o in outputs if o.get("failureReason")]
        done = sum(1 for o in outputs if o.get("duration") is not None)

        def known(value: int) -> int | None:
            return None if value == UNKNOWN else value

        streams = []
        for stream_id, stream in sorted(info.streamIdToInputInfo().items()):
            ranges = [
                {"topic": r.topic, "partition": r.partition, "fromOffset": r.fromOffset,
                 "untilOffset": r.untilOffset}
                for r in stream.metadata().get("offsets", ())
            ]
            streams.append({"streamId": stream_id, "numRecords": stream.numRecords(),
                            "description": stream.metadataDescription(),
                            "offsetRanges": ranges})
        return {
            "batchId": info.batchTime().milliseconds(),
            "batchTime": iso_time(info.batchTime().milliseconds()),
            "status": batch.status,
            "batchDuration": self.batch_duration_ms,
            "inputSize": info.numRecords(),
            "schedulingDelay": known(info.schedulingDelay()),
            "processingTime": known(info.processingDelay()),
            "totalDelay": known(info.totalDelay()),
            "numActiveOutputOps": len(outputs) - done,
            "numCompletedOutputOps": done - len(failures),
            "numFailedOutputOps": len(failures),
            "numTotalOutputOps": len(outputs),
            "firstFailureReason": failures[0] if failures else None,
            "inputStreams": streams,
            "outputOperations": outputs,
        }

    def batches(self) -> list[dict[str, Any]]:
        """Every retained batch, newest first (``/streaming/batches``)."""
        with self._lock:
            return [self._batch_json(b) for b in reversed(self._batches.values())]

    def batch(self, batch_id: int) -> dict[str, Any] | None:
        """One batch by its time in ms (``/streaming/batches/<batchId>``)."""
        with self._lock:
            found = self._batches.get(batch_id)
            return None if found is None else self._batch_json(found)

    def statistics(self) -> dict[str, Any]:
        """Totals and averages over the retained batches (``/streaming/statistics``)."""
        with self._lock:
            completed = [b.info for b in self._batches.values() if b.status == "COMPLETED"]
            active = sum(1 for b in self._batches.values() if b.status != "COMPLETED")
            receivers = list(self._receivers.values())
            totals = (self._completed_total, self._processed_records,
                      self._received_records, self._failed_batches_total,
                      self._failed_outputs_total)

        def average(values: list[int]) -> float | None:
            values = [v for v in values if v != UNKNOWN]
            return sum(values) / len(values) if values else None

        span_s = len(completed) * self.batch_duration_ms / 1000
        return {
            "startTime": iso_time(self._start_time),
            "batchDuration": self.batch_duration_ms,
            "numReceivers": len(receivers),
            "numActiveReceivers": sum(1 for r in receivers if r.active()),
            "numInactiveReceivers": sum(1 for r in receivers if not r.active()),
            "numTotalCompletedBatches": totals[0],
            "numRetainedCompletedBatches": len(completed),
            "numActiveBatches": active,
            "numProcessedRecords": totals[1],
            "numReceivedRecords": totals[2],
            "numFailedBatches": totals[3],
            "numFailedOutputOps": totals[4],
            "avgInputRate": (sum(i.numRecords() for i in completed) / span_s
                             if span_s else None),
            "avgSchedulingDelay": average([i.schedulingDelay() for i in completed]),
            "avgProcessingTime": average([i.processingDelay() for i in completed]),
            "avgTotalDelay": average([i.totalDelay() for i in completed]),
        }

    def receivers(self) -> list[dict[str, Any]]:
        """Each receiver's state, rate and last error (``/streaming/receivers``)."""
        with self._lock:
            receivers = sorted(self._receivers.values(), key=lambda r: r.streamId())
            received = dict(self._received_by_stream)
            recent = [b.info for b in self._batches.values() if b.status == "COMPLETED"][-10:]
        span_s = len(recent) * self.batch_duration_ms / 1000
        out = []
        for r in receivers:
            recent_records = sum(i.streamIdToInputInfo()[r.streamId()].numRecords()
                                 for i in recent if r.streamId() in i.streamIdToInputInfo())
            out.append({
                "streamId": r.streamId(),
                "streamName": r.name(),
                "isActive": r.active(),
                "executorId": r.executorId(),
                "executorHost": r.location(),
                "lastErrorTime": (iso_time(r.lastErrorTime())
                                  if r.lastErrorTime() != UNKNOWN else None),
                "lastErrorMessage": r.lastErrorMessage() or None,
                "lastError": r.lastError() or None,
                "avgEventRate": recent_records / span_s if span_s else None,
                "numRecords": received.get(r.streamId(), 0),
            })
        return out

    def inputs_json(self) -> list[dict[str, Any]]:
        """Input streams with their backpressure rate and, for Kafka, each partition's last
        offset range and its lag behind the latest offset the stream saw."""
        with self._lock:
            latest = dict(self._latest_offsets)
            last_ranges: dict[int, list[Any]] = {}
            for batch in self._batches.values():  # oldest to newest: the last one wins
                for stream_id, stream in batch.info.streamIdToInputInfo().items():
                    ranges = stream.metadata().get("offsets")
                    if ranges:
                        last_ranges[stream_id] = list(ranges)
        out = []
        for stream_id, view in sorted(self.inputs.items()):
            rate = view.rate() if view.rate is not None else None
            buffered = view.buffered_bytes() if view.buffered_bytes is not None else None
            partitions = []
            for r in last_ranges.get(stream_id, ()):
                high = latest.get((r.topic, r.partition))
                partitions.append({
                    "topic": r.topic, "partition": r.partition,
                    "fromOffset": r.fromOffset, "untilOffset": r.untilOffset,
                    "latestOffset": high,
                    "lag": None if high is None else max(0, high - r.untilOffset),
                })
            out.append({"streamId": stream_id, "name": view.name,
                        "backpressureRate": rate, "bufferedBytes": buffered,
                        "kafkaPartitions": partitions})
        return out

    def outputs_json(self) -> list[dict[str, Any]]:
        """Each output operation and which of its steps run columnar."""
        return [{"outputOpId": o.output_id, "name": o.name, "explain": o.explain}
                for o in self.outputs]
