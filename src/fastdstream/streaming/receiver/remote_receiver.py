"""RemoteReceiver: the driver's handle on a receiver that runs on an executor.

It offers what the receiver tracker uses of a supervisor running in the driver
(rate updates, released blocks, stop, the figures the status page shows) and
carries each across the boundary as a message to
:func:`~fastdstream.streaming.receiver.executor_receiver.run_receiver`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from fastdstream.streaming.receiver.executor_receiver import ReceiverStatus

if TYPE_CHECKING:
    from fastdstream.engine.backend.long_task import LongTaskHandle

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 30.0
"""How long stopping waits for a receiver's last block (its onStop may wait on a source)."""


class RemoteReceiver:
    """A receiver's long-running task on an executor, seen from the driver."""

    def __init__(self, stream_id: int, handle: LongTaskHandle):
        self.stream_id = stream_id
        self.handle = handle
        self.status = ReceiverStatus(None, 0, 0)

    @property
    def executor_id(self) -> str:
        return self.handle.executor_id

    @property
    def current_rate(self) -> float | None:
        """Records per second the receiver may store, as of its last block."""
        return self.status.rate

    @property
    def buffered_bytes(self) -> int:
        return self.status.buffered_bytes

    @property
    def pending_rows(self) -> int:
        return self.status.pending_rows

    def update_rate(self, rate: float) -> None:
        self.handle.send(("rate", rate))

    def release_block(self, block_id: Any) -> None:
        self.handle.send(("release", [block_id]))

    def stop(self, message: str = "stopped by StreamingContext") -> None:
        """Stop the receiver and wait until its last block is reported."""
        self.handle.send(("stop", message))
        if not self.handle.join(STOP_TIMEOUT_S):
            log.warning("receiver %d on executor %s did not stop within %.0f s",
                        self.stream_id, self.executor_id, STOP_TIMEOUT_S)
