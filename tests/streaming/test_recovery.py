"""Driver recovery: getOrCreate rebuilds the job and goes on from its checkpoint.

A "crash" is a copy of the checkpoint directory taken while a batch is pending (its
job blocked): what a killed driver leaves on disk. The first context is then stopped
(one StreamingContext may be active per process) and a fresh one recovers from the
copy with the manual clock moved on, so down-time batches are due too.
"""

from __future__ import annotations

import contextlib
import operator
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from started_receiver import StartedReceiver

from fastdstream import StreamingContext
from fastdstream.engine.rdd import RDD
from fastdstream.engine.rdds import ReliableCheckpointRDD
from fastdstream.streaming.checkpoint import checkpoint_path, read_checkpoint
from fastdstream.streaming.dstream.dstream import DStream
from fastdstream.testing import ManualStreaming, wait_until


class Accumulated(DStream):
    """Every batch so far, a stream that chains on its own previous batch (as a state
    does): recovered exactly only if its checkpointed RDD is read back."""

    _must_checkpoint = True

    def __init__(self, parent: DStream):
        super().__init__(parent._ssc, (parent,))

    def _compute(self, time_ms: int) -> RDD | None:
        new = self._dependencies[0]._get_or_compute(time_ms)
        new = new if new is not None else self._sc.emptyRDD()
        assert self._zero_time is not None
        previous_time = time_ms - self.slideDuration
        if previous_time <= self._zero_time:
            return new
        previous = self._get_or_compute(previous_time)
        return new if previous is None else previous.union(new)


def move_in(directory: Path, name: str, mtime_ms: int) -> str:
    path = directory / name
    path.write_text(f"{name}\n")
    os.utime(path, ns=(mtime_ms * 1_000_000, mtime_ms * 1_000_000))
    return str(path)


class CrashingJob:
    """A job whose output blocks in its batch of ``block_at`` ms (``reached``) until
    ``release``: the batch pending when the driver "crashes"."""

    def __init__(self, block_at: int | None) -> None:
        self.block_at = block_at
        self.release, self.reached = threading.Event(), threading.Event()
        self.streaming: ManualStreaming | None = None

    def setup(self) -> StreamingContext:
        raise NotImplementedError

    def recorder(self, into: dict[int, Any], value: Callable[[RDD], Any]
                 ) -> Callable[[datetime, RDD], None]:
        """An output that stores ``value(rdd)`` by batch time in ``into``, blocking in
        the batch of ``block_at``."""

        def record(time: datetime, rdd: RDD) -> None:
            t = round(time.timestamp() * 1000)
            if t == self.block_at:
                self.reached.set()
                self.release.wait(30)
                return  # the "crashed" run never finishes this batch
            into[t] = value(rdd)

        return record


def sorted_records(rdd: RDD) -> list:
    return sorted(rdd.collect())


class FileJob(CrashingJob):
    """The job the setup function builds: a file stream, and every line so far."""

    def __init__(self, data_dir: Path, block_at: int | None = None, master: str = "local[2]"):
        super().__init__(block_at)
        self.data_dir = data_dir
        self.master = master
        self.lines: dict[int, list[str]] = {}
        self.totals: dict[int, list[str]] = {}

    def setup(self) -> StreamingContext:
        self.streaming = ManualStreaming(master=self.master, conf={
            "spark.streaming.fileStream.minRememberDuration": "3s"})
        ssc = self.streaming.ssc
        lines = ssc.textFileStream(str(self.data_dir))
        total = Accumulated(lines).checkpoint(2)

        lines.foreachRDD(self.recorder(self.lines, sorted_records))
        total.foreachRDD(lambda time, rdd: self.totals.__setitem__(
            round(time.timestamp() * 1000), sorted(rdd.collect())))
        self.stream_ids = (lines._id, total._id)
        return ssc


def crash_copy(checkpoint_dir: Path, time_ms: int, to: Path) -> None:
    """Copy the checkpoint directory once the checkpoint of ``time_ms`` is on disk."""
    wait_until(lambda: os.path.exists(checkpoint_path(str(checkpoint_dir), time_ms)),
               what=f"the checkpoint of {time_ms} ms")
    shutil.copytree(checkpoint_dir, to)


