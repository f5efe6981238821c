"""StreamingListener events and info objects: PySpark's shape, one immutable snapshot each.

Written from PySpark's documented listener API: every figure is a method, a batch
time is a time object with ``milliseconds()``, a time or delay not known yet is -1.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle
import socket
import threading

import pytest
from started_receiver import StartedReceiver

from fastdstream import Receiver, StreamingListener
from fastdstream.streaming.scheduler.listener import (
    BatchInfo,
    OutputOperationInfo,
    ReceiverInfo,
    StreamingListenerBatchCompleted,
    StreamInputInfo,
    Time,
)
from fastdstream.testing import ManualStreaming


class Stored(Receiver):
    """Stores the given records when it starts."""

    def __init__(self, records: list[str]) -> None:
        super().__init__()
        self.records = records

    def onStart(self) -> None:
        self.store(self.records)

    def onStop(self) -> None:
        pass


def batch_infos(manual: ManualStreaming, name: str) -> list[BatchInfo]:
    return [event.batchInfo() for event in manual.recorder.events_named(name)]


def run_one_receiver_batch(manual: ManualStreaming, processing_ms: int) -> int:
    """One batch of 3 received records whose output operation takes ``processing_ms`` of
    manual-clock time; returns the receiver stream's id."""
    stream = manual.ssc.receiverStream(Stored(["a", "b", "c"]))

    def output(rdd) -> None:
        rdd.count()
        manual.clock.advance(processing_ms)

    stream.foreachRDD(output)
    manual.start()
    manual.cut_blocks(stream._id, 3)
    manual.run_batches(1)
    return stream._id


def test_batch_info_has_pysparks_methods_and_minus_one_while_unknown(
    manual: ManualStreaming,
) -> None:
    stream_id = run_one_receiver_batch(manual, processing_ms=7)
    (submitted,) = batch_infos(manual, "batchSubmitted")
    (started,) = batch_infos(manual, "batchStarted")
    (completed,) = batch_infos(manual, "batchCompleted")
    t0 = submitted.submissionTime()  # the manual clock stands still until the job moves it
    for info in (submitted, started, completed):
        assert isinstance(info.batchTime(), Time)
        assert info.batchTime().milliseconds() == 1000
        assert info.submissionTime() == t0
        assert info.numRecords() == 3
        assert list(info.streamIdToInputInfo()) == [stream_id]
        assert list(info.outputOperationInfos()) == [0]

    assert (submitted.processingStartTime(), submitted.processingEndTime()) == (-1, -1)
    assert (submitted.schedulingDelay(), submitted.processingDelay(),
            submitted.totalDelay()) == (-1, -1, -1)
    assert (started.processingStartTime(), started.processingEndTime()) == (t0, -1)
    assert (started.schedulingDelay(), started.processingDelay(),
            started.totalDelay()) == (0, -1, -1)
    assert (completed.processingStartTime(), completed.processingEndTime()) == (t0, t0 + 7)
    assert (completed.schedulingDelay(), completed.processingDelay(),
            completed.totalDelay()) == (0, 7, 7)


def test_output_operation_info_has_pysparks_methods(manual: ManualStreaming) -> None:
    run_one_receiver_batch(manual, processing_ms=5)
    t0 = batch_infos(manual, "batchSubmitted")[0].submissionTime()
    (started,) = [e.outputOperationInfo()
                  for e in manual.recorder.events_named("outputOperationStarted")]
    (completed,) = [e.outputOperationInfo()
                    for e in manual.recorder.events_named("outputOperationCompleted")]
    for op in (started, completed):
        assert op.batchTime() == Time(1000) and op.batchTime().milliseconds() == 1000
        assert op.id() == 0
        assert isinstance(op.name(), str) and op.name()
        assert isinstance(op.description(), str) and op.description()
        assert op.failureReason() is None
    assert (started.startTime(), started.endTime(), started.duration()) == (t0, -1, -1)
    assert (completed.startTime(), completed.endTime(), completed.duration()) == (
        t0, t0 + 5, 5)
    submitted_op = batch_infos(manual, "batchSubmitted")[0].outputOperationInfos()[0]
    assert (submitted_op.startTime(), submitted_op.endTime()) == (-1, -1)
    assert batch_infos(manual, "batchCompleted")[0].outputOperationInfos()[0] == completed


