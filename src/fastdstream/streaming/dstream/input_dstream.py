"""InputDStream: the base of every source stream."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastdstream.streaming.dstream.dstream import DStream
from fastdstream.streaming.scheduler.listener import StreamInputInfo

if TYPE_CHECKING:
    from fastdstream.streaming.streaming_context import StreamingContext


class InputDStream(DStream):
    """A stream with no parents: sources (queue, socket, files, Kafka)."""

    def __init__(self, ssc: StreamingContext):
        super().__init__(ssc, ())
        self._graph.add_input_stream(self)

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def prepare_batch(self, time_ms: int) -> None:
        """Called by the JobGenerator before it generates the jobs of ``time_ms``, outside
        the locks that computing a stream holds: a source that asks a server where the
        batch ends (Kafka's latest offsets) asks here. Nothing by default."""

    def batch_submitted(self, time_ms: int) -> None:
        """Called by the JobGenerator once the jobs of ``time_ms`` are submitted: work for
        later batches that would otherwise delay a batch between its time and its jobs
        (Kafka's partition metadata) is done here. Nothing by default."""

    def _report_input_info(self, time_ms: int, num_records: int,
                           metadata: dict[str, Any] | None = None) -> None:
        """Tell the InputInfoTracker what this stream read for the batch of ``time_ms``.

        Called from ``_compute``: the report is keyed by the batch computed, so a batch
        computed out of order (a window, ``slice``, a recovery) keeps its own count.
        """
        self._ssc._job_scheduler.input_info_tracker.report_info(
            time_ms, StreamInputInfo(self._id, num_records, metadata or {}))