def run_until_crash(job: CrashingJob, checkpoint: Path, crashed: Path,
                    feed: Callable[[ManualStreaming], None]) -> None:
    """Build ``job`` with getOrCreate, start it and ``feed`` it until its batch of
    ``block_at`` is due; copy the checkpoint once that batch's is written, to
    ``crashed``, and stop the job."""
    ssc = StreamingContext.getOrCreate(str(checkpoint), job.setup)
    assert job.streaming is not None and ssc is job.streaming.ssc
    assert job.block_at is not None
    try:
        job.streaming.start()
        feed(job.streaming)
        assert job.reached.wait(10)
        crash_copy(checkpoint, job.block_at, crashed)
    finally:
        job.release.set()
        job.streaming.stop()


@contextlib.contextmanager
def recovered(job: CrashingJob, crashed: Path) -> Iterator[ManualStreaming]:
    """``job`` built with getOrCreate from the ``crashed`` checkpoint, started; stopped
    on leaving."""
    StreamingContext.getOrCreate(str(crashed), job.setup)
    assert job.streaming is not None
    try:
        job.streaming.start()
        yield job.streaming
    finally:
        job.streaming.stop()


def test_get_or_create_runs_pending_and_down_time_batches_once(master: str, tmp_path: Path
                                                              ) -> None:
    data, checkpoint, crashed = tmp_path / "data", tmp_path / "cp", tmp_path / "crashed"
    data.mkdir()
    first = FileJob(data, block_at=4000, master=master)

    def feed(streaming: ManualStreaming) -> None:
        for i in range(1, 4):
            move_in(data, f"f{i}", i * 1000 - 500)
            streaming.run_batches(1)
        move_in(data, "f4", 3500)
        streaming.clock.advance(1000)  # batch 4 s: generated, its job blocks

    run_until_crash(first, checkpoint, crashed, feed)
    assert first.totals[3000] == ["f1", "f2", "f3"]
    saved = read_checkpoint(str(crashed))
    assert saved is not None and saved.pending_times == (4000,)

    # While the job was down, two more files came -- and one dated back into batch 4 s,
    # which a new listing would give it: the restored batch reads its saved list only.
    move_in(data, "f5", 4500)
    move_in(data, "f6", 5500)
    move_in(data, "late", 3700)
    second = FileJob(data, master=master)

    def setup() -> StreamingContext:
        ssc = second.setup()
        assert second.streaming is not None
        second.streaming.clock.set_time(6000)  # the clock went on while the job was down
        return ssc

    ssc = StreamingContext.getOrCreate(str(crashed), setup)
    assert second.streaming is not None
    streaming = second.streaming
    try:
        _, total_id = second.stream_ids
        generated = ssc._graph.streams()[total_id]._generated
        # The accumulated stream's batch of 2 s comes back from its RDD checkpoint.
        assert isinstance(generated[2000], ReliableCheckpointRDD)
        streaming.start()
        # Pending 4 s (the checkpoint's own time), and 5 s, 6 s that passed while down.
        streaming.recorder.wait_for_batches(3)
        assert second.lines == {4000: ["f4"], 5000: ["f5", "late"], 6000: ["f6"]}
        assert second.totals[6000] == ["f1", "f2", "f3", "f4", "f5", "f6", "late"]
        move_in(data, "f7", 6500)
        streaming.run_batches(1)
        assert second.lines[7000] == ["f7"]
        assert second.totals[7000] == [*(f"f{i}" for i in range(1, 8)), "late"]
    finally:
        streaming.stop()


def test_a_changed_graph_is_a_clear_error_naming_the_stream(tmp_path: Path) -> None:
    data, checkpoint = tmp_path / "data", tmp_path / "cp"
    data.mkdir()
    job = FileJob(data)
    StreamingContext.getOrCreate(str(checkpoint), job.setup)
    assert job.streaming is not None
    try:
        job.streaming.start()
        move_in(data, "f1", 500)
        job.streaming.run_batches(2)
        wait_until(lambda: os.path.exists(checkpoint_path(str(checkpoint), 2000)),
                   what="the checkpoint of 2 s")
    finally:
        job.streaming.stop()

    def reordered() -> StreamingContext:
        # The queue stream now comes first: the file stream's id is taken by it.
        streaming = ManualStreaming()
        streaming.ssc.queueStream([], default=["q"]).pprint()
        streaming.ssc.textFileStream(str(data)).pprint()
        return streaming.ssc

    with pytest.raises(ValueError, match=r"stream 0, a FileInputDStream when the checkpoint "
                                         r"was taken, but stream 0 is now a QueueInputDStream"):
        StreamingContext.getOrCreate(str(checkpoint), reordered)
    assert StreamingContext.getActive() is None

    def emptied() -> StreamingContext:
        return ManualStreaming().ssc

    with pytest.raises(ValueError, match=r"checkpoint has data for stream\(s\) \[0, 1\], which "
                                         "this graph does not have"):
        StreamingContext.getOrCreate(str(checkpoint), emptied)

    def other_batch() -> StreamingContext:
        streaming = ManualStreaming(batch_seconds=2)
        streaming.ssc.textFileStream(str(data)).pprint()
        return streaming.ssc

    with pytest.raises(ValueError, match="batch duration of 1000 ms, but the setup function "
                                         "now builds one of 2000 ms"):
        StreamingContext.getOrCreate(str(checkpoint), other_batch)