def test_stream_input_info_has_pysparks_methods(manual: ManualStreaming) -> None:
    stream_id = run_one_receiver_batch(manual, processing_ms=0)
    info = batch_infos(manual, "batchCompleted")[0].streamIdToInputInfo()[stream_id]
    assert info.inputStreamId() == stream_id
    assert info.numRecords() == 3
    assert len(info.metadata()["blocks"]) == 1
    assert info.metadataDescription() is None  # receivers give no description, as in Spark
    described = StreamInputInfo(0, 1, {StreamInputInfo.METADATA_KEY_DESCRIPTION: 42})
    assert described.metadataDescription() == "42"


def test_a_kept_batch_submitted_info_never_changes(manual: ManualStreaming) -> None:
    # A listener keeps each event's info and what it read from it at that moment.
    seen: list[tuple[str, BatchInfo, str]] = []

    class Keeper(StreamingListener):
        def onBatchSubmitted(self, batchSubmitted):
            seen.append(("submitted", batchSubmitted.batchInfo(),
                         repr(batchSubmitted.batchInfo())))

        def onBatchStarted(self, batchStarted):
            seen.append(("started", batchStarted.batchInfo(), repr(batchStarted.batchInfo())))

    manual.ssc.addStreamingListener(Keeper())
    run_one_receiver_batch(manual, processing_ms=3)
    (completed,) = batch_infos(manual, "batchCompleted")
    assert completed.processingDelay() == 3
    (_, submitted, then), (_, started, started_then) = seen
    assert repr(submitted) == then and repr(started) == started_then
    assert submitted.processingStartTime() == -1 and submitted.processingEndTime() == -1
    assert submitted.processingDelay() == -1 and submitted.totalDelay() == -1
    assert submitted.outputOperationInfos()[0].startTime() == -1
    assert started.processingEndTime() == -1 and started.processingDelay() == -1
    assert submitted is not started and started is not completed


def test_a_failed_output_operation_gives_its_reason(manual: ManualStreaming) -> None:
    def fail(rdd) -> None:
        raise ZeroDivisionError("output failed on purpose")

    manual.ssc.queueStream([[1]]).foreachRDD(fail)
    manual.start()
    manual.run_batches(1)
    manual.take_error()
    (started,) = [e.outputOperationInfo()
                  for e in manual.recorder.events_named("outputOperationStarted")]
    (completed,) = [e.outputOperationInfo()
                    for e in manual.recorder.events_named("outputOperationCompleted")]
    assert started.failureReason() is None
    reason = completed.failureReason()
    assert isinstance(reason, str) and "ZeroDivisionError: output failed on purpose" in reason
    assert batch_infos(manual, "batchCompleted")[0].outputOperationInfos()[0] == completed


def test_receiver_info_has_pysparks_methods(manual: ManualStreaming) -> None:
    receiver = StartedReceiver()
    stream = manual.ssc.receiverStream(receiver)
    stream.foreachRDD(lambda rdd: None)
    manual.start()
    assert receiver.started.wait(10)
    started = manual.recorder.wait_for_event("receiverStarted").receiverInfo()
    manual.clock.advance(5)
    receiver.reportError("disk on fire", ValueError("smoke"))
    error = manual.recorder.wait_for_event("receiverError").receiverInfo()
    manual.stop()
    stopped = manual.recorder.wait_for_event("receiverStopped").receiverInfo()

    for info in (started, error, stopped):
        assert info.streamId() == stream._id
        assert info.name() == "StartedReceiver"
        assert info.location() == socket.gethostname()  # receivers run on the driver
        assert info.executorId() == "driver"
    assert started.active() is True and error.active() is True
    assert stopped.active() is False
    assert (started.lastErrorMessage(), started.lastError(), started.lastErrorTime()) == (
        "", "", -1)
    assert error.lastErrorMessage() == "disk on fire"
    assert "ValueError: smoke" in error.lastError()
    assert error.lastErrorTime() == 5
    # A stopped receiver keeps the last error it reported, as in Spark.
    assert (stopped.lastErrorMessage(), stopped.lastError(), stopped.lastErrorTime()) == (
        error.lastErrorMessage(), error.lastError(), error.lastErrorTime())


