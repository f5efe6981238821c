"""ReceiverSupervisor: runs a receiver, stores its blocks, carries out restart and stop."""

from __future__ import annotations

import logging
import threading
import time
import traceback
from typing import TYPE_CHECKING, Any

from fastdstream.clock import Clock
from fastdstream.streaming.receiver.block_generator import BlockGenerator
from fastdstream.streaming.receiver.memory_bound import MemoryBound
from fastdstream.streaming.receiver.rate_limiter import RateLimiter

if TYPE_CHECKING:
    from fastdstream.streaming.receiver.receiver import Receiver
    from fastdstream.streaming.receiver.sink import ReceiverSink
    from fastdstream.streaming.receiver.wal import WriteAheadLog

log = logging.getLogger(__name__)


class ReceiverSupervisor:
    """Runs one receiver: lifecycle, blocks, restarts, errors.

    ``max_rate`` (records per second, None: no limit) bounds every rate the receiver
    gets; ``initial_rate`` is the rate until backpressure sends one
    (:meth:`update_rate`). ``max_buffered_bytes`` bounds what the receiver holds
    unprocessed (None: no bound); the sink tells it when a block is gone
    (:meth:`release_block`).
    """

    def __init__(self, receiver: Receiver, stream_id: int, sink: ReceiverSink,
                 clock: Clock, block_interval_ms: int, restart_delay_ms: int,
                 wal: WriteAheadLog | None = None, max_rate: float | None = None,
                 initial_rate: float | None = None, max_buffered_bytes: int | None = None):
        self.receiver = receiver
        self.stream_id = stream_id
        self._sink = sink
        self._wal = wal
        # Block ids stay unique across restarts, so replayed blocks never collide.
        self._run_id = time.time_ns()
        self._restart_delay_ms = restart_delay_ms
        # Restarts in a row for the same failure (e.g. a server that is down): the first
        # is logged with its traceback, the next ones as one line each with this count.
        self._failure: tuple[str, type[BaseException]] | None = None
        self._failures = 0
        self._block_seq = 0
        self._seq_lock = threading.Lock()
        self._stopped = threading.Event()
        self._terminated = threading.Event()  # stopped, last block stored and reported
        self.receiver_started = False
        self._lifecycle_lock = threading.RLock()
        self._max_rate = max_rate
        rate = max_rate if initial_rate is None else min(initial_rate, max_rate or initial_rate)
        self._bound = (MemoryBound(max_buffered_bytes, f"receiver {stream_id}")
                       if max_buffered_bytes is not None else None)
        # Bytes of each stored block, released when the batches are done with it.
        self._block_bytes: dict[Any, int] = {}
        self._blocks = BlockGenerator(clock, block_interval_ms, self._push_block,
                                      f"BlockGenerator-{stream_id}", RateLimiter(clock, rate),
                                      self._bound)
        receiver.streamId = stream_id
        receiver._supervisor = self

    # --- data ---------------------------------------------------------------------------

    def push(self, data: Any, metadata: dict[str, int] | None = None) -> None:
        self._blocks.add(data, metadata)

    def flush(self) -> None:
        """Cut the buffered records into a block now (a receiver stopping uses this)."""
        self._blocks.flush()

    @property
    def pending_rows(self) -> int:
        return self._blocks.pending_rows

    @property
    def current_rate(self) -> float | None:
        """Records per second the receiver may store now (None: no limit)."""
        return self._blocks.limiter.rate

    @property
    def buffered_bytes(self) -> int:
        """Bytes stored and not yet released by finished batches (0 without a bound)."""
        return 0 if self._bound is None else self._bound.held

    @property
    def memory_bound(self) -> MemoryBound | None:
        return self._bound

    def update_rate(self, rate: float) -> None:
        """Backpressure's new rate (Spark's ``updateRate``): bounded by maxRate, and
        ignored unless positive."""
        if rate <= 0:
            return
        if self._max_rate is not None:
            rate = min(rate, self._max_rate)
        log.debug("receiver %d: rate limit now %.0f records/s", self.stream_id, rate)
        self._blocks.limiter.set_rate(rate)

    def release_block(self, block_id: Any) -> None:
        """A batch is done with ``block_id``: its bytes no longer count."""
        with self._seq_lock:
            nbytes = self._block_bytes.pop(block_id, 0)
        if nbytes and self._bound is not None:
            self._bound.release(nbytes)

    def _push_block(self, data: Any, rows: int, metadata: dict[str, int], nbytes: int
                    ) -> None:
        with self._seq_lock:
            block_id = ("input", self.stream_id, f"{self._run_id}-{self._block_seq:08d}")
            self._block_seq += 1
            if nbytes:
                self._block_bytes[block_id] = nbytes
        try:
            if self._wal is not None:
                self._wal.write(block_id, data, rows, metadata)
            self._sink.store_block(self.stream_id, block_id, data, rows)
        except BaseException:
            self.release_block(block_id)  # never stored: nothing will release it
            raise
        self._failure, self._failures = None, 0  # data flows again: the next failure is new
        try:
            self.receiver.on_block_stored(block_id, metadata)
        except Exception as exc:
            self.report_error(f"receiver {self.stream_id}: on_block_stored failed", exc)

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        self._blocks.start()
        self._start_receiver()

    def _start_receiver(self) -> None:
        with self._lifecycle_lock:
            if self._stopped.is_set():
                return
            # Started before onStart, as in Spark: the threads onStart spawns check
            # isStopped() at once and must not see the receiver as stopped.
            self.receiver_started = True
            self._blocks.resume_waits()
            try:
                self.receiver.onStart()
            except Exception as exc:
                self.report_error(f"error starting receiver {self.stream_id}", exc)
                self._schedule_restart("onStart failed", exc, None)  # onStop cleans up
                return
        self._sink.receiver_started(self.stream_id, self.receiver.name)

    def _stop_receiver_only(self, message: str) -> None:
        with self._lifecycle_lock:
            if not self.receiver_started:
                return
            self.receiver_started = False
            # A receiver thread blocked in store() (rate, memory bound) goes on, so an
            # onStop that waits for that thread does not wait forever.
            self._blocks.interrupt_waits()
            try:
                self.receiver.onStop()
            except Exception:
                log.exception("receiver %d: onStop failed (%s)", self.stream_id, message)

    def restart_receiver(self, message: str, error: BaseException | None,
                         delay_ms: int | None) -> None:
        if error is not None:  # listeners hear of it every time, the log once in full
            with self._seq_lock:
                again = self._failure == (message, type(error))
                self._failure = message, type(error)
                self._failures = self._failures + 1 if again else 1
            if again:
                self._sink.receiver_error(self.stream_id, self.receiver.name, message,
                                          "".join(traceback.format_exception(error)))
            else:
                self.report_error(message, error)
        self._schedule_restart(message, error, delay_ms)

    def _schedule_restart(self, message: str, error: BaseException | None,
                          delay_ms: int | None) -> None:
        delay = self._restart_delay_ms if delay_ms is None else delay_ms
        retry = self._failures if error is not None else 0

        def run() -> None:
            log.warning("Restarting receiver %d (%s) with delay %d ms%s: %s%s", self.stream_id,
                        self.receiver.name, delay,
                        f" (retry {retry} after the same error)" if retry > 1 else "",
                        message, f": {error!r}" if error else "")
            self._stop_receiver_only(message)
            if self._stopped.wait(delay / 1000.0):
                return
            self._start_receiver()

        threading.Thread(target=run, name=f"receiver-{self.stream_id}-restart",
                         daemon=True).start()

    def report_error(self, message: str, error: BaseException | None) -> None:
        text = "".join(traceback.format_exception(error)) if error is not None else ""
        log.error("receiver %d (%s): %s%s", self.stream_id, self.receiver.name, message,
                  f"\n{text}" if text else "")
        self._sink.receiver_error(self.stream_id, self.receiver.name, message, text)

    def stop_receiver(self, message: str, error: BaseException | None) -> None:
        """The receiver asked to stop (for good); with an error, the job is told."""
        if error is not None:
            self.report_error(message, error)
            self._sink.report_fatal(error)
        threading.Thread(target=self.stop, args=(message,), daemon=True).start()

    def stop(self, message: str = "stopped by StreamingContext") -> None:
        """Stop the receiver, then flush its buffered records as a last block."""
        # Before taking the lock: an onStart that stores (and waits) holds it.
        self._blocks.interrupt_waits()
        with self._lifecycle_lock:
            if self._stopped.is_set():
                return
            self._stopped.set()
            self._blocks.interrupt_waits()  # again, should a restart have resumed them
        try:
            self._stop_receiver_only(message)
            self._blocks.stop()
            self._sink.receiver_stopped(self.stream_id, self.receiver.name)
        finally:
            self._terminated.set()

    def await_stopped(self, timeout: float | None = None) -> bool:
        """Wait until :meth:`stop` has finished (its last block stored); False on timeout."""
        return self._terminated.wait(timeout)
