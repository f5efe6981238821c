"""InputInfoTracker: what each input stream read, per batch time (Spark's InputInfoTracker).

An input stream reports a :class:`StreamInputInfo` (record count, and metadata
such as Kafka offset ranges or the files read) when it computes a batch; the
JobGenerator reads the batch's infos back by batch time when it submits the
batch's jobs. Keying by batch time rather than "the last batch computed" keeps
the counts right when a batch other than the newest is computed (a window, a
``slice``, a stream computed ahead, a recovery).
"""

from __future__ import annotations

import logging
import threading

from fastdstream.streaming.scheduler.listener import StreamInputInfo

log = logging.getLogger(__name__)


class InputInfoTracker:
    """Input information of every input stream, by batch time; safe to use from any thread.

    Examples
    --------
    >>> tracker = InputInfoTracker()
    >>> tracker.report_info(1000, StreamInputInfo(0, 5))
    >>> tracker.get_info(1000)
    {0: StreamInputInfo(inputStreamId=0, numRecords=5, metadata={})}
    >>> tracker.cleanup(2000)
    >>> tracker.get_info(1000)
    {}
    """

    def __init__(self) -> None:
        self._batch_time_to_infos: dict[int, dict[int, StreamInputInfo]] = {}
        self._lock = threading.Lock()

    def report_info(self, batch_time: int, input_info: StreamInputInfo) -> None:
        """Record what one input stream read for the batch of ``batch_time``.

        Parameters
        ----------
        batch_time : int
            Batch time, milliseconds since the epoch.
        input_info : StreamInputInfo
            The stream's figures for that batch.

        Raises
        ------
        RuntimeError
            If the stream already reported for this batch: a batch is read once, and
            a second report means it was computed twice (as Spark, an illegal state).
        """
        with self._lock:
            infos = self._batch_time_to_infos.setdefault(batch_time, {})
            if input_info.inputStreamId() in infos:
                raise RuntimeError(
                    f"input stream {input_info.inputStreamId()} already reported its input for "
                    f"batch {batch_time} ms to the InputInfoTracker; a batch must be read once"
                )
            infos[input_info.inputStreamId()] = input_info

    def get_info(self, batch_time: int) -> dict[int, StreamInputInfo]:
        """The infos reported for ``batch_time``, by input stream id (empty if none).

        Parameters
        ----------
        batch_time : int
            Batch time, milliseconds since the epoch.

        Returns
        -------
        dict of int to StreamInputInfo
            A copy: later reports do not change what a submitted batch shows.
        """
        with self._lock:
            return dict(self._batch_time_to_infos.get(batch_time, {}))

    def cleanup(self, batch_threshold_time: int) -> None:
        """Forget the infos of batches older than ``batch_threshold_time``.

        Parameters
        ----------
        batch_threshold_time : int
            Batches with a time strictly before this (ms) are dropped.
        """
        with self._lock:
            old = [t for t in self._batch_time_to_infos if t < batch_threshold_time]
            for t in old:
                del self._batch_time_to_infos[t]
        if old:
            log.debug("removed input infos of batches %s", old)

    def batch_times(self) -> list[int]:
        """The batch times that have infos now, oldest first (for inspection and tests)."""
        with self._lock:
            return sorted(self._batch_time_to_infos)