def test_streaming_started_gives_its_time(manual: ManualStreaming) -> None:
    manual.ssc.queueStream([[1]]).foreachRDD(lambda rdd: None)
    manual.clock.advance(123)
    manual.start()
    event = manual.recorder.wait_for_event("streamingStarted")
    assert event.time() == 123


def test_info_objects_and_events_cannot_be_changed() -> None:
    op = OutputOperationInfo(1000, 0, "foreachRDD", "foreachRDD")
    info = BatchInfo(1000, {0: StreamInputInfo(0, 2, {"files": ["a", "b"]})}, 1000,
                     outputOperationInfos={0: op})
    receiver = ReceiverInfo(0, "r", True, "host", "driver")
    for obj, name in [(info, "_processing_start_time"), (op, "_end_time"),
                      (info.streamIdToInputInfo()[0], "_num_records"),
                      (receiver, "_active"), (Time(1000), "_millis")]:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(obj, name, 1)
    with pytest.raises(TypeError):
        info.streamIdToInputInfo()[1] = StreamInputInfo(1, 1)
    with pytest.raises(TypeError):
        info.outputOperationInfos()[0] = op
    metadata = info.streamIdToInputInfo()[0].metadata()
    assert metadata["files"] == ("a", "b")  # a list given becomes a tuple
    with pytest.raises(TypeError):
        metadata["files"] = ()
    event = StreamingListenerBatchCompleted(info)
    with pytest.raises(AttributeError):
        event._payload = None


def test_metadata_values_of_other_types_are_kept_as_they_are() -> None:
    from collections import namedtuple

    Range = namedtuple("Range", "topic partition")
    info = StreamInputInfo(0, 1, {"offsets": [Range("t", 0)], "ids": {1, 2}, "n": 3})
    (offset,) = info.metadata()["offsets"]
    assert type(offset) is Range and offset.topic == "t"
    assert info.metadata()["ids"] == frozenset({1, 2}) and info.metadata()["n"] == 3


def test_info_objects_are_copied_from_what_they_are_given() -> None:
    inputs = {0: StreamInputInfo(0, 2)}
    metadata = {"files": ["a"]}
    info = BatchInfo(1000, inputs, 1000)
    stream_info = StreamInputInfo(1, 1, metadata)
    inputs[1] = stream_info
    metadata["files"].append("b")
    assert list(info.streamIdToInputInfo()) == [0]
    assert stream_info.metadata()["files"] == ("a",)


def test_info_objects_compare_pickle_and_copy_by_value() -> None:
    info = BatchInfo(Time(1000), {0: StreamInputInfo(0, 2, {"files": ["a"], "n": {"k": 1}})},
                     1001, 1002, 1005,
                     {0: OutputOperationInfo(1000, 0, "op", "op", 1002, 1005, None)})
    assert BatchInfo(1000, dict(info.streamIdToInputInfo()), 1001, 1002, 1005,
                     dict(info.outputOperationInfos())) == info
    for again in (pickle.loads(pickle.dumps(info)), copy.deepcopy(info), copy.copy(info)):
        assert again == info
        assert again.streamIdToInputInfo()[0].metadata()["n"]["k"] == 1
    receiver = ReceiverInfo(0, "r", True, "host", "driver", "m", "e", 5)
    assert pickle.loads(pickle.dumps(receiver)) == receiver
    assert "numRecords=2" in repr(info) and "Time(1000)" in repr(info)


