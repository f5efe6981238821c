"""Receivers, block generation and the receiver tracker, on a manual clock."""

from __future__ import annotations

import os
import signal
import threading

import pyarrow as pa
import pytest

from fastdstream import Receiver
from fastdstream.testing import ManualStreaming, block_ids, wait_until


class ListReceiver(Receiver):
    """Stores what the test hands it; counts starts and stops."""

    def __init__(self) -> None:
        super().__init__()
        self.starts = 0
        self.stops = 0
        self.started = threading.Event()

    def onStart(self) -> None:
        self.starts += 1
        self.started.set()

    def onStop(self) -> None:
        self.stops += 1


def test_stored_records_become_blocks_then_batches(manual: ManualStreaming) -> None:
    receiver = ListReceiver()
    stream = manual.ssc.receiverStream(receiver)
    batches: list = []
    stream.foreachRDD(lambda rdd: batches.append((rdd.getNumPartitions(), sorted(rdd.collect()))))
    manual.start()
    assert receiver.started.wait(5)
    receiver.store("a")
    receiver.store(["b", "c"])
    manual.cut_blocks(stream._id, 3)
    receiver.store(pa.table({"value": ["d"]}))
    manual.cut_blocks(stream._id, 4)
    manual.run_batches(1)
    receiver.store("e")
    manual.cut_blocks(stream._id, 1)
    manual.run_batches(2)
    assert batches == [(2, ["a", "b", "c", "d"]), (1, ["e"]), (0, [])]
    assert [b.numRecords() for b in manual.recorder.completed] == [4, 1, 0]


def test_blocks_are_removed_after_their_batch_is_forgotten(manual: ManualStreaming) -> None:
    receiver = ListReceiver()
    stream = manual.ssc.receiverStream(receiver)
    stream.foreachRDD(lambda rdd: rdd.count())
    manual.start()
    assert receiver.started.wait(5)
    receiver.store(["x", "y"])
    manual.cut_blocks(stream._id, 2)
    manual.run_batches(1)
    (info,) = manual.ssc._receiver_tracker.blocks_of_batch(1000, stream._id)
    assert info.block_id in block_ids(manual.sc)
    manual.run_batches(2)
    assert info.block_id not in block_ids(manual.sc)


def test_restart_stops_and_starts_the_receiver(manual: ManualStreaming) -> None:
    receiver = ListReceiver()
    manual.ssc.receiverStream(receiver).foreachRDD(lambda rdd: None)
    manual.start()
    assert receiver.started.wait(5)
    receiver.restart("test asked for it")
    wait_until(lambda: receiver.starts == 2, what="second start")
    assert receiver.stops == 1
    assert receiver.isStarted()


def test_report_error_reaches_listeners(manual: ManualStreaming) -> None:
    receiver = ListReceiver()
    manual.ssc.receiverStream(receiver).foreachRDD(lambda rdd: None)
    manual.start()
    assert receiver.started.wait(5)
    receiver.reportError("disk on fire", ValueError("smoke"))
    event = manual.recorder.wait_for_event("receiverError")
    info = event.receiverInfo()
    assert info.lastErrorMessage() == "disk on fire"
    assert "ValueError: smoke" in info.lastError()


def test_graceful_stop_processes_everything_received(master) -> None:
    streaming = ManualStreaming(master=master)
    receiver = ListReceiver()
    stream = streaming.ssc.receiverStream(receiver)
    seen: list = []
    stream.foreachRDD(lambda rdd: seen.extend(rdd.collect()))
    streaming.start()
    assert receiver.started.wait(5)
    receiver.store(list(range(10)))  # still buffered in the block generator
    stopper = threading.Thread(target=streaming.ssc.stop, kwargs={"stopGraceFully": True})
    stopper.start()
    # graceful stop waits for a batch to take the flushed block: give it one
    wait_until(lambda: receiver.stops == 1, what="receiver stopped")
    while stopper.is_alive():
        streaming.clock.advance(streaming.batch_ms)
        stopper.join(0.05)
    assert sorted(seen) == list(range(10))
    assert receiver.stops == 1


def test_receiver_started_and_stopped_events(manual: ManualStreaming) -> None:
    receiver = ListReceiver()
    manual.ssc.receiverStream(receiver).foreachRDD(lambda rdd: None)
    manual.start()
    manual.recorder.wait_for_event("receiverStarted")
    manual.stop()
    manual.recorder.wait_for_event("receiverStopped")


