"""StreamingContext lifecycle, errors from user functions, listeners."""

from __future__ import annotations

import gc
import itertools
import threading
import weakref

import pytest

from fastdstream import Context, StreamingContext, StreamingJobError, StreamingListener
from fastdstream.sources.queue_stream import QueueInputDStream
from fastdstream.testing import ManualStreaming, wait_until


class _FreezeSeenAtStart(QueueInputDStream):
    """A queue stream that records whether the GC's objects were frozen when it started
    (an input stream starts right before the batch timer does)."""

    frozen_at_start: bool | None = None

    def start(self) -> None:
        self.frozen_at_start = gc.get_freeze_count() > 0
        super().start()


def test_the_gc_freeze_is_made_before_the_input_streams_and_the_batch_timer_start() -> None:
    """The freeze's full collection (40-100 ms with pyarrow and the Kafka client loaded)
    held the GIL while the first batch was generated; at 10 ms batches the batches
    after it queued behind it. Made before the streams start, it delays no batch."""
    streaming = ManualStreaming()
    stream = _FreezeSeenAtStart(streaming.ssc, [[1]])
    stream.foreachRDD(lambda rdd: None)
    streaming.start()
    try:
        assert stream.frozen_at_start is True
    finally:
        streaming.stop()
    assert gc.get_freeze_count() == 0

class _FailingStart(QueueInputDStream):
    def start(self) -> None:
        raise RuntimeError("cannot start")


def test_a_start_that_fails_after_the_gc_freeze_unfreezes() -> None:
    # The freeze comes before the input streams start, so a stream that fails there
    # must not leave the process's objects frozen (nor a later context unfrozen).
    streaming = ManualStreaming()
    _FailingStart(streaming.ssc, [[1]]).foreachRDD(lambda rdd: None)
    try:
        with pytest.raises(RuntimeError, match="cannot start"):
            streaming.start()
        assert gc.get_freeze_count() == 0
    finally:
        streaming.stop()


def test_start_without_output_operations_fails(manual: ManualStreaming) -> None:
    manual.ssc.queueStream([[1]])
    with pytest.raises(ValueError, match="No output operations registered"):
        manual.start()
    assert StreamingContext.getActive() is None


def test_lifecycle_and_active_context(manual: ManualStreaming) -> None:
    manual.ssc.queueStream([[1]]).foreachRDD(lambda rdd: None)
    assert StreamingContext.getActive() is None
    manual.start()
    assert StreamingContext.getActive() is manual.ssc
    assert StreamingContext.getActiveOrCreate(None, lambda: pytest.fail("not called")) \
        is manual.ssc
    with pytest.raises(RuntimeError, match="after the StreamingContext has started"):
        manual.ssc.queueStream([[2]])
    second = ManualStreaming()
    second.ssc.queueStream([[1]]).foreachRDD(lambda rdd: None)
    with pytest.raises(RuntimeError, match="Only one StreamingContext"):
        second.start()
    second.stop()
    assert manual.ssc.awaitTerminationOrTimeout(0.01) is False
    manual.stop()
    assert manual.ssc.awaitTerminationOrTimeout(0.01) is True
    manual.ssc.awaitTermination()  # returns at once once stopped
    assert StreamingContext.getActive() is None
    with pytest.raises(RuntimeError, match="already been stopped"):
        manual.ssc.start()
    manual.stop()  # idempotent


