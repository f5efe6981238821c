"""ReceiverTracker: starts receivers, tracks their blocks, hands blocks to batches.

Where a back end runs long-running tasks on executors of their own processes
(``local-cluster``, Ray), each receiver runs as one, as in Spark: its blocks are
stored on that executor and their infos reported here. A receiver whose executor
dies is started again on another; the blocks it had stored there are read from
the write-ahead log when that is on (they are lost without it, as in Spark).
With ``local[N]``, or on a manual clock (which lives in the driver), receivers
run on threads of the driver.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from fastdstream import conf as keys
from fastdstream.clock import ManualClock
from fastdstream.engine.backend.block_manager import BlockId
from fastdstream.engine.backend.long_task import LongTaskCallbacks
from fastdstream.streaming.receiver.executor_receiver import (
    ReceiverLaunch,
    ReceiverStatus,
    run_receiver,
)
from fastdstream.streaming.receiver.memory_bound import default_max_buffered_bytes
from fastdstream.streaming.receiver.remote_receiver import RemoteReceiver
from fastdstream.streaming.receiver.sink import ReceiverSink
from fastdstream.streaming.receiver.supervisor import ReceiverSupervisor
from fastdstream.streaming.receiver.wal import WriteAheadLog
from fastdstream.streaming.scheduler.listener import (
    DRIVER_EXECUTOR_ID,
    DRIVER_HOST,
    UNKNOWN,
    ListenerBus,
    ReceiverInfo,
    StreamingListenerReceiverError,
    StreamingListenerReceiverStarted,
    StreamingListenerReceiverStopped,
)
from fastdstream.streaming.scheduler.rate_controller import (
    INITIAL_RATE,
    RateController,
    create_rate_controller,
)

if TYPE_CHECKING:
    from fastdstream.clock import Clock
    from fastdstream.engine.context import Context
    from fastdstream.streaming.dstream.receiver_input_dstream import ReceiverInputDStream

log = logging.getLogger(__name__)

RunningReceiver = ReceiverSupervisor | RemoteReceiver


@dataclass(frozen=True)
class ReceivedBlockInfo:
    stream_id: int
    block_id: BlockId
    num_records: int
    location: str  # the executor that holds the block
    wal_path: str | None = None  # its durable copy, with the write-ahead log on
    # What a task on another executor reads it by without asking its holder (a Ray
    # object store handle; it does not keep the block: forgetting the batch frees it).
    handle: Any = None


class ReceivedBlockTracker:
    """Blocks per stream, first unallocated, then allocated to one batch time."""

    def __init__(self) -> None:
        self._unallocated: dict[int, list[ReceivedBlockInfo]] = defaultdict(list)
        self._by_batch: dict[int, dict[int, list[ReceivedBlockInfo]]] = {}
        self._cond = threading.Condition()

    def add_block(self, info: ReceivedBlockInfo) -> None:
        with self._cond:
            self._unallocated[info.stream_id].append(info)

    def allocate_blocks_to_batch(self, time_ms: int) -> None:
        with self._cond:
            if time_ms in self._by_batch:
                return
            self._by_batch[time_ms] = {sid: blocks for sid, blocks in self._unallocated.items()}
            self._unallocated = defaultdict(list)
            self._cond.notify_all()

    def blocks_of_batch(self, time_ms: int, stream_id: int) -> list[ReceivedBlockInfo]:
        with self._cond:
            return list(self._by_batch.get(time_ms, {}).get(stream_id, ()))

    def has_unallocated_blocks(self) -> bool:
        with self._cond:
            return any(self._unallocated.values())

    def unallocated_rows(self, stream_id: int) -> int:
        with self._cond:
            return sum(b.num_records for b in self._unallocated.get(stream_id, ()))

    def unallocated_blocks(self, stream_id: int) -> list[ReceivedBlockInfo]:
        with self._cond:
            return list(self._unallocated.get(stream_id, ()))

    def wait_for_allocation(self, timeout: float) -> None:
        with self._cond:
            self._cond.wait(timeout)

    def cleanup_old_batches(self, threshold_ms: int) -> None:
        """Forget batches up to ``threshold_ms`` (their blocks are removed by their streams)."""
        with self._cond:
            for t in [t for t in self._by_batch if t <= threshold_ms]:
                del self._by_batch[t]


class ReceiverTracker(ReceiverSink):
    def __init__(
        self,
        context: Context,
        clock: Clock,
        listener_bus: ListenerBus,
        block_interval_ms: int,
        restart_delay_ms: int,
        report_error: Callable[[BaseException], None],
    ):
        self.wal_dir: str | None = None  # set when the write-ahead log is on
        self._context = context
        self._clock = clock
        self._bus = listener_bus
        self._block_interval_ms = block_interval_ms
        self._restart_delay_ms = restart_delay_ms
        self._report_error = report_error
        self.blocks = ReceivedBlockTracker()
        self._supervisors: dict[int, RunningReceiver] = {}
        self._stopping = False
        self._placement = "auto"
        self._lock = threading.Lock()
        self._infos: dict[int, ReceiverInfo] = {}
        self._wals: dict[int, WriteAheadLog] = {}
        self.rate_controllers: dict[int, RateController] = {}
        conf = context.getConf()
        self._max_rate = _positive_rate(conf.get(keys.RECEIVER_MAX_RATE), keys.RECEIVER_MAX_RATE)
        self._max_buffered_bytes = conf.get_size_bytes(keys.RECEIVER_MAX_BUFFERED_BYTES,
                                                       default_max_buffered_bytes())
        if self._max_buffered_bytes < 1:
            raise ValueError(f"{keys.RECEIVER_MAX_BUFFERED_BYTES}={self._max_buffered_bytes}: "
                             "must be a positive size (e.g. '256m')")

    def start(self, streams: list[ReceiverInputDStream]) -> None:
        conf = self._context.getConf()
        placement = (conf.get(keys.RECEIVER_ON_EXECUTORS) or "auto").strip().lower()
        if placement not in ("auto", "true", "false"):
            raise ValueError(f"configuration {keys.RECEIVER_ON_EXECUTORS}={placement!r}: "
                             "must be 'auto', 'true' or 'false'")
        self._placement = placement
        for stream in streams:
            wal = None
            if self.wal_dir is not None:
                wal = self._wals[stream._id] = WriteAheadLog(self.wal_dir, stream._id)
                self._replay(stream._id, wal, stream._restored_block_ids)
            # As Spark's ReceiverRateController: each batch's estimate goes to the receiver.
            controller = create_rate_controller(
                conf, stream._id, stream.slideDuration,
                publish=partial(self.send_rate_update, stream._id))
            initial_rate = None
            if controller is not None:
                self.rate_controllers[stream._id] = controller
                self._bus.add_listener(controller)
                initial_rate = _positive_rate(conf.get(INITIAL_RATE), INITIAL_RATE)
            if self._on_executors():
                self._launch(ReceiverLaunch(
                    stream.getReceiver(), stream._id, self._block_interval_ms,
                    self._restart_delay_ms, self.wal_dir, self._max_rate, initial_rate,
                    self._max_buffered_bytes))
                continue
            supervisor = ReceiverSupervisor(
                stream.getReceiver(), stream._id, self, self._clock,
                self._block_interval_ms, self._restart_delay_ms, wal,
                max_rate=self._max_rate, initial_rate=initial_rate,
                max_buffered_bytes=self._max_buffered_bytes,
            )
            self._supervisors[stream._id] = supervisor
            supervisor.start()

    def _on_executors(self) -> bool:
        """Whether receivers run on executors (else on threads of the driver).

        A manual clock lives in the driver: tests that cut blocks with it keep their
        receivers there unless they ask otherwise (the executor's receiver then cuts
        blocks on the system clock)."""
        if not self._context._backend.supports_long_tasks or self._placement == "false":
            return False
        return self._placement == "true" or not isinstance(self._clock, ManualClock)

    def _launch(self, launch: ReceiverLaunch, avoid: frozenset[str] = frozenset()) -> None:
        """Start the receiver of ``launch`` as a long-running task on an executor."""
        stream_id = launch.stream_id
        callbacks = LongTaskCallbacks(
            on_report=partial(self._on_report, stream_id),
            on_end=partial(self._on_end, stream_id),
            on_lost=partial(self._on_lost, launch))
        handle = self._context._backend.start_long_task(
            partial(run_receiver, launch), f"receiver-{stream_id}", callbacks, avoid)
        remote = RemoteReceiver(stream_id, handle)
        with self._lock:
            stopping = self._stopping
            if not stopping:
                self._supervisors[stream_id] = remote
        if stopping:  # a restart after a loss, overtaken by stop(): not left running
            remote.stop()
            return
        log.info("receiver %d (%s) runs on executor %s", stream_id, launch.receiver.name,
                 handle.executor_id)

    def send_rate_update(self, stream_id: int, rate: float) -> None:
        """Give the receiver of ``stream_id`` a new rate limit (Spark's ``sendRateUpdate``);
        it stays under ``spark.streaming.receiver.maxRate``."""
        supervisor = self._supervisors.get(stream_id)
        if supervisor is not None:
            supervisor.update_rate(rate)

    def supervisor(self, stream_id: int) -> RunningReceiver | None:
        """The supervisor running the receiver of ``stream_id`` (None before start), or
        the driver's handle on it where it runs on an executor."""
        return self._supervisors.get(stream_id)

    def _replay(self, stream_id: int, wal: WriteAheadLog, restored: set[BlockId]) -> None:
        """Blocks logged before a crash and not processed: into the next batch.

        Blocks of batches restored from a streaming checkpoint are left out: those
        batches read them (Spark's ReceivedBlockTracker recovers the allocation).
        """
        blocks = records = 0
        for logged in wal.recover():
            if logged.block_id in restored:
                continue
            self.store_block(stream_id, logged.block_id, logged.data, logged.num_records)
            blocks += 1
            records += logged.num_records
        if blocks:
            log.warning("receiver stream %d: replaying %d block(s), %d record(s), from the "
                        "write-ahead log in %s", stream_id, blocks, records, wal.directory)

    def stop(self) -> None:
        with self._lock:
            self._stopping = True  # a receiver lost from now on is not started again
            running = list(self._supervisors.values())
        for supervisor in running:
            supervisor.stop()

    def forget_blocks(self, stream_id: int, blocks: list[tuple[BlockId, str]]) -> None:
        """A batch is done with these blocks: drop them from their executors and the log."""
        wal = self._wals.get(stream_id)
        if wal is None and self.wal_dir is not None:
            # A batch restored from a checkpoint can be done before the receivers start.
            wal = self._wals[stream_id] = WriteAheadLog(self.wal_dir, stream_id)
        supervisor = self._supervisors.get(stream_id)
        for block_id, location in blocks:
            self._context._remove_block(block_id, location)
            if wal is not None:
                wal.remove(block_id)
            if supervisor is not None:
                supervisor.release_block(block_id)

    # --- reports from supervisors -------------------------------------------------------

    def store_block(self, stream_id: int, block_id: BlockId, data: Any, num_records: int
                    ) -> None:
        location = self._context._store_block(block_id, data)
        wal = self._wals.get(stream_id)
        wal_path = wal.path_of(block_id) if wal is not None else None
        self.blocks.add_block(ReceivedBlockInfo(stream_id, block_id, num_records, location,
                                                wal_path))

    def receiver_started(self, stream_id: int, name: str, host: str = DRIVER_HOST,
                         executor_id: str = DRIVER_EXECUTOR_ID) -> None:
        info = ReceiverInfo(stream_id, name, True, host, executor_id)
        self._infos[stream_id] = info
        self._bus.post(StreamingListenerReceiverStarted(info))

    def _where(self, stream_id: int) -> tuple[str, str]:
        """The host and executor the receiver of ``stream_id`` last started on."""
        previous = self._infos.get(stream_id)
        if previous is None:
            return DRIVER_HOST, DRIVER_EXECUTOR_ID
        return previous.location(), previous.executorId()

    def receiver_error(self, stream_id: int, name: str, message: str, error: str) -> None:
        host, executor_id = self._where(stream_id)
        info = ReceiverInfo(stream_id, name, True, host, executor_id,
                            lastErrorMessage=message, lastError=error,
                            lastErrorTime=self._clock.get_time_ms())
        self._infos[stream_id] = info
        self._bus.post(StreamingListenerReceiverError(info))

    def receiver_stopped(self, stream_id: int, name: str) -> None:
        # As Spark: a stopped receiver keeps where it ran and the last error it reported.
        previous = self._infos.get(stream_id)
        host, executor_id = self._where(stream_id)
        info = ReceiverInfo(stream_id, name, False, host, executor_id,
                            lastErrorMessage=previous.lastErrorMessage() if previous else "",
                            lastError=previous.lastError() if previous else "",
                            lastErrorTime=previous.lastErrorTime() if previous else UNKNOWN)
        self._infos[stream_id] = info
        self._bus.post(StreamingListenerReceiverStopped(info))

    def report_fatal(self, error: BaseException) -> None:
        self._report_error(error)

    # --- reports from receivers on executors --------------------------------------------

    def _on_report(self, stream_id: int, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "block":
            _, block_id, num_records, location, wal_path, status, handle = message
            remote = self._supervisors.get(stream_id)
            if isinstance(remote, RemoteReceiver) and isinstance(status, ReceiverStatus):
                remote.status = status
            self.blocks.add_block(ReceivedBlockInfo(stream_id, tuple(block_id), num_records,
                                                    location, wal_path, handle))
        elif kind == "started":
            _, name, executor_id, host = message
            self.receiver_started(stream_id, name, host, executor_id)
        elif kind == "error":
            self.receiver_error(stream_id, *message[1:])
        elif kind == "stopped":
            self.receiver_stopped(stream_id, message[1])
        elif kind == "fatal":
            self.report_fatal(message[1])
        else:
            log.warning("receiver %d: unknown report %r", stream_id, kind)

    def _on_end(self, stream_id: int, error: BaseException | None) -> None:
        if error is not None:  # the task itself failed (e.g. the receiver did not unpickle)
            log.error("receiver %d failed on its executor: %s", stream_id, error)
            self.report_fatal(error)

    def _on_lost(self, launch: ReceiverLaunch, executor_id: str) -> None:
        """The executor running a receiver died: start it again on another (Spark's
        ReceiverTracker restarts a receiver whose job ended while the tracker runs)."""
        stream_id = launch.stream_id
        with self._lock:
            if self._stopping:
                return
        message = (f"executor {executor_id} running receiver {stream_id} was lost; "
                   "restarting the receiver on another executor")
        log.warning("%s", message)
        self.receiver_error(stream_id, launch.receiver.name, message, "")
        try:
            self._launch(launch, avoid=frozenset({executor_id}))
        except Exception as exc:
            with self._lock:
                if self._stopping:  # the context stopped meanwhile
                    return
            self.report_fatal(exc)

    # --- batches ------------------------------------------------------------------------

    def allocate_blocks_to_batch(self, time_ms: int) -> None:
        self.blocks.allocate_blocks_to_batch(time_ms)

    def blocks_of_batch(self, time_ms: int, stream_id: int) -> list[ReceivedBlockInfo]:
        return self.blocks.blocks_of_batch(time_ms, stream_id)

    def has_unallocated_blocks(self) -> bool:
        return self.blocks.has_unallocated_blocks()

    def wait_for_allocation(self, timeout: float) -> None:
        self.blocks.wait_for_allocation(timeout)

    def cleanup_old_batches(self, threshold_ms: int) -> None:
        self.blocks.cleanup_old_batches(threshold_ms)

    def pending_rows(self, stream_id: int) -> int:
        """Records a receiver stored that are not in a block yet."""
        supervisor = self._supervisors.get(stream_id)
        return 0 if supervisor is None else supervisor.pending_rows

    def unallocated_rows(self, stream_id: int) -> int:
        return self.blocks.unallocated_rows(stream_id)


def _positive_rate(raw: str | None, key: str) -> float | None:
    """A records-per-second setting; unset, zero or negative means no limit (as Spark's
    ``RateLimiter``, which applies a rate only when it is positive)."""
    if raw is None:
        return None
    try:
        rate = float(raw)
    except ValueError:
        raise ValueError(f"configuration {key}={raw!r} is not a number of records per "
                         "second") from None
    return rate if rate > 0 else None
