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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastdstream.streaming.receiver.supervisor import ReceiverSupervisor

log = logging.getLogger(__name__)

# What a receiver may make in __init__ that does not pickle, and is never in use before
# onStart: it travels as its kind and is made afresh where the receiver runs.
_FRESH: dict[type, str] = {
    type(threading.Lock()): "lock", type(threading.RLock()): "rlock",
    threading.Event: "event", threading.Condition: "condition",
}
_MAKE: dict[str, Any] = {"lock": threading.Lock, "rlock": threading.RLock,
                         "event": threading.Event, "condition": threading.Condition}


class _Fresh:
    """Stands for a lock, event or condition while a receiver travels."""

    def __init__(self, kind: str):
        self.kind = kind


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

    def __getstate__(self) -> dict[str, Any]:
        # A receiver goes to the executor that runs it before it starts, as Spark
        # serializes receivers: its locks and events go as fresh ones, a thread as None
        # (none of them is in use before onStart), its supervisor stays behind.
        state = dict(self.__dict__)
        state["_supervisor"] = None
        for key, value in state.items():
            if isinstance(value, threading.Thread):
                state[key] = None
            elif type(value) in _FRESH:
                state[key] = _Fresh(_FRESH[type(value)])
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update({key: _MAKE[value.kind]() if isinstance(value, _Fresh) else value
                              for key, value in state.items()})

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

        Waits while the receiver is over its rate (``spark.streaming.receiver.maxRate``,
        or backpressure's) or holds ``fastdstream.receiver.maxBufferedBytes`` of data no
        batch has finished with; nothing is dropped. A receiver being stopped or
        restarted does not wait.
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
