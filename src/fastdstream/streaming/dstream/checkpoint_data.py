"""DStreamCheckpointData: what one DStream saves in a streaming checkpoint.

Spark's class of that name. Every DStream has one (``DStream._checkpoint_data``);
a stream with something of its own to save overrides it: the file stream saves
each batch's files, the direct Kafka stream each batch's offset ranges. The
DStreamGraph calls :meth:`~DStreamCheckpointData.update` when a checkpoint of a
batch time is taken, :meth:`~DStreamCheckpointData.cleanup` once it is written,
and :meth:`~DStreamCheckpointData.restore` when a job is rebuilt from one. A
checkpoint holds no code: the data is plain values (lists, tuples, strings,
numbers) by batch time, and the checkpoint keys it by the stream's deterministic
id, so the job that the setup function builds again finds it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastdstream.streaming.dstream.dstream import DStream


class DStreamCheckpointData:
    """What one stream must save, by batch time (ms); this base saves nothing.

    A stream whose batches are rebuilt from its parents' has nothing of its own to
    save. (Spark's base class saves the files of checkpointed RDDs: that comes with
    RDD checkpoints.)

    Parameters
    ----------
    stream : DStream
        The stream whose data this is.
    """

    def __init__(self, stream: DStream):
        self._stream = stream
        # Replaced, never changed in place, by update(): a checkpoint being written
        # keeps the snapshot it took.
        self.data: dict[int, Any] = {}

    @property
    def stream_id(self) -> int:
        """The id the checkpoint keys this data by (the stream's creation order)."""
        return self._stream._id

    def update(self, time_ms: int) -> None:
        """Collect what the stream must save for the batches up to ``time_ms``.

        Parameters
        ----------
        time_ms : int
            Time of the checkpoint being taken (a batch time, ms).
        """

    def cleanup(self, time_ms: int) -> None:
        """Forget what falls out once the checkpoint of ``time_ms`` is written.

        Drops the batches the stream itself has forgotten (older than its remember
        window); subclasses whose ``update`` already leaves those out lose nothing.

        Parameters
        ----------
        time_ms : int
            Time of the checkpoint just written (ms).
        """
        remember_ms = self._stream._remember_ms
        if remember_ms is None:
            return
        kept = {t: entry for t, entry in self.data.items() if t >= time_ms - remember_ms}
        if len(kept) != len(self.data):
            self.data = kept

    def restore(self) -> None:
        """Rebuild the stream's state from ``data`` after a recovery.

        Raises
        ------
        ValueError
            If there is data to restore: this stream saves none, so the checkpoint
            was taken of a different graph.
        """
        if self.data:
            raise ValueError(
                f"checkpoint has data for stream {self.stream_id}, but that stream is now "
                f"a {type(self._stream).__name__}, which saves none: the setup function no "
                "longer builds the graph the checkpoint was taken of"
            )

    def snapshot(self) -> dict[int, Any]:
        """The data as the last ``update`` collected it, by batch time (a shallow copy)."""
        return dict(self.data)
