"""StreamingStatistics from listener events: Kafka ranges and lag, receivers, rates."""

from __future__ import annotations

from fastdstream.sources.kafka.offset_range import OffsetRange
from fastdstream.streaming.scheduler.listener import (
    BatchInfo,
    ReceiverInfo,
    StreamingListenerBatchCompleted,
    StreamingListenerBatchSubmitted,
    StreamingListenerReceiverError,
    StreamingListenerReceiverStarted,
    StreamInputInfo,
)
from fastdstream.streaming.ui.streaming_statistics import (
    InputStreamView,
    StreamingStatistics,
    iso_time,
)


def _kafka_batch(time_ms: int, until: int, latest: int) -> BatchInfo:
    ranges = [OffsetRange("t", 0, until - 10, until), OffsetRange("t", 1, 0, 0)]
    info = StreamInputInfo(0, 10, {"offsets": ranges,
                                   "latestOffsets": {"t/0": latest, "t/1": 0}})
    return BatchInfo(time_ms, {0: info}, time_ms, time_ms + 5, time_ms + 50)


def test_kafka_partitions_show_the_last_range_and_lag_behind_the_latest_offset() -> None:
    rates = iter([None, 250.0])
    stats = StreamingStatistics("app", "app", 1000, [
        InputStreamView(0, "DirectKafkaInputDStream", lambda: next(rates))])
    assert stats.inputs_json()[0]["kafkaPartitions"] == []
    for time_ms, until, latest in ((1000, 10, 100), (2000, 20, 130)):
        batch = _kafka_batch(time_ms, until, latest)
        stats.onBatchSubmitted(StreamingListenerBatchSubmitted(batch))
        stats.onBatchCompleted(StreamingListenerBatchCompleted(batch))
    (stream,) = stats.inputs_json()
    assert stream["backpressureRate"] == 250.0
    p0, p1 = stream["kafkaPartitions"]
    assert (p0["fromOffset"], p0["untilOffset"], p0["latestOffset"], p0["lag"]) == (
        10, 20, 130, 110)
    assert p1["lag"] == 0
    (batch,) = [b for b in stats.batches() if b["batchId"] == 2000]
    assert batch["inputStreams"][0]["offsetRanges"][0] == {
        "topic": "t", "partition": 0, "fromOffset": 10, "untilOffset": 20}
    assert batch["schedulingDelay"] == 5 and batch["processingTime"] == 45
    assert stats.statistics()["avgInputRate"] == 10.0


def test_receivers_show_state_rate_and_last_error() -> None:
    stats = StreamingStatistics("app", "app", 1000)
    started = ReceiverInfo(0, "SocketReceiver", True, "127.0.0.1", "driver")
    stats.onReceiverStarted(StreamingListenerReceiverStarted(started))
    for t in (1000, 2000):
        batch = BatchInfo(t, {0: StreamInputInfo(0, 500)}, t, t, t + 10)
        stats.onBatchSubmitted(StreamingListenerBatchSubmitted(batch))
        stats.onBatchCompleted(StreamingListenerBatchCompleted(batch))
    failed = ReceiverInfo(0, "SocketReceiver", False, "127.0.0.1", "driver",
                          "connection refused", "Traceback ...", 2500)
    stats.onReceiverError(StreamingListenerReceiverError(failed))
    (receiver,) = stats.receivers()
    assert receiver["isActive"] is False and receiver["numRecords"] == 1000
    assert receiver["avgEventRate"] == 500.0
    assert receiver["lastErrorMessage"] == "connection refused"
    assert receiver["lastErrorTime"] == iso_time(2500)
    counts = stats.statistics()
    assert (counts["numReceivers"], counts["numActiveReceivers"]) == (1, 0)


def test_iso_time_is_sparks_rest_format() -> None:
    assert iso_time(1_700_000_000_123) == "2023-11-14T22:13:20.123GMT"
