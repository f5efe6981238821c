"""ReceiverInputDStream: a stream whose batches are the blocks its receiver stored."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from fastdstream.engine.rdd import RDD
from fastdstream.engine.rdds import BlockRDD
from fastdstream.engine.tasks import BlockFallback
from fastdstream.streaming.dstream.input_dstream import InputDStream
from fastdstream.streaming.receiver.wal import read_block_data

if TYPE_CHECKING:
    from fastdstream.streaming.receiver.receiver import Receiver
    from fastdstream.streaming.streaming_context import StreamingContext


class ReceiverInputDStream(InputDStream):
    def __init__(self, ssc: StreamingContext, receiver: Receiver):
        super().__init__(ssc)
        self._receiver = receiver

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
                        fallbacks)

    def _on_forget(self, rdd: RDD) -> None:
        super()._on_forget(rdd)
        if isinstance(rdd, BlockRDD):
            self._ssc._receiver_tracker.forget_blocks(
                self._id, list(zip(rdd.block_ids, rdd.locations, strict=True))
            )
