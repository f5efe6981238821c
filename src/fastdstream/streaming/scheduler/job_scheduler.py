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
from types import MappingProxyType
from typing import TYPE_CHECKING, TypeVar

from fastdstream.clock import batch_time_text
from fastdstream.errors import StreamingJobError
from fastdstream.streaming.scheduler.input_info_tracker import InputInfoTracker
from fastdstream.streaming.scheduler.listener import (
    UNKNOWN,
    BatchInfo,
    ListenerBus,
    OutputOperationInfo,
    StreamingListenerBatchCompleted,
    StreamingListenerBatchStarted,
    StreamingListenerBatchSubmitted,
    StreamingListenerOutputOperationCompleted,
    StreamingListenerOutputOperationStarted,
    StreamInputInfo,
    Time,
    _Event,
)

if TYPE_CHECKING:
    from fastdstream.clock import Clock

log = logging.getLogger(__name__)

_T = TypeVar("_T")


@dataclass
class Job:
    time_ms: int
    output_op_id: int
    name: str
    func: Callable[[], None]
    start_time: int = UNKNOWN
    end_time: int = UNKNOWN
    failure_reason: str | None = None
    _info: OutputOperationInfo | None = field(default=None, init=False, repr=False)

    def started(self, time_ms: int) -> None:
        """Record that the job started.

        Parameters
        ----------
        time_ms : int
            Clock time it started.
        """
        self.start_time, self._info = time_ms, None

    def ended(self, time_ms: int, failure_reason: str | None) -> None:
        """Record that the job ended.

        Parameters
        ----------
        time_ms : int
            Clock time it ended.
        failure_reason : str or None
            The error with its traceback text if it failed.
        """
        self.end_time, self.failure_reason, self._info = time_ms, failure_reason, None

    def info(self) -> OutputOperationInfo:
        """A snapshot of this output operation now, for listener events.

        Immutable, so it is shared until the operation changes: the batch's snapshots
        and the operation's own events hold the same object.
        """
        if self._info is None:
            self._info = OutputOperationInfo(
                Time(self.time_ms), self.output_op_id, self.name, self.name,
                self.start_time, self.end_time, self.failure_reason)
        return self._info


@dataclass
class JobSet:
    """A batch's jobs and its progress; the scheduler's own, changed as the batch runs.

    Listeners never see this: every event gets a new immutable snapshot
    (:meth:`batch_info`), as Spark's ``JobSet.toBatchInfo`` makes one per event.
    """

    time_ms: int
    jobs: list[Job]
    input_infos: dict[int, StreamInputInfo]
    submission_time: int = UNKNOWN
    processing_start_time: int = UNKNOWN
    processing_end_time: int = UNKNOWN

    def __post_init__(self) -> None:
        # What no event changes is made once per batch, not once per snapshot.
        self._time = Time(self.time_ms)
        self._inputs = MappingProxyType(dict(self.input_infos))

    def batch_info(self) -> BatchInfo:
        """A snapshot of the batch now, for one listener event."""
        return BatchInfo(self._time, self._inputs, self.submission_time,
                         self.processing_start_time, self.processing_end_time,
                         {job.output_op_id: job.info() for job in self.jobs})


_STOP = object()