def test_a_running_context_keeps_the_objects_of_its_start_out_of_gc_walks() -> None:
    """Full collections walked every object there was (10-20 ms with pyarrow and the
    Kafka client loaded, a pause of two 10 ms batches): from start to stop those are
    frozen; garbage first goes, and a freeze the program made itself stays its own."""
    assert gc.get_freeze_count() == 0
    streaming = ManualStreaming()
    streaming.ssc.queueStream([[1]]).foreachRDD(lambda rdd: None)
    collected: list[bool] = []

    class Garbage:
        pass

    garbage = Garbage()
    garbage.self = garbage  # type: ignore[attr-defined]
    weakref.finalize(garbage, collected.append, True)
    del garbage
    streaming.start()
    try:
        assert gc.get_freeze_count() > 0
        assert collected == [True]  # collected before the freeze, not frozen
    finally:
        streaming.stop()
    assert gc.get_freeze_count() == 0

    off = ManualStreaming(conf={"fastdstream.streaming.gcFreeze": "false"})
    off.ssc.queueStream([[1]]).foreachRDD(lambda rdd: None)
    off.start()
    try:
        assert gc.get_freeze_count() == 0
    finally:
        off.stop()

    gc.freeze()  # the program's own
    try:
        frozen = gc.get_freeze_count()
        own = ManualStreaming()
        own.ssc.queueStream([[1]]).foreachRDD(lambda rdd: None)
        own.start()
        own.stop()
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


def test_stop_keeps_spark_context_when_asked() -> None:
    streaming = ManualStreaming()
    streaming.ssc.queueStream([[1]]).foreachRDD(lambda rdd: None)
    streaming.start()
    streaming.ssc.stop(stopSparkContext=False)
    assert streaming.sc.parallelize([1, 2]).count() == 2
    streaming.sc.stop()


def test_get_active_or_create_calls_setup() -> None:
    made: list[StreamingContext] = []

    def setup() -> StreamingContext:
        streaming = ManualStreaming()
        made.append(streaming.ssc)
        return streaming.ssc

    ssc = StreamingContext.getActiveOrCreate(None, setup)
    assert made == [ssc]
    ssc.stop()


def test_the_spark_contexts_checkpoint_directory_is_enough_for_checkpointed_streams(
        manual: ManualStreaming, tmp_path) -> None:
    # PySpark: sc.setCheckpointDir(dir) is where RDDs are checkpointed, and that is what a
    # checkpointed stream (updateStateByKey, a window with an inverse function,
    # DStream.checkpoint) needs; ssc.checkpoint(dir) sets it too, and adds the driver's
    # checkpoints for getOrCreate. So a program that only calls sc.setCheckpointDir starts.
    manual.sc.setCheckpointDir(str(tmp_path))
    doubled = manual.ssc.queueStream([[1], [2]]).map(lambda x: 2 * x)
    doubled.checkpoint(1)
    saved: list = []
    doubled.foreachRDD(lambda rdd: saved.append((rdd.collect(), rdd.getCheckpointFile())))
    manual.start()
    manual.run_batches(2)
    assert [values for values, _ in saved] == [[2], [4]]
    for _, path in saved:
        assert path is not None and path.startswith(str(tmp_path))


def test_a_window_with_an_inverse_function_starts_with_the_spark_contexts_directory(
        manual: ManualStreaming, tmp_path) -> None:
    # countByWindow reduces with an inverse function, so its stream is checkpointed
    # (Spark's ReducedWindowedDStream must checkpoint); sc.setCheckpointDir is enough.
    manual.sc.setCheckpointDir(str(tmp_path))
    counts: list = []
    manual.ssc.queueStream([[1], [2, 3]]).countByWindow(2, 1).foreachRDD(
        lambda rdd: counts.append(rdd.collect()))
    manual.start()
    manual.run_batches(3)
    assert counts == [[1], [3], [2]]


def test_failing_batch_surfaces_with_traceback_and_later_batches_run(
    manual: ManualStreaming,
) -> None:
    def explode_on_two(x):
        if x == 2:
            raise ZeroDivisionError("user code failed on purpose")
        return x

    outputs: list = []
    manual.ssc.queueStream([[1], [2], [3]]).map(explode_on_two).foreachRDD(
        lambda rdd: outputs.append(rdd.collect())
    )
    manual.start()
    manual.run_batches(3)
    with pytest.raises(StreamingJobError) as info:
        manual.ssc.awaitTerminationOrTimeout(1)
    message = str(info.value)
    assert "user code failed on purpose" in message
    assert "explode_on_two" in message  # the original traceback text
    assert "2000 ms" in message
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    assert outputs == [[1], [3]]  # batch 3 ran after batch 2 failed
    failed = next(b for b in manual.recorder.completed
                  if b.batchTime().milliseconds() == 2000)
    reason = failed.outputOperationInfos()[0].failureReason()
    assert "ZeroDivisionError" in reason