def test_get_or_create_without_a_checkpoint_calls_setup_and_sets_the_directory(
        tmp_path: Path) -> None:
    job = FileJob(tmp_path)
    ssc = StreamingContext.getOrCreate(str(tmp_path / "new"), job.setup)
    try:
        assert ssc._checkpoint_dir == str(tmp_path / "new")
        assert ssc._initial_checkpoint is None
    finally:
        ssc.stop()


def test_get_active_or_create_returns_the_active_context(tmp_path: Path) -> None:
    job = FileJob(tmp_path)
    ssc = StreamingContext.getActiveOrCreate(str(tmp_path / "cp"), job.setup)
    try:
        ssc.start()
        calls = []
        again = StreamingContext.getActiveOrCreate(str(tmp_path / "cp"),
                                                   lambda: calls.append(1))  # type: ignore
        assert again is ssc and calls == []
    finally:
        ssc.stop()
    fresh = FileJob(tmp_path)
    other = StreamingContext.getActiveOrCreate(None, fresh.setup)
    try:
        assert other is not ssc and other._initial_checkpoint is None
    finally:
        other.stop()


class ReceiverJob(CrashingJob):
    """A receiver stream with the write-ahead log; records each batch by time."""

    def __init__(self, block_at: int | None = None, clock_at: int | None = None):
        super().__init__(block_at)
        self.clock_at = clock_at
        self.batches: dict[int, list[str]] = {}
        self.receiver = StartedReceiver()

    def setup(self) -> StreamingContext:
        self.streaming = ManualStreaming(conf={
            "spark.streaming.receiver.writeAheadLog.enable": "true"})
        if self.clock_at is not None:
            self.streaming.clock.set_time(self.clock_at)
        self.stream = self.streaming.ssc.receiverStream(self.receiver)
        self.stream.foreachRDD(self.recorder(self.batches, sorted_records))
        return self.streaming.ssc


def test_receiver_batches_pending_at_the_checkpoint_read_their_logged_blocks_once(
        tmp_path: Path) -> None:
    checkpoint, crashed = tmp_path / "cp", tmp_path / "crashed"
    first = ReceiverJob(block_at=2000)
    StreamingContext.getOrCreate(str(checkpoint), first.setup)
    assert first.streaming is not None
    streaming = first.streaming
    try:
        streaming.start()
        assert first.receiver.started.wait(10)
        first.receiver.store(["a", "b"])
        streaming.cut_blocks(first.stream._id, 2)
        streaming.run_batches(1)
        first.receiver.store(["c", "d"])
        streaming.cut_blocks(first.stream._id, 2)
        streaming.clock.advance(1000)  # batch 2 s takes c, d; its job blocks
        assert first.reached.wait(10)
        first.receiver.store(["e"])  # logged, in no batch yet
        streaming.cut_blocks(first.stream._id, 1)
        crash_copy(checkpoint, 2000, crashed)
        crash_time = streaming.clock.get_time_ms()
    finally:
        first.release.set()
        streaming.stop()
    assert first.batches == {1000: ["a", "b"]}

    second = ReceiverJob(clock_at=crash_time)
    with recovered(second, crashed) as streaming:
        streaming.recorder.wait_for_batches(1)  # the pending batch of 2 s
        assert second.batches == {2000: ["c", "d"]}
        streaming.run_batches(1)
        # The block no batch had is replayed; those of restored batches are not.
        assert second.batches == {2000: ["c", "d"], 3000: ["e"]}
        streaming.run_batches(2)
        assert second.batches[4000] == second.batches[5000] == []
        wal_dir = crashed / "receivedData" / str(second.stream._id)
        wait_until(lambda: os.listdir(wal_dir) == [],
                   what="the logs of the processed blocks removed")