class JobScheduler:
    def __init__(
        self,
        clock: Clock,
        listener_bus: ListenerBus,
        report_error: Callable[[BaseException], None],
        on_batch_completed: Callable[[int], None],
        batch_duration_ms: int | None = None,
    ):
        self._clock = clock
        self._batch_duration_ms = batch_duration_ms
        self._bus = listener_bus
        self._report_error = report_error
        self._on_batch_completed = on_batch_completed
        # Input streams report here what they read per batch; the JobGenerator reads it
        # back by batch time (Spark keeps it on the JobScheduler too).
        self.input_info_tracker = InputInfoTracker()
        # SimpleQueue: put and get in C (a batch a put, 100 a second at 10 ms batches).
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="streaming-job-executor",
                                        daemon=True)
        self._thread.start()

    def is_current_thread(self) -> bool:
        """Whether the caller runs on the job thread (inside an output operation)."""
        return self._thread is not None and self._thread is threading.current_thread()

    def submit_job_set(self, job_set: JobSet) -> None:
        """Queue a batch's jobs for the job thread; listeners get BatchSubmitted.

        Parameters
        ----------
        job_set : JobSet
            The batch; its submission time is set here.
        """
        job_set.submission_time = self._clock.get_time_ms()
        self._post(StreamingListenerBatchSubmitted, job_set.batch_info)
        self._queue.put(job_set)

    def _post(self, event: type[_Event[_T]], snapshot: Callable[[], _T]) -> None:
        """Post ``event(snapshot())``, taking the snapshot only if some listener wants it:
        a snapshot per event costs microseconds a batch pays for nothing otherwise."""
        if self._bus.has_listeners():
            self._bus.post(event(snapshot()))

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            assert isinstance(item, JobSet)
            self._run_job_set(item)

    def _run_job_set(self, job_set: JobSet) -> None:
        # As Spark: the batch starts when its first job starts and ends when its last
        # job ends, and each event shows the batch as it is at that moment.
        for i, job in enumerate(job_set.jobs):
            job.started(self._clock.get_time_ms())
            if i == 0:
                job_set.processing_start_time = job.start_time
                self._post(StreamingListenerBatchStarted, job_set.batch_info)
            self._post(StreamingListenerOutputOperationStarted, job.info)
            failure_reason = None
            try:
                job.func()
            except Exception as exc:
                text = failure_reason = "".join(traceback.format_exception(exc))
                log.error("Error running job %s of batch %s:\n%s", job.name,
                          batch_time_text(job.time_ms), text)
                error = StreamingJobError(
                    f"job of output operation {job.output_op_id} ({job.name}) failed for batch "
                    f"{batch_time_text(job.time_ms)}:\n{text}",
                    job.time_ms,
                )
                error.__cause__ = exc
                self._report_error(error)
            job.ended(self._clock.get_time_ms(), failure_reason)
            self._post(StreamingListenerOutputOperationCompleted, job.info)
        if not job_set.jobs:
            job_set.processing_start_time = self._clock.get_time_ms()
            self._post(StreamingListenerBatchStarted, job_set.batch_info)
        job_set.processing_end_time = (job_set.jobs[-1].end_time if job_set.jobs
                                       else job_set.processing_start_time)
        self._post(StreamingListenerBatchCompleted, job_set.batch_info)
        self._log_if_behind(job_set)
        try:
            self._on_batch_completed(job_set.time_ms)
        except Exception:
            log.exception("cleanup after batch %s failed", batch_time_text(job_set.time_ms))

    def _log_if_behind(self, job_set: JobSet) -> None:
        """One INFO line for a batch that took longer than the interval or started an
        interval late: the sign that the job falls behind its input. Healthy batches
        say nothing (a line per batch would drown the log)."""
        interval = self._batch_duration_ms
        if interval is None:
            return
        processing = job_set.processing_end_time - job_set.processing_start_time
        delay = job_set.processing_start_time - job_set.submission_time  # Spark's
        # Checked first: at 10 ms batches a slow batch is common, and its arguments (the
        # time's text, the records' sum) were built for a level that was off.
        if (processing > interval or delay > interval) and log.isEnabledFor(logging.INFO):
            log.info("batch %s is %s: processing took %d ms, scheduling delay %d ms, batch "
                     "interval %d ms (%d output operation(s), %d records)",
                     batch_time_text(job_set.time_ms),
                     "slow" if processing > interval else "late", processing, delay,
                     interval, len(job_set.jobs),
                     sum(info.numRecords() for info in job_set.input_infos.values()))

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