def test_listener_sees_every_batch_in_order_with_figures(manual: ManualStreaming) -> None:
    manual.ssc.queueStream([[1, 2, 3], [4]]).foreachRDD(lambda rdd: rdd.count())
    manual.start()
    manual.run_batches(2)
    infos = manual.recorder.completed
    assert [b.batchTime().milliseconds() for b in infos] == [1000, 2000]
    assert [b.numRecords() for b in infos] == [0, 0]  # a queue reports no input, as Spark's
    for b in infos:
        assert b.schedulingDelay() >= 0 and b.processingDelay() >= 0
        assert b.totalDelay() == b.schedulingDelay() + b.processingDelay()
    names = [n for n in manual.recorder.names() if n != "streamingStarted"]
    assert names[:5] == ["batchSubmitted", "batchStarted", "outputOperationStarted",
                         "outputOperationCompleted", "batchCompleted"]


def test_a_failing_listener_does_not_stop_the_stream(manual: ManualStreaming) -> None:
    from fastdstream import StreamingListener

    class Broken(StreamingListener):
        def onBatchCompleted(self, batchCompleted):
            raise RuntimeError("listener bug")

    manual.ssc.addStreamingListener(Broken())
    seen: list = []
    manual.ssc.queueStream([[1], [2]]).foreachRDD(lambda rdd: seen.extend(rdd.collect()))
    manual.start()
    manual.run_batches(2)
    assert seen == [1, 2]


def test_system_clock_runs_small_batches() -> None:
    """Real time: 20 ms batches on the system clock keep coming (no figures asserted)."""
    from fastdstream import Context
    from fastdstream.testing import BatchRecorder

    ssc = StreamingContext(Context("local[2]"), 0.02)
    recorder = BatchRecorder()
    ssc.addStreamingListener(recorder)
    ssc.queueStream([], default=ssc.sparkContext.parallelize([1])).count().foreachRDD(
        lambda rdd: rdd.collect())
    ssc.start()
    try:
        recorder.wait_for_batches(5, timeout=10)
    finally:
        ssc.stop()
    times = [b.batchTime().milliseconds() for b in recorder.completed]
    assert all(b - a == 20 for a, b in itertools.pairwise(times))


def test_stop_without_grace_drops_queued_batches_and_stops_everything(
    manual: ManualStreaming, caplog: pytest.LogCaptureFixture
) -> None:
    # The running batch blocks; two more queue up behind it. A non-graceful stop lets the
    # running one finish, drops the queued ones and leaves nothing half-stopped.
    release = threading.Event()
    started: list[list[int]] = []

    def block(rdd) -> None:
        started.append(rdd.collect())
        release.wait(10)

    manual.ssc.queueStream([[1], [2], [3]]).foreachRDD(block)
    manual.start()
    for _ in range(3):
        manual.clock.advance(manual.batch_ms)
    wait_until(lambda: started == [[1]], what="the first batch to start")
    wait_until(lambda: manual.recorder.names().count("batchSubmitted") == 3,
               what="three batches submitted")

    errors: list[BaseException] = []

    def stop() -> None:
        try:
            manual.ssc.stop(stopSparkContext=True, stopGraceFully=False)
        except BaseException as exc:
            errors.append(exc)

    stopper = threading.Thread(target=stop)
    stopper.start()
    wait_until(lambda: "without processing 2 queued batch(es)" in caplog.text,
               what="stop() to drop the queued batches")
    release.set()
    stopper.join(10)
    assert not stopper.is_alive(), "stop() did not return"
    assert errors == []
    assert started == [[1]]  # the queued batches never ran
    assert [b.batchTime().milliseconds() for b in manual.recorder.completed] == [1000]
    assert StreamingContext.getActive() is None
    assert manual.sc._stopped
    assert manual.ssc.awaitTerminationOrTimeout(0.1)