def test_a_clock_behind_the_checkpoint_still_runs_the_pending_batch_and_goes_on_after_it(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data, checkpoint, crashed = tmp_path / "data", tmp_path / "cp", tmp_path / "crashed"
    data.mkdir()
    def feed(streaming: ManualStreaming) -> None:
        move_in(data, "f1", 500)
        streaming.run_batches(1)
        move_in(data, "f2", 1500)
        streaming.clock.advance(1000)

    run_until_crash(FileJob(data, block_at=2000), checkpoint, crashed, feed)

    second = FileJob(data)  # its manual clock reads 0
    with recovered(second, crashed) as streaming:
        streaming.recorder.wait_for_batches(1)
        assert second.lines == {2000: ["f2"]}
        assert "the clock (0 ms) is behind the checkpoint of 2000 ms" in caplog.text
        streaming.clock.set_time(2000)
        move_in(data, "f3", 2500)
        streaming.run_batches(1)
        assert second.lines == {2000: ["f2"], 3000: ["f3"]}
        assert second.totals[3000] == ["f1", "f2", "f3"]


def add_counts(new: list[int], total: int | None) -> int:
    return sum(new) + (total or 0)


class StateJob(CrashingJob):
    """File stream -> words -> updateStateByKey, recording the state of each batch."""

    def __init__(self, data_dir: Path, master: str, block_at: int | None = None,
                 clock_at: int = 0):
        super().__init__(block_at)
        self.data_dir, self.master, self.clock_at = data_dir, master, clock_at
        self.states: dict[int, dict[str, int]] = {}

    def setup(self) -> StreamingContext:
        self.streaming = ManualStreaming(master=self.master, conf={
            "spark.streaming.fileStream.minRememberDuration": "3s"})
        self.streaming.clock.set_time(self.clock_at)
        words = self.streaming.ssc.textFileStream(str(self.data_dir)).flatMap(str.split)
        self.stateful(words.map(lambda w: (w, 1))).foreachRDD(
            self.recorder(self.states, self.state_of))
        return self.streaming.ssc

    def stateful(self, pairs: DStream) -> DStream:
        return pairs.updateStateByKey(add_counts).checkpoint(2)

    @staticmethod
    def state_of(rdd: RDD) -> dict[str, int]:
        return dict(rdd.collect())


def test_update_state_by_key_recovers_its_state_exactly(master: str, tmp_path: Path) -> None:
    data, checkpoint, crashed = tmp_path / "data", tmp_path / "cp", tmp_path / "crashed"
    data.mkdir()
    first = StateJob(data, master, block_at=5000)

    def feed(streaming: ManualStreaming) -> None:
        for i in range(1, 5):
            (data / f"f{i}").write_text("a b\n" if i % 2 else "a\n")
            os.utime(data / f"f{i}", ns=((i * 1000 - 500) * 10**6,) * 2)
            streaming.run_batches(1)
        (data / "f5").write_text("c\n")
        os.utime(data / "f5", ns=(4500 * 10**6,) * 2)
        streaming.clock.advance(1000)  # batch 5 s pending

    run_until_crash(first, checkpoint, crashed, feed)
    assert first.states[4000] == {"a": 4, "b": 2}
    (data / "f6").write_text("b c\n")
    os.utime(data / "f6", ns=(5500 * 10**6,) * 2)

    second = StateJob(data, master, clock_at=6000)
    with recovered(second, crashed) as streaming:
        streaming.recorder.wait_for_batches(2)  # 5 s pending, 6 s while down
        # From the state of 4 s (its RDD read back) plus batches 5 s and 6 s, once each.
        assert second.states == {5000: {"a": 4, "b": 2, "c": 1},
                                 6000: {"a": 4, "b": 3, "c": 2}}


class WindowJob(StateJob):
    """File stream -> words -> reduceByKeyAndWindow with an inverse, over 3 batches."""

    def stateful(self, pairs: DStream) -> DStream:
        return pairs.reduceByKeyAndWindow(operator.add, operator.sub, 3, 1).checkpoint(2)

    @staticmethod
    def state_of(rdd: RDD) -> dict[str, int]:
        return {k: v for k, v in rdd.collect() if v}


def test_an_incremental_window_recovers(master: str, tmp_path: Path) -> None:
    data, checkpoint, crashed = tmp_path / "data", tmp_path / "cp", tmp_path / "crashed"
    data.mkdir()
    words = {1: "a b", 2: "a", 3: "b c", 4: "a", 5: "c c", 6: "a"}

    def move(i: int) -> None:
        (data / f"f{i}").write_text(words[i] + "\n")
        os.utime(data / f"f{i}", ns=((i * 1000 - 500) * 10**6,) * 2)

    first = WindowJob(data, master, block_at=5000)

    def feed(streaming: ManualStreaming) -> None:
        for i in range(1, 5):
            move(i)
            streaming.run_batches(1)
        move(5)
        streaming.clock.advance(1000)

    run_until_crash(first, checkpoint, crashed, feed)
    assert first.states[4000] == {"a": 2, "b": 1, "c": 1}  # batches 2, 3, 4 s
    move(6)

    second = WindowJob(data, master, clock_at=6000)
    with recovered(second, crashed) as streaming:
        streaming.recorder.wait_for_batches(2)
        assert second.states == {5000: {"a": 1, "b": 1, "c": 3},   # batches 3, 4, 5 s
                                 6000: {"a": 2, "c": 2}}           # batches 4, 5, 6 s


def logged_block_files(directory: Path) -> dict[str, Path]:
    """The write-ahead log's block files by the one record each holds."""
    from fastdstream.streaming.receiver.wal import SUFFIX, read_block

    files = {}
    for path in directory.iterdir():
        if path.name.endswith(SUFFIX):
            (record,) = read_block(str(path)).data
            files[record] = path
    return files


def crash_with_two_batches_of_two_blocks(tmp_path: Path) -> tuple[Path, int, int]:
    """Batch 1 s reads blocks a and b and completes; batch 2 s reads c and d and is
    pending at the crash. Returns the crashed checkpoint, its log dir's stream id and
    the crash time."""
    checkpoint, crashed = tmp_path / "cp", tmp_path / "crashed"
    first = ReceiverJob(block_at=2000)
    StreamingContext.getOrCreate(str(checkpoint), first.setup)
    assert first.streaming is not None
    streaming = first.streaming
    try:
        streaming.start()
        assert first.receiver.started.wait(10)
        for rows, record in enumerate("ab", 1):  # one block per record
            first.receiver.store([record])
            streaming.cut_blocks(first.stream._id, rows)
        streaming.run_batches(1)
        for rows, record in enumerate("cd", 1):
            first.receiver.store([record])
            streaming.cut_blocks(first.stream._id, rows)
        streaming.clock.advance(1000)
        assert first.reached.wait(10)
        crash_copy(checkpoint, 2000, crashed)
        crash_time = streaming.clock.get_time_ms()
    finally:
        first.release.set()
        streaming.stop()
    assert first.batches == {1000: ["a", "b"]}
    saved = read_checkpoint(str(crashed))
    assert saved is not None and saved.pending_times == (2000,)
    assert sorted(saved.streams[first.stream._id].data) == [1000, 2000]
    return crashed, first.stream._id, crash_time


def test_a_completed_batch_whose_blocks_were_half_deleted_is_not_replayed(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # The driver died while deleting the blocks of batch 1 s, which had completed: a is
    # gone, b is left. b must not be processed a second time.
    crashed, stream_id, crash_time = crash_with_two_batches_of_two_blocks(tmp_path)
    wal_dir = crashed / "receivedData" / str(stream_id)
    files = logged_block_files(wal_dir)
    assert sorted(files) == ["a", "b", "c", "d"]
    files["a"].unlink()

    second = ReceiverJob(clock_at=crash_time)
    with recovered(second, crashed) as streaming:
        streaming.recorder.wait_for_batches(1)
        streaming.run_batches(1)
        assert second.batches == {2000: ["c", "d"], 3000: []}
    assert not files["b"].exists()  # deleted, as batch 1 s would have
    assert any("(1000 ms) had completed" in r.getMessage() for r in caplog.records)


def test_a_pending_batch_with_a_lost_block_reads_the_rest_once_and_names_the_lost_one(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    crashed, stream_id, crash_time = crash_with_two_batches_of_two_blocks(tmp_path)
    files = logged_block_files(crashed / "receivedData" / str(stream_id))
    files["c"].unlink()  # lost from the log of the batch that runs again

    second = ReceiverJob(clock_at=crash_time)
    with recovered(second, crashed) as streaming:
        streaming.recorder.wait_for_batches(1)
        streaming.run_batches(1)
        assert second.batches == {2000: ["d"], 3000: []}  # d once, not replayed again
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "(2000 ms) runs again without 1 of its 2" in errors[0]
    assert files["c"].name in errors[0]
