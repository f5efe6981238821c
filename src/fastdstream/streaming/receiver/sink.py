"""ReceiverSink: what a receiver's supervisor reports to, and nothing more.

The receiver tracker implements it on the driver; a supervisor never sees the
tracker itself, so where blocks go (and, on a cluster, across which boundary)
is decided on the other side of this interface.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

BlockId = tuple[Any, ...]


class ReceiverSink(ABC):
    """Where a supervisor reports stored blocks and its receiver's life cycle."""

    @abstractmethod
    def store_block(self, stream_id: int, block_id: BlockId, data: Any, num_records: int
                    ) -> None:
        """Store a block of ``num_records`` records (already in the write-ahead log, when
        that is on) on an executor; returns once it is stored."""

    @abstractmethod
    def receiver_started(self, stream_id: int, name: str) -> None:
        """The receiver of ``stream_id`` has started."""

    @abstractmethod
    def receiver_error(self, stream_id: int, name: str, message: str, error: str) -> None:
        """The receiver reported an error (it keeps running)."""

    @abstractmethod
    def receiver_stopped(self, stream_id: int, name: str) -> None:
        """The receiver has stopped."""

    @abstractmethod
    def report_fatal(self, error: BaseException) -> None:
        """An error that must stop the streaming job (surfaces from awaitTermination)."""
