"""A receiver run on an executor: the long-running task Spark makes of each receiver.

The driver ships a :class:`ReceiverLaunch` (the receiver and its settings) as a
long-running task (:mod:`fastdstream.engine.backend.long_task`). On the executor
:func:`run_receiver` runs a :class:`ReceiverSupervisor` whose sink stores each
block in that executor's block manager -- the batches that read it are placed
there -- writes it to the write-ahead log first when that is on (the log is on a
filesystem every process shares), and reports the block's info to the driver.

What crosses the boundary, as tuples:

- to the driver: ``("started", name, executor_id, host)``, ``("error", name, message, text)``,
  ``("stopped", name)``, ``("fatal", error)`` and ``("block", block_id, records,
  executor_id, wal_path, status, handle)`` where ``status`` is :class:`ReceiverStatus`
  and ``handle`` what a task on another executor reads the block by without a call to
  this one (Ray's object store; None where blocks are fetched from their holder, as
  map outputs' handles travel in their MapStatus);
- to the receiver: ``("rate", records_per_s)`` (backpressure),
  ``("release", [block_id, ...])`` (batches done with them: the memory bound
  frees their bytes) and ``("stop", message)``.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastdstream.clock import SystemClock
from fastdstream.engine.backend import serde
from fastdstream.errors import FastDStreamError
from fastdstream.streaming.receiver.sink import BlockId, ReceiverSink
from fastdstream.streaming.receiver.supervisor import ReceiverSupervisor
from fastdstream.streaming.receiver.wal import WriteAheadLog

if TYPE_CHECKING:
    from fastdstream.engine.backend.long_task import LongTaskContext
    from fastdstream.streaming.receiver.receiver import Receiver


@dataclass(frozen=True)
class ReceiverStatus:
    """What the driver shows of a receiver running elsewhere, as of its last block."""

    rate: float | None
    buffered_bytes: int
    pending_rows: int


@dataclass(frozen=True)
class ReceiverLaunch:
    """Everything an executor needs to run the receiver of one stream."""

    receiver: Receiver
    stream_id: int
    block_interval_ms: int
    restart_delay_ms: int
    wal_dir: str | None
    max_rate: float | None
    initial_rate: float | None
    max_buffered_bytes: int | None


class _ExecutorSink(ReceiverSink):
    """Stores blocks on this executor and reports them to the driver."""

    def __init__(self, context: LongTaskContext, wal: WriteAheadLog | None):
        self._context = context
        self._wal = wal
        self.supervisor: ReceiverSupervisor | None = None

    def store_block(self, stream_id: int, block_id: BlockId, data: Any, num_records: int
                    ) -> None:
        location = self._context.store_block(block_id, data)
        supervisor = self.supervisor
        status = ReceiverStatus(
            supervisor.current_rate if supervisor else None,
            supervisor.buffered_bytes if supervisor else 0,
            supervisor.pending_rows if supervisor else 0)
        wal_path = self._wal.path_of(block_id) if self._wal is not None else None
        handle = self._context.block_handle(block_id)
        self._context.report(("block", block_id, num_records, location, wal_path, status,
                              handle))

    def receiver_started(self, stream_id: int, name: str) -> None:
        self._context.report(("started", name, self._context.executor_id, socket.gethostname()))

    def receiver_error(self, stream_id: int, name: str, message: str, error: str) -> None:
        self._context.report(("error", name, message, error))

    def receiver_stopped(self, stream_id: int, name: str) -> None:
        self._context.report(("stopped", name))

    def report_fatal(self, error: BaseException) -> None:
        try:
            serde.dumps(error)
        except Exception:  # what does not travel goes as its text, naming its type
            error = FastDStreamError(f"{type(error).__name__}: {error}")
        self._context.report(("fatal", error))


def run_receiver(launch: ReceiverLaunch, context: LongTaskContext) -> None:
    """The long-running task: run the receiver until the driver (or it) stops it."""
    wal = (WriteAheadLog(launch.wal_dir, launch.stream_id)
           if launch.wal_dir is not None else None)
    sink = _ExecutorSink(context, wal)
    # The system clock: a manual clock lives in the driver, and its receivers with it.
    supervisor = ReceiverSupervisor(
        launch.receiver, launch.stream_id, sink, SystemClock(), launch.block_interval_ms,
        launch.restart_delay_ms, wal, max_rate=launch.max_rate,
        initial_rate=launch.initial_rate, max_buffered_bytes=launch.max_buffered_bytes)
    sink.supervisor = supervisor
    def handle(message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "rate":
            supervisor.update_rate(message[1])
        elif kind == "release":
            for block_id in message[1]:
                supervisor.release_block(tuple(block_id))
        elif kind == "stop":
            # Not on the channel's thread: stopping waits for the receiver's onStop.
            threading.Thread(target=supervisor.stop, args=(message[1],), daemon=True,
                             name=f"receiver-{launch.stream_id}-stop").start()

    context.set_message_handler(handle)
    supervisor.start()
    # Until the driver stops it, or it stops itself (receiver.stop).
    supervisor.await_stopped()