def test_stop_from_inside_an_output_operation_stops_the_context(
        manual: ManualStreaming, reliability) -> None:
    # Spark allows stopping from an output operation: the stop cannot join the job thread
    # it runs on, so it runs on a thread of its own and awaitTermination returns.
    seen: list[list[int]] = []

    def collect_then_stop(rdd) -> None:
        seen.append(rdd.collect())
        manual.ssc.stop(stopSparkContext=True, stopGraceFully=False)

    manual.ssc.queueStream([[1], [2], [3]]).foreachRDD(collect_then_stop)
    manual.start()
    manual.clock.advance(manual.batch_ms)
    manual.ssc.awaitTerminationOrTimeout(10)  # raises the error of a failed batch
    assert manual.ssc.awaitTerminationOrTimeout(0) is True
    assert StreamingContext.getActive() is None
    assert seen == [[1]]
    assert [b.batchTime().milliseconds() for b in manual.recorder.completed] == [1000]
    assert [e.outputOperationInfo().failureReason()
            for e in manual.recorder.events_named("outputOperationCompleted")] == [None]
    wait_until(lambda: manual.sc._stopped, what="the Context to be stopped too")
    reliability.record(
        "ssc.stop() called inside foreachRDD", "stops on a thread of its own; "
        "awaitTermination returns, getActive() is None, the queued batches never run",
        batches_run=len(manual.recorder.completed),
        output_errors=sum(e.outputOperationInfo().failureReason() is not None
                          for e in manual.recorder.events_named("outputOperationCompleted")),
        context_active=StreamingContext.getActive() is not None)
    with pytest.raises(RuntimeError, match="already been stopped"):
        manual.ssc.start()


@pytest.mark.parametrize("where", ["listener", "transform"])
def test_graceful_stop_from_a_listener_or_a_transform_function(
        manual: ManualStreaming, where: str) -> None:
    # The listener bus and the batch timer (where transform functions run) are the
    # context's threads as well: stopping from them must not deadlock on joining them.
    ssc = manual.ssc
    stream = ssc.queueStream([[1], [2]])
    if where == "transform":
        def stop_in_transform(rdd):
            ssc.stop(stopSparkContext=True, stopGraceFully=True)
            return rdd
        stream = stream.transform(stop_in_transform)
    else:
        class StopOnCompletion(StreamingListener):
            def onBatchCompleted(self, batchCompleted) -> None:
                ssc.stop(stopSparkContext=True, stopGraceFully=True)
        ssc.addStreamingListener(StopOnCompletion())
    seen: list[list[int]] = []
    stream.foreachRDD(lambda rdd: seen.append(rdd.collect()))
    manual.start()
    manual.clock.advance(manual.batch_ms)
    assert ssc.awaitTerminationOrTimeout(10) is True
    assert StreamingContext.getActive() is None
    assert seen == [[1]]  # graceful: the batch being generated still ran


def test_start_has_process_executors_import_the_input_streams_modules() -> None:
    # A worker process imports a source's modules (a Kafka client, say) when the stream
    # starts, not inside the first batch's tasks; the back end is told which.
    sc = Context("local-cluster[2,1,1024]")
    ssc = StreamingContext(sc, 1)
    try:
        ssc.queueStream([[1]]).foreachRDD(lambda rdd: None)
        assert "fastdstream.sources.queue_stream" not in sc._backend._preloaded
        ssc.start()
        assert "fastdstream.sources.queue_stream" in sc._backend._preloaded
    finally:
        ssc.stop()
