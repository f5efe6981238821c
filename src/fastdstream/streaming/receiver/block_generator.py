"""BlockGenerator: cuts a receiver's stored records into blocks every block interval.

As Spark's, it is where a receiver's stores wait for the rate limit
(``spark.streaming.receiver.maxRate``, or the rate backpressure sets); here a
store also waits while the receiver holds more unprocessed bytes than its
memory bound. A receiver being stopped or restarted does not wait (its stores
go to the buffer, flushed as the last block), so a stop never deadlocks on a
receiver thread blocked in ``store``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from fastdstream.clock import Clock, RecurringTimer
from fastdstream.engine.columnar.partition import iter_rows
from fastdstream.streaming.receiver.memory_bound import MemoryBound, estimate_bytes
from fastdstream.streaming.receiver.rate_limiter import RateLimiter

# on_block(data, records, metadata, bytes)
OnBlock = Callable[[Any, int, dict[str, int], int], None]


class BlockGenerator:
    """Buffers stored records and cuts them into a block every block interval."""

    def __init__(self, clock: Clock, block_interval_ms: int, on_block: OnBlock, name: str,
                 limiter: RateLimiter | None = None, bound: MemoryBound | None = None):
        self._pending: list[Any] = []
        self._pending_rows = 0
        self._pending_bytes = 0
        self._pending_meta: dict[str, int] = {}
        self._lock = threading.Lock()
        self._cut_lock = threading.Lock()
        self._on_block = on_block
        self._timer = RecurringTimer(clock, block_interval_ms, self._cut, name)
        self.limiter = limiter if limiter is not None else RateLimiter(clock)
        self.bound = bound
        # Set while the receiver stops: stores then pass without waiting.
        self._interrupt = threading.Event()

    def start(self) -> None:
        self._timer.start()

    @property
    def pending_rows(self) -> int:
        """Records stored but not yet cut into a block."""
        with self._lock:
            return self._pending_rows

    def add(self, data: Any, metadata: dict[str, int] | None = None) -> None:
        """Buffer ``data``, first waiting for the rate limit and the memory bound."""
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
            record, data, rows = data, None, 1
        self.limiter.acquire(rows, self._interrupt)
        nbytes = 0
        if self.bound is not None:
            nbytes = estimate_bytes(record if data is None else data)
            self.bound.acquire(nbytes, self._interrupt)
        if data is None:
            data = [record]
        with self._lock:
            self._pending.append(data)
            self._pending_rows += rows
            self._pending_bytes += nbytes
            for key, value in (metadata or {}).items():
                self._pending_meta[key] = max(value, self._pending_meta.get(key, value))

    def interrupt_waits(self) -> None:
        """Stores stop waiting (the receiver is stopping) until :meth:`resume_waits`."""
        self._interrupt.set()
        if self.bound is not None:
            self.bound.wake()

    def resume_waits(self) -> None:
        self._interrupt.clear()

    def _cut(self, time_ms: int = -1) -> None:
        # One cut at a time, so blocks reach the log and the store in the order cut.
        with self._cut_lock:
            with self._lock:
                pending, rows, meta = self._pending, self._pending_rows, self._pending_meta
                nbytes = self._pending_bytes
                self._pending, self._pending_rows, self._pending_meta = [], 0, {}
                self._pending_bytes = 0
            if pending:
                self._on_block(_merge_block(pending), rows, meta, nbytes)

    def flush(self) -> None:
        """Cut what is buffered into a block now."""
        self._cut()

    def stop(self) -> None:
        """Stop the timer, then cut what is still buffered into a last block."""
        self.interrupt_waits()
        self._timer.stop()
        self._cut()


def _merge_block(parts: list[Any]) -> Any:
    if all(isinstance(p, pa.Table) for p in parts):
        return parts[0] if len(parts) == 1 else pa.concat_tables(parts, promote_options="default")
    return [x for p in parts for x in (iter_rows(p) if isinstance(p, pa.Table) else p)]
