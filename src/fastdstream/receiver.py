"""Receivers: long-running tasks that pull records and store them as blocks.

A :class:`Receiver` is written as in Spark: ``onStart`` starts its own threads
and returns, they call ``store``; ``onStop`` releases what ``onStart`` took.
Its :class:`ReceiverSupervisor` cuts stored records into blocks every block
interval (:class:`BlockGenerator`), puts them in the block store and reports
them to the receiver tracker; it also carries out ``restart`` and ``stop``.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from fastdstream.block_store import block_store
from fastdstream.clock import Clock, RecurringTimer
from fastdstream.columnar import iter_rows

if TYPE_CHECKING:
    from fastdstream.receiver_tracker import ReceiverTracker
    from fastdstream.wal import WriteAheadLog

log = logging.getLogger(__name__)


class Receiver:
    """Base class of custom receivers (Spark's ``Receiver``).

    Examples
    --------
    >>> class Counter(Receiver):
    ...     def onStart(self):
    ...         self.store(list(range(3)))
    ...     def onStop(self):
    ...         pass
    """

    def __init__(self, storageLevel: Any = None):
        self.storageLevel = storageLevel
        self.streamId = -1
        self._supervisor: ReceiverSupervisor | None = None

    def onStart(self) -> None:
        raise NotImplementedError

    def onStop(self) -> None:
        raise NotImplementedError

    @property
    def name(self) -> str:
        return type(self).__name__

    def _get_supervisor(self) -> ReceiverSupervisor:
        if self._supervisor is None:
            raise RuntimeError(f"{self.name} is not running under a StreamingContext")
        return self._supervisor

    def store(self, data: Any, metadata: dict[str, int] | None = None) -> None:
        """Store one record, a list of records, or an Arrow table/record batch.

        ``metadata`` travels with the records into their block (values of one key
        merge by max, e.g. Kafka offsets) and comes back in :meth:`on_block_stored`.
        """
        self._get_supervisor().push(data, metadata)

    def on_block_stored(self, block_id: tuple[Any, ...], metadata: dict[str, int]) -> None:
        """Called once a block is stored (and written to the write-ahead log, when that
        is on): the moment a reliable receiver may acknowledge its source."""

    def reportError(self, message: str, throwable: BaseException | None = None) -> None:
        self._get_supervisor().report_error(message, throwable)

    def restart(self, message: str, error: BaseException | None = None,
                millisecond: int | None = None) -> None:
        """Stop and start again after a delay, on another thread (returns at once)."""
        self._get_supervisor().restart_receiver(message, error, millisecond)

    def stop(self, message: str, error: BaseException | None = None) -> None:
        self._get_supervisor().stop_receiver(message, error)

    def isStarted(self) -> bool:
        return self._supervisor is not None and self._supervisor.receiver_started

    def isStopped(self) -> bool:
        return self._supervisor is None or not self._supervisor.receiver_started


class BlockGenerator:
    """Buffers stored records and cuts them into a block every block interval."""

    def __init__(self, clock: Clock, block_interval_ms: int,
                 on_block: Callable[[Any, int, dict[str, int]], None], name: str):
        self._pending: list[Any] = []
        self._pending_rows = 0
        self._pending_meta: dict[str, int] = {}
        self._lock = threading.Lock()
        self._cut_lock = threading.Lock()
        self._on_block = on_block
        self._timer = RecurringTimer(clock, block_interval_ms, self._cut, name)

    def start(self) -> None:
        self._timer.start()

    @property
    def pending_rows(self) -> int:
        """Records stored but not yet cut into a block."""
        with self._lock:
            return self._pending_rows

    def add(self, data: Any, metadata: dict[str, int] | None = None) -> None:
        if isinstance(data, pa.RecordBatch):
            data = pa.Table.from_batches([data])
        if isinstance(data, pa.Table):
            if data.num_rows == 0:
                return
            rows = data.num_rows
        elif isinstance(data, list | tuple):
            data = list(data)
            rows = len(data)
            if rows == 0:
                return
        else:
            data, rows = [data], 1
        with self._lock:
            self._pending.append(data)
            self._pending_rows += rows
            for key, value in (metadata or {}).items():
                self._pending_meta[key] = max(value, self._pending_meta.get(key, value))

    def _cut(self, time_ms: int = -1) -> None:
        # One cut at a time, so blocks reach the log and the store in the order cut.
        with self._cut_lock:
            with self._lock:
                pending, rows, meta = self._pending, self._pending_rows, self._pending_meta
                self._pending, self._pending_rows, self._pending_meta = [], 0, {}
            if pending:
                self._on_block(_merge_block(pending), rows, meta)

    def flush(self) -> None:
        """Cut what is buffered into a block now."""
        self._cut()

    def stop(self) -> None:
        """Stop the timer, then cut what is still buffered into a last block."""
        self._timer.stop()
        self._cut()


def _merge_block(parts: list[Any]) -> Any:
    if all(isinstance(p, pa.Table) for p in parts):
        return parts[0] if len(parts) == 1 else pa.concat_tables(parts, promote_options="default")
    return [x for p in parts for x in (iter_rows(p) if isinstance(p, pa.Table) else p)]


class ReceiverSupervisor:
    """Runs one receiver: lifecycle, blocks, restarts, errors."""

    def __init__(self, receiver: Receiver, stream_id: int, tracker: ReceiverTracker,
                 clock: Clock, block_interval_ms: int, restart_delay_ms: int,
                 wal: WriteAheadLog | None = None):
        self.receiver = receiver
        self.stream_id = stream_id
        self._tracker = tracker
        self._wal = wal
        # Block ids stay unique across restarts, so replayed blocks never collide.
        self._run_id = time.time_ns()
        self._restart_delay_ms = restart_delay_ms
        self._block_seq = 0
        self._seq_lock = threading.Lock()
        self._stopped = threading.Event()
        self.receiver_started = False
        self._lifecycle_lock = threading.RLock()
        self._blocks = BlockGenerator(clock, block_interval_ms, self._push_block,
                                      f"BlockGenerator-{stream_id}")
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

    def _push_block(self, data: Any, rows: int, metadata: dict[str, int]) -> None:
        with self._seq_lock:
            block_id = ("input", self.stream_id, f"{self._run_id}-{self._block_seq:08d}")
            self._block_seq += 1
        if self._wal is not None:
            self._wal.write(block_id, data, rows, metadata)
        block_store().put(block_id, data)
        self._tracker.add_block(self.stream_id, block_id, rows)
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
            try:
                self.receiver.onStart()
            except Exception as exc:
                self.report_error(f"error starting receiver {self.stream_id}", exc)
                self._schedule_restart("onStart failed", exc, None)  # onStop cleans up
                return
        self._tracker.receiver_started(self.stream_id, self.receiver.name)

    def _stop_receiver_only(self, message: str) -> None:
        with self._lifecycle_lock:
            if not self.receiver_started:
                return
            self.receiver_started = False
            try:
                self.receiver.onStop()
            except Exception:
                log.exception("receiver %d: onStop failed (%s)", self.stream_id, message)

    def restart_receiver(self, message: str, error: BaseException | None,
                         delay_ms: int | None) -> None:
        if error is not None:  # listeners hear of it, not only the log
            self.report_error(message, error)
        self._schedule_restart(message, error, delay_ms)

    def _schedule_restart(self, message: str, error: BaseException | None,
                          delay_ms: int | None) -> None:
        delay = self._restart_delay_ms if delay_ms is None else delay_ms

        def run() -> None:
            log.warning("Restarting receiver %d (%s) with delay %d ms: %s%s", self.stream_id,
                        self.receiver.name, delay, message, f": {error}" if error else "")
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
        self._tracker.receiver_error(self.stream_id, self.receiver.name, message, text)

    def stop_receiver(self, message: str, error: BaseException | None) -> None:
        """The receiver asked to stop (for good); with an error, the job is told."""
        if error is not None:
            self.report_error(message, error)
            self._tracker.report_fatal(error)
        threading.Thread(target=self.stop, args=(message,), daemon=True).start()

    def stop(self, message: str = "stopped by StreamingContext") -> None:
        """Stop the receiver, then flush its buffered records as a last block."""
        with self._lifecycle_lock:
            if self._stopped.is_set():
                return
            self._stopped.set()
        self._stop_receiver_only(message)
        self._blocks.stop()
        self._tracker.receiver_stopped(self.stream_id, self.receiver.name)
