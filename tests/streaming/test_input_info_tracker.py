"""InputInfoTracker: input figures kept by batch time, read back by the JobGenerator."""

from __future__ import annotations

import threading

import pytest

from fastdstream.sources.queue_stream import QueueInputDStream
from fastdstream.streaming.scheduler.input_info_tracker import InputInfoTracker
from fastdstream.streaming.scheduler.listener import StreamInputInfo
from fastdstream.testing import ManualStreaming


class CountingQueue(QueueInputDStream):
    """A queue stream that reports each batch's record count, as a source does.

    (Spark's queue stream reports nothing: ``queueStream`` batches show 0 records.)
    """

    def _compute(self, time_ms: int):
        rdd = super()._compute(time_ms)
        self._report_input_info(time_ms, rdd.count())
        return rdd


def test_infos_are_kept_per_batch_and_stream() -> None:
    tracker = InputInfoTracker()
    tracker.report_info(1000, StreamInputInfo(0, 5))
    tracker.report_info(1000, StreamInputInfo(1, 7, {"files": ["a"]}))
    tracker.report_info(2000, StreamInputInfo(0, 1))
    assert tracker.get_info(1000) == {0: StreamInputInfo(0, 5),
                                      1: StreamInputInfo(1, 7, {"files": ["a"]})}
    assert tracker.get_info(2000) == {0: StreamInputInfo(0, 1)}
    assert tracker.get_info(3000) == {}


def test_reporting_a_batch_twice_for_one_stream_is_an_error() -> None:
    tracker = InputInfoTracker()
    tracker.report_info(1000, StreamInputInfo(3, 5))
    with pytest.raises(RuntimeError, match=r"input stream 3 .* batch 1000 ms"):
        tracker.report_info(1000, StreamInputInfo(3, 5))
    assert tracker.get_info(1000) == {3: StreamInputInfo(3, 5)}


def test_cleanup_drops_batches_strictly_before_the_threshold() -> None:
    tracker = InputInfoTracker()
    for t in (1000, 2000, 3000):
        tracker.report_info(t, StreamInputInfo(0, t // 1000))
    tracker.cleanup(2000)
    assert tracker.batch_times() == [2000, 3000]


def test_a_returned_info_map_is_a_snapshot() -> None:
    tracker = InputInfoTracker()
    tracker.report_info(1000, StreamInputInfo(0, 1))
    seen = tracker.get_info(1000)
    tracker.report_info(1000, StreamInputInfo(1, 2))
    assert list(seen) == [0]


def test_concurrent_reports_are_all_kept() -> None:
    tracker = InputInfoTracker()
    barrier = threading.Barrier(4)

    def report(stream_id: int) -> None:
        barrier.wait()
        for t in range(200):
            tracker.report_info(t, StreamInputInfo(stream_id, t))

    threads = [threading.Thread(target=report, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(len(tracker.get_info(t)) == 4 for t in range(200))


def test_negative_record_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        StreamInputInfo(0, -1)


def test_a_batch_computed_ahead_keeps_its_own_count(manual: ManualStreaming) -> None:
    # Batch 2 is computed before batch 1 (as a window or slice may): each batch must
    # show what it read, not what the stream read last.
    stream = CountingQueue(manual.ssc, [[1, 2, 3], [4]])
    stream.foreachRDD(lambda rdd: rdd.count())
    manual.start()
    first, second = 1000, 2000
    assert stream._get_or_compute(second).collect() == [1, 2, 3]
    assert stream._get_or_compute(first).collect() == [4]
    tracker = manual.ssc._job_scheduler.input_info_tracker
    assert tracker.get_info(second)[stream._id].numRecords() == 3
    assert tracker.get_info(first)[stream._id].numRecords() == 1
    manual.run_batches(2)
    assert [(b.batchTime().milliseconds(), b.numRecords())
            for b in manual.recorder.completed] == [(first, 1), (second, 3)]


def test_slice_over_batches_not_yet_run_reports_each_batch(manual: ManualStreaming) -> None:
    a = CountingQueue(manual.ssc, [[1], [2, 2], [3, 3, 3]])
    b = CountingQueue(manual.ssc, [["x"] * 4, ["y"] * 5, ["z"] * 6])
    a.union(b).foreachRDD(lambda rdd: rdd.count())
    manual.start()
    assert [r.count() for r in a.slice(1000, 3000)] == [1, 2, 3]
    manual.run_batches(3)
    per_batch = [{sid: i.numRecords() for sid, i in info.streamIdToInputInfo().items()}
                 for info in manual.recorder.completed]
    assert per_batch == [{a._id: 1, b._id: 4}, {a._id: 2, b._id: 5}, {a._id: 3, b._id: 6}]


def test_the_tracker_stays_bounded_over_many_batches(manual: ManualStreaming) -> None:
    CountingQueue(manual.ssc, [], default=[1, 2]).foreachRDD(lambda rdd: rdd.count())
    manual.start()
    manual.run_batches(40)
    tracker = manual.ssc._job_scheduler.input_info_tracker
    # The input stream remembers one batch: the completed batch and the one before it.
    assert len(tracker.batch_times()) <= 3
    assert tracker.batch_times()[-1] == 40_000
    assert [b.numRecords() for b in manual.recorder.completed] == [2] * 40


def test_a_queue_stream_reports_no_input_info(manual: ManualStreaming) -> None:
    # As Spark's QueueInputDStream (and Spark's own listener test): nothing reported,
    # so a queue stream's batches show 0 records whatever they hold.
    stream = manual.ssc.queueStream([[1, 2, 3], [4]])
    seen: list = []
    stream.foreachRDD(lambda rdd: seen.append(rdd.collect()))
    manual.start()
    manual.run_batches(2)
    assert seen == [[1, 2, 3], [4]]
    assert manual.ssc._job_scheduler.input_info_tracker.batch_times() == []
    assert [(dict(b.streamIdToInputInfo()), b.numRecords())
            for b in manual.recorder.completed] == [({}, 0), ({}, 0)]


def test_a_receiver_stream_reports_its_blocks(manual: ManualStreaming) -> None:
    from fastdstream import Receiver

    class Stored(Receiver):
        def onStart(self) -> None:
            self.store(["a", "b", "c"])

        def onStop(self) -> None:
            pass

    stream = manual.ssc.receiverStream(Stored())
    stream.foreachRDD(lambda rdd: rdd.count())
    manual.start()
    manual.cut_blocks(stream._id, 3)
    manual.run_batches(2)
    first, second = (b.streamIdToInputInfo()[stream._id] for b in manual.recorder.completed)
    assert first.numRecords() == 3 and len(first.metadata()["blocks"]) == 1
    assert second.numRecords() == 0 and second.metadata()["blocks"] == ()
