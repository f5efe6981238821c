"""The block interval: its default follows the batch interval; a value above it warns."""

from __future__ import annotations

import logging
import threading

import pytest

from fastdstream import Context, Receiver, StreamingContext
from fastdstream.testing import ManualStreaming, wait_until


class ListReceiver(Receiver):
    """Stores what the test hands it."""

    def __init__(self) -> None:
        super().__init__()
        self.started = threading.Event()

    def onStart(self) -> None:
        self.started.set()

    def onStop(self) -> None:
        pass


def _started(streaming: ManualStreaming) -> tuple[ListReceiver, int, list[int]]:
    receiver = ListReceiver()
    stream = streaming.ssc.receiverStream(receiver)
    counts: list[int] = []
    stream.foreachRDD(lambda rdd: counts.append(rdd.count()))
    streaming.start()
    assert receiver.started.wait(5)
    return receiver, stream._id, counts


def _stored(streaming: ManualStreaming, receiver: ListReceiver, stream_id: int,
            rows: int) -> None:
    receiver.store(list(range(rows)))
    tracker = streaming.ssc._receiver_tracker
    wait_until(lambda: tracker.pending_rows(stream_id) >= rows, 10, "records stored")


def test_default_block_interval_is_half_a_short_batch_so_every_batch_gets_data() -> None:
    streaming = ManualStreaming(batch_seconds=0.1)
    try:
        receiver, stream_id, counts = _started(streaming)
        tracker = streaming.ssc._receiver_tracker
        for batch, rows in enumerate([3, 5, 2], start=1):
            _stored(streaming, receiver, stream_id, rows)
            # Half a batch interval cuts the block: 200 ms (Spark's default) would not.
            streaming.clock.advance(50)
            wait_until(lambda rows=rows: tracker.unallocated_rows(stream_id) >= rows, 10,
                       "records cut into a block after 50 ms")
            streaming.clock.advance(50)
            streaming.recorder.wait_for_batches(batch)
        assert counts == [3, 5, 2]
    finally:
        streaming.stop()


@pytest.mark.parametrize(("batch_seconds", "block_ms"), [(1.0, 200), (0.4, 200), (0.3, 150),
                                                         (0.01, 5), (0.001, 1)])
def test_default_block_interval_is_at_most_200_ms_and_half_the_batch(
        batch_seconds: float, block_ms: int, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="fastdstream.streaming"):
        streaming = ManualStreaming(batch_seconds=batch_seconds)
        streaming.stop()
    assert streaming.ssc._block_interval_ms == block_ms
    assert not [r for r in caplog.records if "blockInterval" in r.getMessage()]


def test_a_block_interval_above_the_batch_interval_is_kept_with_one_warning(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="fastdstream.streaming"):
        streaming = ManualStreaming(batch_seconds=0.1,
                                    conf={"spark.streaming.blockInterval": "200ms"})
        try:
            receiver, stream_id, counts = _started(streaming)
            _stored(streaming, receiver, stream_id, 4)
            streaming.run_batches(1)  # no block cut before 200 ms: an empty batch
            assert counts == [0]
            # The block is cut at 200 ms, as that batch's time comes: it may be handed to
            # the tracker just after the batch took its blocks, and then goes in the next.
            streaming.run_batches(1)
            tracker = streaming.ssc._receiver_tracker
            wait_until(lambda: sum(counts) + tracker.unallocated_rows(stream_id) >= 4, 10,
                       "the block cut at 200 ms")
            streaming.run_batches(1)
            assert sum(counts) == 4
        finally:
            streaming.stop()
    warnings = [r.getMessage() for r in caplog.records if "blockInterval" in r.getMessage()]
    assert len(warnings) == 1
    assert "200 ms" in warnings[0] and "batch interval (100 ms)" in warnings[0]


def test_a_block_interval_within_the_batch_interval_is_used_as_set(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="fastdstream.streaming"):
        streaming = ManualStreaming(batch_seconds=0.1,
                                    conf={"spark.streaming.blockInterval": "100ms"})
        streaming.stop()
    assert streaming.ssc._block_interval_ms == 100
    assert not [r for r in caplog.records if "blockInterval" in r.getMessage()]


def test_a_block_interval_that_is_not_positive_is_an_error() -> None:
    sc = Context("local[2]", conf={"spark.streaming.blockInterval": "0"})
    try:
        with pytest.raises(ValueError, match=r"spark\.streaming\.blockInterval=0 ms"):
            StreamingContext(sc, 1)
    finally:
        sc.stop()