def test_receiver_is_started_while_on_start_runs(manual: ManualStreaming) -> None:
    """Threads spawned by onStart check isStopped() at once; it must already say no."""

    class Probe(ListReceiver):
        def onStart(self) -> None:
            self.stopped_during_start = self.isStopped()
            super().onStart()

    receiver = Probe()
    manual.ssc.receiverStream(receiver).foreachRDD(lambda rdd: None)
    manual.start()
    assert receiver.started.wait(5)
    assert receiver.stopped_during_start is False


def test_write_ahead_log_replays_blocks_a_crash_left_unprocessed(master, tmp_path) -> None:
    conf = {"spark.streaming.receiver.writeAheadLog.enable": "true"}
    first = ManualStreaming(master=master, conf=conf)
    receiver = ListReceiver()
    stream = first.ssc.receiverStream(receiver)
    stream.foreachRDD(lambda rdd: None)
    first.ssc.checkpoint(str(tmp_path))
    first.start()
    assert receiver.started.wait(5)
    receiver.store(["logged", "before", "crash"])
    first.cut_blocks(stream._id, 3)  # in the log and acknowledged, never processed
    first.stop()

    second = ManualStreaming(master=master, conf=conf)
    try:
        again = ListReceiver()
        replayed = second.ssc.receiverStream(again)
        seen: list = []
        replayed.foreachRDD(lambda rdd: seen.extend(rdd.collect()))
        second.ssc.checkpoint(str(tmp_path))
        second.start()
        second.run_batches(3)
        assert seen == ["logged", "before", "crash"]
        # processed and forgotten: nothing is left to replay a second time
        assert os.listdir(tmp_path / "receivedData" / str(replayed._id)) == []
    finally:
        second.stop()


def test_write_ahead_log_needs_a_checkpoint_directory() -> None:
    streaming = ManualStreaming(conf={"spark.streaming.receiver.writeAheadLog.enable": "true"})
    try:
        streaming.ssc.receiverStream(ListReceiver()).foreachRDD(lambda rdd: None)
        with pytest.raises(ValueError, match="checkpoint directory"):
            streaming.start()
    finally:
        streaming.stop()


@pytest.mark.parametrize("wal", [True, False], ids=["with-wal", "without-wal"])
@pytest.mark.parametrize("master", ["local-cluster[2,1,1024]", "ray"])
def test_a_block_lost_with_its_worker_is_read_from_the_log(
        request: pytest.FixtureRequest, tmp_path, wal: bool, master: str) -> None:
    # Blocks live on executors: a worker that dies takes them along. With the write-ahead
    # log the batch reads its durable copy (zero data loss); without it, the batch fails
    # naming the block and the executor -- never a silent empty batch.
    if master == "ray":
        request.getfixturevalue("ray_session")
    conf = {"spark.streaming.receiver.writeAheadLog.enable": str(wal).lower(),
            "fastdstream.ray.reuseExecutors": "false"}
    streaming = ManualStreaming(master=master, conf=conf)
    try:
        receiver = ListReceiver()
        stream = streaming.ssc.receiverStream(receiver)
        seen: list = []
        stream.foreachRDD(lambda rdd: seen.extend(rdd.collect()))
        if wal:
            streaming.ssc.checkpoint(str(tmp_path))
        streaming.start()
        assert receiver.started.wait(5)
        receiver.store(["kept", "by", "the", "log"])
        streaming.cut_blocks(stream._id, 4)
        tracker = streaming.ssc._receiver_tracker
        (info,) = tracker.blocks.unallocated_blocks(stream._id)
        backend = streaming.sc._backend
        victim = backend.worker_pids()[info.location]
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: info.location not in backend.executor_ids(),
                   what="the worker's loss to be noticed")
        streaming.run_batches(1)
        if wal:
            assert seen == ["kept", "by", "the", "log"]
        else:
            error = streaming.take_error()
            assert f"was lost with executor {info.location}" in str(error)
            assert "input-" in str(error) and seen == []
    finally:
        streaming.stop()


def test_a_receiver_travels_with_fresh_locks_and_events_and_without_threads() -> None:
    # Receivers go to the executor that runs them (local-cluster, Ray) before they
    # start: what they made in __init__ to synchronise with does not pickle as such.
    from fastdstream.engine.backend import serde

    receiver = ListReceiver()
    receiver.lock = threading.Lock()  # type: ignore[attr-defined]
    receiver.thread = threading.Thread(target=print)  # type: ignore[attr-defined]
    receiver.lock.acquire()  # type: ignore[attr-defined]
    receiver.started.set()
    copy = serde.loads_function(serde.dumps_function(lambda: receiver, "receiver"))()
    assert isinstance(copy, ListReceiver) and copy is not receiver
    assert copy.lock.acquire(blocking=False)  # a new lock, not the held one's state
    assert not copy.started.is_set() and copy.thread is None
    assert copy.isStopped() and copy.starts == 0
