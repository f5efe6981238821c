"""JobGenerator: at every batch time, allocate received blocks and generate the jobs."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from fastdstream.clock import Clock, RecurringTimer, batch_time_text
from fastdstream.errors import StreamingJobError
from fastdstream.streaming.scheduler.job_scheduler import Job, JobScheduler, JobSet

if TYPE_CHECKING:
    from fastdstream.streaming.checkpoint import Checkpoint, CheckpointWriter
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
        self._writer: CheckpointWriter | None = None
        self._take_checkpoint: Callable[[int, list[int]], Checkpoint] | None = None
        # Batches generated and not completed: what a checkpoint lists as pending.
        self._pending: set[int] = set()
        # Collecting the streams' data and taking the checkpoint of it happen together,
        # whether on the timer thread (generated) or the job thread (completed).
        self._checkpoint_lock = threading.Lock()

    def start(self, writer: CheckpointWriter | None = None,
              take_checkpoint: Callable[[int, list[int]], Checkpoint] | None = None) -> int:
        """Start the batch timer; return the zero time (one batch before the first batch).

        With a checkpoint ``writer`` (a checkpoint directory is set), a checkpoint made
        by ``take_checkpoint(time, pending times)`` is written when a batch is
        generated and when it completes.
        """
        self._writer, self._take_checkpoint = writer, take_checkpoint
        start_time = self._timer.get_start_time()
        zero_time = start_time - self._graph.batch_duration_ms
        self._graph.start(zero_time)
        self._timer.start(start_time)
        return zero_time

    def restart(self, checkpoint: Checkpoint, writer: CheckpointWriter,
                take_checkpoint: Callable[[int, list[int]], Checkpoint]) -> int:
        """Go on from ``checkpoint`` (Spark's ``JobGenerator.restart``); return the zero time.

        The batches pending at the checkpoint and those whose times passed while the
        job was down are generated and run first (the streams read what the
        checkpoint saved for them), then the timer goes on at the next batch time,
        on the zero time the job first started with.
        """
        self._writer, self._take_checkpoint = writer, take_checkpoint
        period = self._graph.batch_duration_ms
        zero_time = checkpoint.zero_time
        now = self._clock.get_time_ms()
        restart_time = ((now - zero_time) // period + 1) * period + zero_time
        if restart_time <= checkpoint.checkpoint_time:
            # A clock behind the checkpoint (another machine's, a manual one): batch times
            # already run must not come round again, so the timer goes on after it.
            log.warning("the clock (%d ms) is behind the checkpoint of %d ms: going on from "
                        "the batch after it", now, checkpoint.checkpoint_time)
            restart_time = checkpoint.checkpoint_time + period
        self._graph.start(zero_time)
        # As Spark: the down times start at the checkpoint's own time (a batch that
        # completed then runs again from what was saved; a state is not updated twice,
        # its RDD of that time is read back).
        down_times = range(checkpoint.checkpoint_time, restart_time, period)
        times = sorted({t for t in (*checkpoint.pending_times, *down_times) if t < restart_time})
        log.warning("restarting from the checkpoint of batch %s: %d pending batch(es) %s, "
                    "%d batch(es) while down; then on from %s",
                    batch_time_text(checkpoint.checkpoint_time),
                    len(checkpoint.pending_times), list(checkpoint.pending_times),
                    len(down_times), batch_time_text(restart_time))
        for t in times:
            self.generate_jobs(t)
        self._timer.start(restart_time)
        return zero_time

    def generate_jobs(self, time_ms: int) -> None:
        # Input streams that ask a server where the batch ends (Kafka's latest offsets)
        # do it first, outside the locks that computing a stream holds.
        for stream in self._graph.input_streams:
            stream.prepare_batch(time_ms)
        try:
            self._tracker.allocate_blocks_to_batch(time_ms)
            outputs = self._graph.generate_jobs(time_ms)
        except Exception as exc:
            log.exception("Error generating jobs for batch %s", batch_time_text(time_ms))
            # What fails outside the outputs' own generation (block allocation) fails the
            # batch: reported as a job failure is, with the batch time.
            error = StreamingJobError(f"generating the jobs of batch {batch_time_text(time_ms)}"
                                      f" failed: {exc!r}", time_ms)
            error.__cause__ = exc
            self._report_error(error)
            self.last_generated_time = time_ms
            return
        # Read by batch time: the streams reported when they computed this batch, which
        # need not be the batch they computed last.
        infos = self._scheduler.input_info_tracker.get_info(time_ms)
        jobs = [Job(time_ms, op_id, name, func) for op_id, name, func in outputs]
        with self._checkpoint_lock:
            self._pending.add(time_ms)
        self._scheduler.submit_job_set(JobSet(time_ms, jobs, infos))
        self.last_generated_time = time_ms
        # As Spark: a checkpoint right after generation records the new batch as pending.
        self._do_checkpoint(time_ms, clear_later=False)
        for stream in self._graph.input_streams:
            try:
                stream.batch_submitted(time_ms)
            except Exception:
                # Only later batches' preparation: they redo it and fail with its error.
                log.exception("input stream %d after submitting batch %s", stream._id,
                              batch_time_text(time_ms))

    def on_batch_completed(self, time_ms: int) -> None:
        with self._checkpoint_lock:
            self._pending.discard(time_ms)
        self._graph.clear_metadata(time_ms)
        self._do_checkpoint(time_ms, clear_later=True)
        self._tracker.cleanup_old_batches(time_ms - self._graph.batch_duration_ms)
        # Keep infos as long as any input stream remembers its batches (Spark's
        # maxInputStreamRememberDuration): the tracker stays bounded by that window.
        self._scheduler.input_info_tracker.cleanup(
            time_ms - self._graph.max_input_stream_remember_ms())

    def _do_checkpoint(self, time_ms: int, clear_later: bool) -> None:
        """Spark's ``doCheckpoint``: collect what every stream saves for ``time_ms`` and
        have the checkpoint written (on the writer thread)."""
        writer, take = self._writer, self._take_checkpoint
        if writer is None or take is None:
            return
        with self._checkpoint_lock:
            self._graph.update_checkpoint_data(time_ms)
            # Spark clears the streams' checkpoint data once that write is done, and only
            # for a completed batch: what a pending batch needs must stay in its checkpoint.
            on_written = ((lambda: self._graph.clear_checkpoint_data(time_ms)) if clear_later
                          else None)
            try:
                writer.write(take(time_ms, sorted(self._pending)), on_written)
            except Exception as exc:
                log.exception("could not take the checkpoint of batch %s", batch_time_text(time_ms))
                self._report_error(exc)

    def is_current_thread(self) -> bool:
        """Whether the caller runs on the batch timer's thread (generating a batch)."""
        return self._timer.is_current_thread()

    def stop(self, graceful: bool, timeout_s: float) -> None:
        if graceful:
            # Keep generating batches until everything received has been given to one.
            deadline = time.monotonic() + timeout_s
            while self._tracker.has_unallocated_blocks() and time.monotonic() < deadline:
                self._tracker.wait_for_allocation(min(0.1, max(0.0, deadline - time.monotonic())))
            if self._tracker.has_unallocated_blocks():
                log.warning("graceful stop timed out with received blocks not yet processed")
        self._timer.stop()
