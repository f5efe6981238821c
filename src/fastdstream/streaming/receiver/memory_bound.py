"""MemoryBound: a cap on the bytes a receiver holds that no batch has finished with.

Rates alone do not bound memory: without backpressure, or before it has measured
anything, a receiver that reads faster than the batches process keeps every
record it read. So each receiver counts the bytes it stored that are still
held -- in its buffer, in blocks waiting for a batch, in blocks of batches not
yet done -- and a store that would go over ``fastdstream.receiver.maxBufferedBytes``
waits until finished batches free blocks. Nothing is dropped: a socket receiver
that waits stops reading, and TCP flow control slows the sender down.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Any

import pyarrow as pa

log = logging.getLogger(__name__)

_GIB = 1 << 30


def default_max_buffered_bytes() -> int:
    """min(1 GiB, physical memory / 8): what one receiver may hold by default."""
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return _GIB
    return _GIB if ram <= 0 else min(_GIB, ram // 8)


def estimate_bytes(data: Any) -> int:
    """The memory a stored record, list of records or Arrow table takes, roughly.

    Examples
    --------
    >>> estimate_bytes(pa.table({"value": ["ab", "cd"]}))
    12
    >>> estimate_bytes(["ab", "cd"]) > 2 * sys.getsizeof("ab")
    True
    """
    kind = type(data)
    if kind is str or kind is bytes or kind is int or kind is float:
        return sys.getsizeof(data)
    if isinstance(data, pa.Table | pa.RecordBatch):
        return int(data.nbytes)
    if isinstance(data, list | tuple):
        if not data:
            return sys.getsizeof(data)
        # A sample is enough to size a block; sizing every record would cost as much
        # as storing it.
        step = max(1, len(data) // 16)
        sample = data[::step][:16]
        per_item = sum(_object_bytes(x) for x in sample) / len(sample)
        return sys.getsizeof(data) + round(per_item * len(data))
    return _object_bytes(data)


def _object_bytes(x: Any) -> int:
    size = sys.getsizeof(x)
    if isinstance(x, tuple | list):
        size += sum(sys.getsizeof(v) for v in x[:8]) * max(1, len(x)) // max(1, min(len(x), 8))
    return size


class MemoryBound:
    """Bytes held, and a wait for room under ``max_bytes``.

    A store larger than the whole bound passes once nothing else is held (else it
    could never pass).

    Parameters
    ----------
    max_bytes : int
        The cap.
    name : str
        Who holds the bytes, for the log.

    Examples
    --------
    >>> bound = MemoryBound(100, "receiver 0")
    >>> stop = threading.Event()
    >>> bound.acquire(60, stop)
    >>> bound.held
    60
    >>> bound.release(60)
    >>> bound.held
    0
    """

    def __init__(self, max_bytes: int, name: str):
        if max_bytes < 1:
            raise ValueError(f"{name}: the memory bound must be positive, got {max_bytes} bytes")
        self.max_bytes = max_bytes
        self.name = name
        self._held = 0
        self._cond = threading.Condition(threading.Lock())
        self._warned = False
        self.waits = 0  # how many stores had to wait (for tests and the log)

    @property
    def held(self) -> int:
        with self._cond:
            return self._held

    def acquire(self, nbytes: int, interrupt: threading.Event) -> None:
        """Count ``nbytes`` as held, first waiting while they would go over the bound
        (or until ``interrupt`` is set and :meth:`wake` called)."""
        with self._cond:
            if self._held > 0 and self._held + nbytes > self.max_bytes \
                    and not interrupt.is_set():
                self.waits += 1
                level = logging.DEBUG if self._warned else logging.WARNING
                self._warned = True
                log.log(level, "%s holds %d bytes not yet processed, at its bound of %d "
                        "(fastdstream.receiver.maxBufferedBytes): store() waits for "
                        "batches to finish", self.name, self._held, self.max_bytes)
                self._cond.wait_for(lambda: self._held == 0
                                    or self._held + nbytes <= self.max_bytes
                                    or interrupt.is_set())
            self._held += nbytes

    def release(self, nbytes: int) -> None:
        """Blocks holding ``nbytes`` are gone."""
        with self._cond:
            self._held = max(0, self._held - nbytes)
            self._cond.notify_all()

    def wake(self) -> None:
        """Make waiting stores look at their interrupt again."""
        with self._cond:
            self._cond.notify_all()