def test_time_is_a_time_object_not_an_int() -> None:
    t = Time(1000)
    assert t.milliseconds() == 1000
    assert str(t) == "1000 ms"
    assert Time(1000) < Time(2000) and Time(1000) == Time(1000)
    assert t != 1000  # as PySpark's Java Time object: read it with milliseconds()
    assert hash(Time(1000)) == hash(Time(1000))


def test_a_listener_written_for_pyspark_sees_what_pyspark_gives(
    manual: ManualStreaming,
) -> None:
    # The checks of PySpark's own listener test, on a queue stream of four batches.
    class BatchInfoCollector(StreamingListener):
        def __init__(self) -> None:
            super().__init__()
            self.submitted: list = []
            self.started: list = []
            self.completed: list = []
            self.streaming_started: list = []

        def onStreamingStarted(self, streamingStarted):
            self.streaming_started.append(streamingStarted.time())

        def onBatchSubmitted(self, batchSubmitted):
            self.submitted.append(batchSubmitted.batchInfo())

        def onBatchStarted(self, batchStarted):
            self.started.append(batchStarted.batchInfo())

        def onBatchCompleted(self, batchCompleted):
            self.completed.append(batchCompleted.batchInfo())

    collector = BatchInfoCollector()
    manual.ssc.addStreamingListener(collector)
    out: list = []
    manual.ssc.queueStream([[1], [2], [3], [4]]).map(int).foreachRDD(
        lambda rdd: out.append(rdd.collect()))
    manual.start()
    manual.run_batches(4)
    assert out == [[1], [2], [3], [4]]
    assert len(collector.streaming_started) == 1
    for infos, started, completed in [(collector.submitted, False, False),
                                      (collector.started, True, False),
                                      (collector.completed, True, True)]:
        assert len(infos) == 4
        for info in infos:
            assert info.batchTime().milliseconds() >= 0
            assert info.submissionTime() >= 0
            assert dict(info.streamIdToInputInfo()) == {}  # a queue reports no input
            for op in info.outputOperationInfos().values():
                assert op.batchTime().milliseconds() >= 0
                assert op.id() >= 0
                assert op.name() is not None and op.description() is not None
                assert op.startTime() >= (0 if completed else -1)
                assert op.endTime() >= (0 if completed else -1)
                assert op.failureReason() is None
            assert info.schedulingDelay() >= 0 if started else info.schedulingDelay() == -1
            assert info.processingDelay() >= 0 if completed else info.processingDelay() == -1
            assert info.totalDelay() >= 0 if completed else info.totalDelay() == -1
            assert info.numRecords() == 0


def test_no_snapshot_is_built_without_a_listener(monkeypatch: pytest.MonkeyPatch) -> None:
    from fastdstream import Context, StreamingContext
    from fastdstream.streaming.scheduler.job_scheduler import Job, JobSet

    built: list[str] = []
    for cls, method in [(JobSet, "batch_info"), (Job, "info")]:
        original = getattr(cls, method)
        monkeypatch.setattr(cls, method, lambda self, _o=original, _m=method: (
            built.append(_m), _o(self))[1])
    # The status page listens too (it is on by default); without it, nobody does.
    ssc = StreamingContext(Context("local[1]", conf={"spark.streaming.clock": "manual",
                                                     "spark.ui.enabled": "false"}), 1)
    ran = threading.Event()
    ssc.queueStream([[1]]).foreachRDD(lambda rdd: ran.set())
    ssc.start()
    try:
        ssc._clock.advance(1000)
        assert ran.wait(10)
    finally:
        ssc.stop()  # lets the running batch finish: every event of it has been posted
    assert built == []
