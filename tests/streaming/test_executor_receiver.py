"""Receivers on executors: where they run, and a receiver whose executor dies.

On ``local-cluster`` and Ray a receiver runs as a long-running task on an executor
(Spark's receiver jobs); on ``local[N]`` on a thread of the driver. The batches
here run on a manual clock; ``fastdstream.receiver.onExecutors`` keeps the
receivers on executors all the same (they cut blocks on the system clock there).
"""

from __future__ import annotations

import os
import signal
import sys
import textwrap
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from fastdstream import Receiver
from fastdstream.testing import ManualStreaming, child_process, wait_until

ON_EXECUTORS = "fastdstream.receiver.onExecutors"
WAL = "spark.streaming.receiver.writeAheadLog.enable"
PROCESS_MASTERS = ["local-cluster[2,1,1024]", "ray"]


class PidReceiver(Receiver):
    """Stores the id of the process it runs in."""

    def onStart(self) -> None:
        self.store([os.getpid()])

    def onStop(self) -> None:
        pass


def _read_int(path: Path) -> int:
    try:
        return int(path.read_text() or 0)
    except FileNotFoundError:
        return 0


def _write_int(path: Path, value: int) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(str(value))
    os.replace(tmp, path)


class NumbersReceiver(Receiver):
    """A reliable receiver: the numbers below the limit the test writes to ``limit``,
    from the position it committed (to ``committed``) once a block was stored -- as the
    Kafka receiver commits offsets. Restarted anywhere, it goes on where it left off."""

    def __init__(self, directory: str) -> None:
        super().__init__()
        self.directory = Path(directory)
        self._thread: threading.Thread | None = None

    def onStart(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        position = _read_int(self.directory / "committed")
        while not self.isStopped():
            limit = _read_int(self.directory / "limit")
            if limit > position:
                self.store(list(range(position, limit)), {"offset": limit})
                position = limit
                _write_int(self.directory / "read", limit)  # stored, maybe not in a block
            time.sleep(0.01)  # the source is polled, as a file or a socket would be

    def onStop(self) -> None:
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def on_block_stored(self, block_id: tuple, metadata: dict[str, int]) -> None:
        _write_int(self.directory / "committed", metadata["offset"])


def _feed(source: Path, tracker: Any, sid: int, limit: int, unallocated: int) -> None:
    """Let the receiver read up to ``limit``; wait until it committed that and the
    driver holds ``unallocated`` records of it in blocks no batch took yet."""
    _write_int(source / "limit", limit)
    wait_until(lambda: _read_int(source / "committed") == limit
               and tracker.unallocated_rows(sid) == unallocated,
               what=f"records up to {limit} stored and reported")


def test_the_receiver_runs_where_the_back_end_runs_tasks(master: str) -> None:
    streaming = ManualStreaming(master=master, conf={ON_EXECUTORS: "true"})
    try:
        stream = streaming.ssc.receiverStream(PidReceiver())
        seen: list[int] = []
        stream.foreachRDD(lambda rdd: seen.extend(rdd.collect()))
        streaming.start()
        event = streaming.recorder.wait_for_event("receiverStarted")
        info = event.receiverInfo()  # type: ignore[attr-defined]
        tracker = streaming.ssc._receiver_tracker
        streaming.cut_blocks(stream._id, 1)
        (block,) = tracker.blocks.unallocated_blocks(stream._id)
        streaming.run_batches(1)
        (pid,) = seen
        if master == "local[2]":
            assert pid == os.getpid() and info.executorId() == "driver"
        else:
            # In an executor's process, which holds the block, and the listeners (the
            # status page) name that executor.
            assert pid != os.getpid()
            assert info.executorId() == block.location
            assert streaming.sc._backend.worker_pids()[info.executorId()] == pid
    finally:
        streaming.stop()


def test_on_a_manual_clock_receivers_stay_in_the_driver_unless_asked() -> None:
    streaming = ManualStreaming(master="local-cluster[2,1,1024]")
    try:
        streaming.ssc.receiverStream(PidReceiver()).foreachRDD(lambda rdd: None)
        streaming.start()
        event = streaming.recorder.wait_for_event("receiverStarted")
        assert event.receiverInfo().executorId() == "driver"  # type: ignore[attr-defined]
    finally:
        streaming.stop()


def test_a_bad_placement_setting_is_named() -> None:
    streaming = ManualStreaming(conf={ON_EXECUTORS: "sometimes"})
    try:
        streaming.ssc.receiverStream(PidReceiver()).foreachRDD(lambda rdd: None)
        with pytest.raises(ValueError, match=ON_EXECUTORS):
            streaming.start()
    finally:
        streaming.stop()


@pytest.mark.parametrize("master", PROCESS_MASTERS)
def test_a_receiver_whose_executor_is_killed_restarts_on_another_losing_nothing(
        request: pytest.FixtureRequest, master: str, tmp_path: Path) -> None:
    # SIGKILL of the process that runs the receiver, while blocks it stored there wait
    # for a batch: the receiver starts again on the other executor and goes on from its
    # last commit; the blocks lost with the process are read from the write-ahead log.
    # The output is exactly what a run without the kill gives.
    if master == "ray":
        request.getfixturevalue("ray_session")
    conf = {WAL: "true", ON_EXECUTORS: "true", "fastdstream.ray.reuseExecutors": "false",
            "spark.ui.port": "0"}
    streaming = ManualStreaming(master=master, conf=conf)
    source = tmp_path / "source"
    source.mkdir()
    try:
        stream = streaming.ssc.receiverStream(NumbersReceiver(str(source)))
        seen: list[int] = []
        stream.foreachRDD(lambda rdd: seen.extend(rdd.collect()))
        streaming.ssc.checkpoint(str(tmp_path / "checkpoint"))
        streaming.start()
        tracker = streaming.ssc._receiver_tracker
        sid = stream._id

        feed = partial(_feed, source, tracker, sid)
        feed(100, 100)
        streaming.run_batches(1)
        assert sorted(seen) == list(range(100))
        feed(200, 100)  # stored on the receiver's executor, no batch has read them yet
        first = tracker.supervisor(sid).executor_id  # type: ignore[union-attr]
        assert {b.location for b in tracker.blocks.unallocated_blocks(sid)} == {first}
        backend = streaming.sc._backend
        os.kill(backend.worker_pids()[first], signal.SIGKILL)
        wait_until(lambda: tracker.supervisor(sid).executor_id != first  # type: ignore
                   and tracker._infos[sid].active()
                   and tracker._infos[sid].executorId() not in ("driver", first),
                   timeout=60, what="the receiver restarted on another executor")
        feed(300, 200)
        streaming.run_batches(2)
        assert sorted(seen) == list(range(300))
        errors = [e.receiverInfo() for e in streaming.recorder.events_named("receiverError")]
        assert any(f"executor {first}" in i.lastErrorMessage() for i in errors)
        # The status page names the executor the receiver runs on now.
        assert streaming.ssc._status_server is not None
        (shown,) = streaming.ssc._status_server.stats.receivers()
        assert shown["executorId"] == tracker._infos[sid].executorId() and shown["isActive"]
    finally:
        streaming.stop()


@pytest.mark.parametrize("master", PROCESS_MASTERS)
def test_rate_updates_and_released_blocks_reach_a_receiver_on_an_executor(
        request: pytest.FixtureRequest, master: str, tmp_path: Path) -> None:
    # Backpressure's rate goes to the executor (bounded by maxRate there), and so does
    # each batch's release of its blocks: without it the receiver, bound to 16 KiB
    # unprocessed, would stall after a few batches of these ~4 KB blocks.
    if master == "ray":
        request.getfixturevalue("ray_session")
    # The receiver takes its executor's one core; the batches run on the other executor
    # (the default locality wait, 3 s, is not waited for a core a receiver holds).
    conf = {ON_EXECUTORS: "true", "fastdstream.ray.reuseExecutors": "false",
            "spark.streaming.receiver.maxRate": "100000",
            "fastdstream.receiver.maxBufferedBytes": "16k"}
    streaming = ManualStreaming(master=master, conf=conf)
    try:
        stream = streaming.ssc.receiverStream(NumbersReceiver(str(tmp_path)))
        seen: list[int] = []
        stream.foreachRDD(lambda rdd: seen.extend(rdd.collect()))
        streaming.start()
        tracker = streaming.ssc._receiver_tracker
        tracker.send_rate_update(stream._id, 50000)
        tracker.send_rate_update(stream._id, 1e9)  # over maxRate: 100000
        for step in range(1, 11):
            _feed(tmp_path, tracker, stream._id, 100 * step, 100)
            streaming.run_batches(1)
        assert sorted(seen) == list(range(1000))
        remote = tracker.supervisor(stream._id)
        assert remote is not None and remote.executor_id != "driver"  # type: ignore
        assert remote.current_rate == 100000
        assert 0 < remote.buffered_bytes <= 16 * 1024
    finally:
        streaming.stop()


class FailingReceiver(Receiver):
    """Stops itself at once with an error (one that pickles, or one that does not)."""

    def __init__(self, picklable: bool) -> None:
        super().__init__()
        self.picklable = picklable

    def onStart(self) -> None:
        if self.picklable:
            self.stop("source gone", ValueError("no such topic"))
        else:
            error = RuntimeError("holds a lock")
            error.lock = threading.Lock()  # type: ignore[attr-defined]
            self.stop("source gone", error)

    def onStop(self) -> None:
        pass


@pytest.mark.parametrize("picklable", [True, False], ids=["error", "unpicklable-error"])
def test_a_receiver_that_stops_with_an_error_on_an_executor_stops_the_job(
        picklable: bool) -> None:
    streaming = ManualStreaming(master="local-cluster[2,1,1024]", conf={ON_EXECUTORS: "true"})
    try:
        streaming.ssc.receiverStream(FailingReceiver(picklable)).foreachRDD(lambda rdd: None)
        streaming.start()
        error = streaming.take_error(30)
        if picklable:
            assert isinstance(error, ValueError) and "no such topic" in str(error)
        else:
            assert "RuntimeError: holds a lock" in str(error)
    finally:
        streaming.stop()


class UnpicklableReceiver(PidReceiver):
    def __init__(self) -> None:
        super().__init__()
        self.sock = open(os.devnull, "rb")  # noqa: SIM115 -- a file does not pickle


def test_a_receiver_that_cannot_travel_fails_the_start_naming_it() -> None:
    streaming = ManualStreaming(master="local-cluster[2,1,1024]", conf={ON_EXECUTORS: "true"})
    receiver = UnpicklableReceiver()
    try:
        streaming.ssc.receiverStream(receiver).foreachRDD(lambda rdd: None)
        with pytest.raises(Exception, match="receiver-0"):
            streaming.start()
    finally:
        receiver.sock.close()
        streaming.stop()


@pytest.mark.parametrize("master", PROCESS_MASTERS)
def test_a_graceful_stop_processes_everything_a_receiver_on_an_executor_read(
        request: pytest.FixtureRequest, master: str, tmp_path: Path) -> None:
    if master == "ray":
        request.getfixturevalue("ray_session")
    streaming = ManualStreaming(master=master, conf={
        ON_EXECUTORS: "true", "fastdstream.ray.reuseExecutors": "false",
        "spark.streaming.blockInterval": "600s"})  # only the stop cuts the last block
    seen: list[int] = []
    try:
        stream = streaming.ssc.receiverStream(NumbersReceiver(str(tmp_path)))
        stream.foreachRDD(lambda rdd: seen.extend(rdd.collect()))
        streaming.start()
        streaming.recorder.wait_for_event("receiverStarted", 30)
        _write_int(tmp_path / "limit", 50)
        wait_until(lambda: _read_int(tmp_path / "read") == 50, what="the records read")
        assert _read_int(tmp_path / "committed") == 0  # in the receiver's buffer, no block yet
        stopper = threading.Thread(target=streaming.ssc.stop, kwargs={"stopGraceFully": True})
        stopper.start()
        while stopper.is_alive():
            streaming.clock.advance(streaming.batch_ms)
            stopper.join(0.05)
    finally:
        streaming.stop()
    assert sorted(seen) == list(range(50))


class RestartingReceiver(Receiver):
    """Asks for a restart from its first start; counts its starts in a file."""

    def __init__(self, directory: str) -> None:
        super().__init__()
        self.starts = Path(directory) / "starts"

    def onStart(self) -> None:
        starts = _read_int(self.starts) + 1
        _write_int(self.starts, starts)
        if starts == 1:
            self.restart("asked for it", None, 0)

    def onStop(self) -> None:
        pass


def test_a_receiver_on_an_executor_restarts_there(tmp_path: Path) -> None:
    streaming = ManualStreaming(master="local-cluster[2,1,1024]", conf={ON_EXECUTORS: "true"})
    try:
        streaming.ssc.receiverStream(RestartingReceiver(str(tmp_path))).foreachRDD(
            lambda rdd: None)
        streaming.start()
        wait_until(lambda: len(streaming.recorder.events_named("receiverStarted")) == 2,
                   timeout=30, what="the second start")
        assert _read_int(tmp_path / "starts") == 2
        first, second = (e.receiverInfo()  # type: ignore[attr-defined]
                         for e in streaming.recorder.events_named("receiverStarted"))
        assert first.executorId() == second.executorId() != "driver"
    finally:
        streaming.stop()


_TWO_NODES = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    import ray
    from ray.cluster_utils import Cluster
    from fastdstream import TaskContext
    from fastdstream.engine.backend import ray_watchdog
    from fastdstream.testing import ManualStreaming, wait_until

    sys.path.insert(0, sys.argv[1])
    from test_executor_receiver import NumbersReceiver, _feed

    tmp = Path(sys.argv[2])
    watchdog = ray_watchdog.start(os.getpid())  # a killed test leaves no node behind
    # Two one-CPU nodes besides a head that runs no actor: either node can go.
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    nodes = [cluster.add_node(num_cpus=1) for _ in range(2)]
    ray.init(address=cluster.address, log_to_driver=False, configure_logging=False)
    streaming = ManualStreaming(master="ray", conf={
        "spark.executor.instances": "2", "fastdstream.receiver.onExecutors": "true",
        "spark.streaming.receiver.writeAheadLog.enable": "true"})

    def node(_):
        return (TaskContext.get().executor.executor_id,
                ray.get_runtime_context().get_node_id())

    placed = dict(streaming.sc.parallelize(range(2), 2).map(node).collect())
    assert len(set(placed.values())) == 2, placed  # one executor on each node
    (tmp / "source").mkdir()
    stream = streaming.ssc.receiverStream(NumbersReceiver(str(tmp / "source")))
    seen = []
    stream.foreachRDD(lambda rdd: seen.extend(rdd.collect()))
    streaming.ssc.checkpoint(str(tmp / "checkpoint"))
    streaming.start()
    tracker = streaming.ssc._receiver_tracker
    sid = stream._id
    _feed(tmp / "source", tracker, sid, 100, 100)
    streaming.run_batches(1, timeout=60)
    _feed(tmp / "source", tracker, sid, 200, 100)
    victim = tracker.supervisor(sid).executor_id
    pid = streaming.sc._backend.worker_pids()[victim]
    gone = next(n for n in nodes if n.node_id == placed[victim])
    # The node goes, and every process it ran with it (the machine is gone).
    cluster.remove_node(gone, allow_graceful=False)
    try:
        os.kill(pid, 9)
    except ProcessLookupError:
        pass
    wait_until(lambda: tracker.supervisor(sid).executor_id != victim
               and tracker._infos[sid].executorId() not in ("driver", victim)
               and tracker._infos[sid].active(), timeout=120,
               what="the receiver restarted on the other node")
    _feed(tmp / "source", tracker, sid, 300, 200)
    streaming.run_batches(2, timeout=60)
    assert sorted(seen) == list(range(300)), sorted(seen)
    streaming.stop()
    ray.shutdown()
    cluster.shutdown()
    print("ok", flush=True)
""")


def test_a_node_lost_with_the_receiver_on_a_two_node_ray_cluster(tmp_path: Path) -> None:
    # Issue 10's case: the node holding an executor and the receiver goes mid-stream; the
    # receiver starts again on the other node and the log loses nothing.
    job = child_process.run([sys.executable, "-c", _TWO_NODES, str(Path(__file__).parent),
                             str(tmp_path)], timeout=300)
    assert job.stdout.strip().endswith("ok"), job.stdout + job.stderr
