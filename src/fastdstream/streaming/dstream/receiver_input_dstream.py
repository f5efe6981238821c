"""ReceiverInputDStream: a stream whose batches are the blocks its receiver stored.

With the write-ahead log on, the stream saves in a streaming checkpoint the ids of
the blocks each remembered batch read (Spark keeps them in the ReceivedBlockTracker's
log); a recovered job reads those batches' blocks back from the log, and the
receiver tracker does not replay them again into a new batch.
"""

from __future__ import annotations

import contextlib
import logging
import os
from functools import partial
from typing import TYPE_CHECKING

from fastdstream.clock import batch_time_text
from fastdstream.engine.backend.block_manager import BlockId
from fastdstream.engine.rdd import RDD
from fastdstream.engine.rdds import BlockRDD
from fastdstream.engine.tasks import BlockFallback
from fastdstream.streaming.dstream.checkpoint_data import DStreamCheckpointData
from fastdstream.streaming.dstream.input_dstream import InputDStream
from fastdstream.streaming.receiver.wal import read_block, read_block_data, wal_path

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from fastdstream.streaming.receiver.receiver import Receiver
    from fastdstream.streaming.streaming_context import StreamingContext


class ReceiverInputDStream(InputDStream):
    def __init__(self, ssc: StreamingContext, receiver: Receiver):
        super().__init__(ssc)
        self._receiver = receiver
        # Blocks a restored batch reads: already given to a batch, not to replay.
        self._restored_block_ids: set[BlockId] = set()
        self._checkpoint_data = ReceiverInputDStreamCheckpointData(self)

    def getReceiver(self) -> Receiver:
        return self._receiver

    def _compute(self, time_ms: int) -> RDD | None:
        blocks = self._ssc._receiver_tracker.blocks_of_batch(time_ms, self._id)
        self._report_input_info(time_ms, sum(b.num_records for b in blocks),
                                {"blocks": [b.block_id for b in blocks]})
        # With the write-ahead log on, a block lost with its executor is read from the log.
        fallbacks: list[BlockFallback | None] = [
            partial(read_block_data, b.wal_path) if b.wal_path is not None else None
            for b in blocks
        ]
        return BlockRDD(self._sc, [b.block_id for b in blocks], [b.location for b in blocks],
                        fallbacks, [b.handle for b in blocks])

    def _on_forget(self, rdd: RDD) -> None:
        super()._on_forget(rdd)
        if isinstance(rdd, BlockRDD):
            self._ssc._receiver_tracker.forget_blocks(
                self._id, list(zip(rdd.block_ids, rdd.locations, strict=True))
            )


class ReceiverInputDStreamCheckpointData(DStreamCheckpointData):
    """A receiver stream saves, per remembered batch time, the ids of the blocks the
    batch read -- when they are in the write-ahead log (without it there is nothing a
    restarted job could read them from)."""

    def __init__(self, stream: ReceiverInputDStream):
        super().__init__(stream)
        self._receiver_stream = stream

    def update(self, time_ms: int) -> None:
        stream = self._receiver_stream
        with stream._generated_lock:
            generated = list(stream._generated.items())
        self.data = {
            t: [list(block_id) for block_id in rdd.block_ids]
            for t, rdd in generated
            if isinstance(rdd, BlockRDD) and rdd.fallbacks is not None
            and all(f is not None for f in rdd.fallbacks)
        }

    def restore(self) -> None:
        stream = self._receiver_stream
        checkpoint_dir = stream._ssc._checkpoint_dir
        if checkpoint_dir is None:
            raise ValueError(f"checkpoint data of stream {self.stream_id} (a receiver stream) "
                             "needs the checkpoint directory set before it is restored")
        for t, ids in sorted(self.data.items()):
            try:
                block_ids: list[BlockId] = [tuple(block_id) for block_id in ids]
            except TypeError as exc:
                raise ValueError(
                    f"checkpoint data of stream {self.stream_id} (a receiver stream) for "
                    f"batch {t} ms is not a list of block ids ({exc}): the setup function "
                    "no longer builds the graph the checkpoint was taken of"
                ) from exc
            paths = [wal_path(checkpoint_dir, self.stream_id, b) for b in block_ids]
            missing = [b for b, p in zip(block_ids, paths, strict=True) if not os.path.exists(p)]
            if missing and not self._is_rerun(t):
                # The batch had completed when the checkpoint was taken: its blocks were
                # being deleted (they go once it is forgotten) when the driver died.
                # Those left are not replayed -- that would process them twice -- but
                # deleted as the batch would have; nothing is lost.
                left = [p for p in paths if os.path.exists(p)]
                log.warning("receiver stream %d: batch %s had completed and %d of its "
                            "%d logged block(s) were already deleted; deleting the %d left, "
                            "not replaying them", self.stream_id, batch_time_text(t),
                            len(missing),
                            len(block_ids), len(left))
                for path in left:
                    with contextlib.suppress(FileNotFoundError):
                        os.remove(path)
                stream._restored_block_ids.update(block_ids)
                continue
            if missing:
                # A batch that runs again after the recovery, some of whose logged blocks
                # are gone (deleted or lost by hand, or the batch completed after the
                # checkpoint and was forgotten): it reads the blocks there are, once (not
                # replayed as well); what the missing ones held cannot be read.
                log.error("receiver stream %d: batch %s runs again without %d of its "
                          "%d logged block(s), gone from the write-ahead log in %s: %s; "
                          "their records are lost unless the batch had completed before "
                          "the driver stopped", self.stream_id, batch_time_text(t),
                          len(missing),
                          len(block_ids), os.path.dirname(paths[0]),
                          ", ".join(os.path.basename(wal_path(checkpoint_dir, self.stream_id, b))
                                    for b in missing))
                present = [(b, p) for b, p in zip(block_ids, paths, strict=True)
                           if b not in missing]
                block_ids = [b for b, _ in present]
                paths = [p for _, p in present]
            locations = []
            for block_id, path in zip(block_ids, paths, strict=True):
                logged = read_block(path)
                locations.append(stream._sc._store_block(block_id, logged.data))
            rdd = BlockRDD(stream._sc, block_ids, locations,
                           [partial(read_block_data, path) for path in paths])
            log.info("receiver stream %d: restored batch %s, %d block(s) from the "
                     "write-ahead log", self.stream_id, batch_time_text(t), len(block_ids))
            with stream._generated_lock:
                stream._generated[t] = rdd
            stream._restored_block_ids.update(block_ids)

    def _is_rerun(self, time_ms: int) -> bool:
        """Whether batch ``time_ms`` runs again after this recovery: pending at the
        checkpoint, or not before it (the job generator's down times start at the
        checkpoint's own time). Unknown (no checkpoint being recovered): assumed so."""
        checkpoint = self._receiver_stream._ssc._initial_checkpoint
        if checkpoint is None:
            return True
        return time_ms in checkpoint.pending_times or time_ms >= checkpoint.checkpoint_time
