"""DStreamCheckpointData: what one DStream saves in a streaming checkpoint.

Spark's class of that name. Every DStream has one (``DStream._checkpoint_data``);
a stream with something of its own to save overrides it: the file stream saves
each batch's files, the direct Kafka stream each batch's offset ranges. The
DStreamGraph calls :meth:`~DStreamCheckpointData.update` (and
:meth:`~DStreamCheckpointData.update_files`) when a checkpoint of a batch time is
taken, :meth:`~DStreamCheckpointData.cleanup` once it is written,
and :meth:`~DStreamCheckpointData.restore` when a job is rebuilt from one. A
checkpoint holds no code: the data is plain values (lists, tuples, strings,
numbers) by batch time, and the checkpoint keys it by the stream's deterministic
id, so the job that the setup function builds again finds it.
"""

from __future__ import annotations

import logging
import shutil
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastdstream.streaming.dstream.dstream import DStream

log = logging.getLogger(__name__)

# How many streaming checkpoint files are kept: recovery falls back to an older one
# when the newest is unreadable, so the RDD files those refer to are kept too.
CHECKPOINTS_KEPT = 5


class DStreamCheckpointData:
    """What one stream must save, by batch time (ms); this base saves nothing.

    A stream whose batches are rebuilt from its parents' has nothing of its own to
    save in ``data``. Every stream, as Spark's base class does, also saves the
    directories of its checkpointed RDDs by batch time (``files``): a recovered job
    reads those RDDs back instead of recomputing them (a state needs its last
    checkpointed RDD, not a lineage from the first batch).

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
        # The checkpointed RDDs' directories as the last update_files saw them (replaced,
        # never changed in place), every one known (to delete when no longer needed), and
        # per checkpoint taken (its time) the oldest batch time its files go back to. A
        # checkpoint's entry stays while the checkpoint may be read back: while it is
        # queued (the writer runs behind), and until CHECKPOINTS_KEPT newer ones are
        # written. (Counting updates instead let a writer running ten updates behind
        # delete the files of the checkpoint it had just written.)
        self.files: dict[int, str] = {}
        self._all_files: dict[int, str] = {}
        self._oldest_file_times: dict[int, int] = {}

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

    def update_files(self, time_ms: int) -> None:
        """Collect the directories of the stream's checkpointed RDDs (Spark's
        ``DStreamCheckpointData.update``: ``rdd.getCheckpointFile`` of each generated RDD).

        Parameters
        ----------
        time_ms : int
            Time of the checkpoint being taken (a batch time, ms).
        """
        stream = self._stream
        with stream._generated_lock:
            generated = list(stream._generated.items())
        files = {t: path for t, rdd in generated
                 if rdd is not None and (path := rdd.getCheckpointFile()) is not None}
        self.files = files
        self._all_files.update(files)
        if files:
            # Two updates per batch (generated, completed) share one checkpoint file.
            oldest = self._oldest_file_times.get(time_ms, min(files))
            self._oldest_file_times[time_ms] = min(oldest, min(files))

    def cleanup_files(self, time_ms: int) -> None:
        """Delete RDD checkpoint directories no kept streaming checkpoint refers to.

        Parameters
        ----------
        time_ms : int
            Time of the checkpoint just written (ms).
        """
        written = sorted(t for t in self._oldest_file_times if t <= time_ms)
        for t in written[:-CHECKPOINTS_KEPT]:
            del self._oldest_file_times[t]
        if not self._oldest_file_times:
            return
        oldest_needed = min(self._oldest_file_times.values())
        stream = self._stream
        with stream._generated_lock:
            in_use = set(stream._generated)
        for t in [t for t in self._all_files if t < oldest_needed and t not in in_use]:
            path = self._all_files.pop(t)
            log.debug("deleting the RDD checkpoint of %r at %d ms: %s", stream, t, path)
            shutil.rmtree(path, ignore_errors=True)

    def restore_files(self, files: dict[int, str]) -> None:
        """Read the stream's checkpointed RDDs back from their directories into its
        generated RDDs (Spark's ``DStreamCheckpointData.restore``).

        Parameters
        ----------
        files : dict
            Batch time (ms) -> checkpoint directory of that batch's RDD.
        """
        stream = self._stream
        for t, path in sorted(files.items()):
            with stream._generated_lock:
                if t in stream._generated:
                    continue  # the source restored this batch from its own data, exactly
            rdd = stream._sc._checkpointFile(path)
            log.info("restoring the RDD of %r at %d ms from %s", stream, t, path)
            with stream._generated_lock:
                stream._generated[t] = rdd
        self.files = dict(files)
        self._all_files.update(files)
        if files:
            # The checkpoint read back stays among the kept ones until newer ones replace
            # it (its time is at least its newest file's).
            self._oldest_file_times[max(files)] = min(files)

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
