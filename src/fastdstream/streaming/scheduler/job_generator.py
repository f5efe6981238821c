"""JobGenerator: at every batch time, allocate received blocks and generate the jobs."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from fastdstream.clock import Clock, RecurringTimer
from fastdstream.errors import StreamingJobError
from fastdstream.streaming.scheduler.job_scheduler import Job, JobScheduler, JobSet

if TYPE_CHECKING:
    from fastdstream.streaming.graph import DStreamGraph
    from fastdstream.streaming.scheduler.receiver_tracker import ReceiverTracker

log = logging.getLogger(__name__)


class JobGenerator:
    def __init__(
        self,
        graph: DStreamGraph,
        clock: Clock,
        job_scheduler: JobScheduler,
        receiver_tracker: ReceiverTracker,
        report_error: Callable[[BaseException], None],
    ):
        self._graph = graph
        self._clock = clock
        self._scheduler = job_scheduler
        self._tracker = receiver_tracker
        self._report_error = report_error
        self._timer = RecurringTimer(clock, graph.batch_duration_ms, self.generate_jobs,
                                     "JobGenerator")
        self.last_generated_time = -1
        self._checkpointing = False

    def start(self, checkpointing: bool = False) -> int:
        """Start the batch timer; return the zero time (one batch before the first batch).

        With ``checkpointing`` (a checkpoint directory is set), the streams' checkpoint
        data is collected when a batch is generated and when it completes.
        """
        self._checkpointing = checkpointing
        start_time = self._timer.get_start_time()
        zero_time = start_time - self._graph.batch_duration_ms
        self._graph.start(zero_time)
        self._timer.start(start_time)
        return zero_time

    def generate_jobs(self, time_ms: int) -> None:
        try:
            self._tracker.allocate_blocks_to_batch(time_ms)
            outputs = self._graph.generate_jobs(time_ms)
        except Exception as exc:
            log.exception("Error generating jobs for time %d ms", time_ms)
            # What fails outside the outputs' own generation (block allocation) fails the
            # batch: reported as a job failure is, with the batch time.
            error = StreamingJobError(f"generating the jobs of batch {time_ms} ms failed: "
                                      f"{exc!r}", time_ms)
            error.__cause__ = exc
            self._report_error(error)
            self.last_generated_time = time_ms
            return
        # Read by batch time: the streams reported when they computed this batch, which
        # need not be the batch they computed last.
        infos = self._scheduler.input_info_tracker.get_info(time_ms)
        jobs = [Job(time_ms, op_id, name, func) for op_id, name, func in outputs]
        self._scheduler.submit_job_set(JobSet(time_ms, jobs, infos))
        self.last_generated_time = time_ms
        # As Spark: a checkpoint right after generation records the new batch as pending.
        self._do_checkpoint(time_ms, clear_later=False)

    def on_batch_completed(self, time_ms: int) -> None:
        self._graph.clear_metadata(time_ms)
        self._do_checkpoint(time_ms, clear_later=True)
        self._tracker.cleanup_old_batches(time_ms - self._graph.batch_duration_ms)
        # Keep infos as long as any input stream remembers its batches (Spark's
        # maxInputStreamRememberDuration): the tracker stays bounded by that window.
        self._scheduler.input_info_tracker.cleanup(
            time_ms - self._graph.max_input_stream_remember_ms())

    def _do_checkpoint(self, time_ms: int, clear_later: bool) -> None:
        """Spark's ``doCheckpoint``: collect what every stream saves for ``time_ms``."""
        if not self._checkpointing:
            return
        self._graph.update_checkpoint_data(time_ms)
        # The checkpoint of time_ms is written here (its file format is a later change).
        # Spark clears the streams' checkpoint data once that write is done, and only
        # for a completed batch: what a pending batch needs must stay in its checkpoint.
        if clear_later:
            self._graph.clear_checkpoint_data(time_ms)

    def stop(self, graceful: bool, timeout_s: float) -> None:
        if graceful:
            # Keep generating batches until everything received has been given to one.
            deadline = time.monotonic() + timeout_s
            while self._tracker.has_unallocated_blocks() and time.monotonic() < deadline:
                self._tracker.wait_for_allocation(min(0.1, max(0.0, deadline - time.monotonic())))
            if self._tracker.has_unallocated_blocks():
                log.warning("graceful stop timed out with received blocks not yet processed")
        self._timer.stop()
