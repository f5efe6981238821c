"""JobScheduler: runs each batch's output jobs in order and reports on them.

Jobs of one batch run one after another on the job thread
(``spark.streaming.concurrentJobs`` = 1, Spark's default), batches in time
order. A job that raises fails its output operation; the error, with the
original traceback text, is reported to the StreamingContext (it surfaces from
``awaitTermination``) and later jobs and batches still run.
"""

from __future__ import annotations

import logging
import queue
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastdstream.clock import to_datetime
from fastdstream.errors import StreamingJobError
from fastdstream.streaming.scheduler.input_info_tracker import InputInfoTracker
from fastdstream.streaming.scheduler.listener import (
    BatchInfo,
    ListenerBus,
    OutputOperationInfo,
    StreamingListenerBatchCompleted,
    StreamingListenerBatchStarted,
    StreamingListenerBatchSubmitted,
    StreamingListenerOutputOperationCompleted,
    StreamingListenerOutputOperationStarted,
    StreamInputInfo,
)

if TYPE_CHECKING:
    from fastdstream.clock import Clock

log = logging.getLogger(__name__)


@dataclass
class Job:
    time_ms: int
    output_op_id: int
    name: str
    func: Callable[[], None]


@dataclass
class JobSet:
    time_ms: int
    jobs: list[Job]
    input_infos: dict[int, StreamInputInfo]
    info: BatchInfo = field(init=False)


_STOP = object()


class JobScheduler:
    def __init__(
        self,
        clock: Clock,
        listener_bus: ListenerBus,
        report_error: Callable[[BaseException], None],
        on_batch_completed: Callable[[int], None],
    ):
        self._clock = clock
        self._bus = listener_bus
        self._report_error = report_error
        self._on_batch_completed = on_batch_completed
        # Input streams report here what they read per batch; the JobGenerator reads it
        # back by batch time (Spark keeps it on the JobScheduler too).
        self.input_info_tracker = InputInfoTracker()
        self._queue: queue.Queue[object] = queue.Queue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="streaming-job-executor",
                                        daemon=True)
        self._thread.start()

    def submit_job_set(self, job_set: JobSet) -> None:
        job_set.info = BatchInfo(
            batch_time=job_set.time_ms,
            stream_id_to_input_info=job_set.input_infos,
            submission_time=self._clock.get_time_ms(),
            output_operation_infos={
                job.output_op_id: OutputOperationInfo(job.time_ms, job.output_op_id, job.name,
                                                      job.name)
                for job in job_set.jobs
            },
        )
        self._bus.post(StreamingListenerBatchSubmitted(job_set.info))
        self._queue.put(job_set)

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            assert isinstance(item, JobSet)
            self._run_job_set(item)

    def _run_job_set(self, job_set: JobSet) -> None:
        info = job_set.info
        info.processing_start_time = self._clock.get_time_ms()
        self._bus.post(StreamingListenerBatchStarted(info))
        for job in job_set.jobs:
            op = info.output_operation_infos[job.output_op_id]
            op.start_time = self._clock.get_time_ms()
            self._bus.post(StreamingListenerOutputOperationStarted(op))
            try:
                job.func()
            except Exception as exc:
                text = "".join(traceback.format_exception(exc))
                op.failure_reason = text
                log.error("Error running job %s of batch %s:\n%s", job.name, job.time_ms, text)
                error = StreamingJobError(
                    f"job of output operation {job.output_op_id} ({job.name}) failed for batch "
                    f"{to_datetime(job.time_ms)} ({job.time_ms} ms):\n{text}",
                    job.time_ms,
                )
                error.__cause__ = exc
                self._report_error(error)
            op.end_time = self._clock.get_time_ms()
            self._bus.post(StreamingListenerOutputOperationCompleted(op))
        info.processing_end_time = self._clock.get_time_ms()
        self._bus.post(StreamingListenerBatchCompleted(info))
        try:
            self._on_batch_completed(job_set.time_ms)
        except Exception:
            log.exception("cleanup after batch %d failed", job_set.time_ms)

    def stop(self, process_queued: bool) -> None:
        if self._thread is None:
            return
        if not process_queued:
            # Drop batches that have not started; the running one finishes.
            dropped: list[int] = []
            try:
                while True:
                    item = self._queue.get_nowait()
                    if isinstance(item, JobSet):
                        dropped.append(item.time_ms)
            except queue.Empty:
                pass
            if dropped:
                log.warning("stopping without processing %d queued batch(es): %s ms",
                            len(dropped), ", ".join(map(str, dropped)))
        self._queue.put(_STOP)
        self._thread.join()
        self._thread = None
