"""Receivers under load, on a manual clock: spark.streaming.receiver.maxRate, backpressure's
rate sent to the receiver, and the bound on the bytes a receiver holds unprocessed."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pyarrow as pa
import pytest

from fastdstream import Receiver
from fastdstream.streaming.receiver.memory_bound import default_max_buffered_bytes
from fastdstream.testing import ManualStreaming, wait_until


class FeedingReceiver(Receiver):
    """Stores the tables of ``feed`` from a thread of its own; ``onStop`` waits for that
    thread, as receivers that join their reader do (the case that could deadlock)."""

    def __init__(self, feed: list[pa.Table]) -> None:
        super().__init__()
        self.feed = feed
        self.stored = 0
        self._thread: threading.Thread | None = None

    def onStart(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for table in self.feed:
            if self.isStopped():
                return
            self.store(table)
            self.stored += 1

    def onStop(self) -> None:
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()


def ints(n: int, start: int = 0) -> pa.Table:
    return pa.table({"x": pa.array(range(start, start + n), pa.int64())})  # 8 bytes a row


@pytest.fixture
def streaming(master: str) -> Iterator[Callable[..., ManualStreaming]]:
    made: list[ManualStreaming] = []

    def make(**conf: str) -> ManualStreaming:
        made.append(ManualStreaming(master=master, conf=conf))
        return made[-1]

    yield make
    for s in made:
        s.stop()


def held(streaming: ManualStreaming, stream_id: int) -> int:
    tracker = streaming.ssc._receiver_tracker
    return tracker.pending_rows(stream_id) + tracker.unallocated_rows(stream_id)


def test_max_rate_makes_store_wait_on_the_clock(streaming) -> None:
    s = streaming(**{"spark.streaming.receiver.maxRate": "10"})
    receiver = FeedingReceiver([ints(10, 10 * i) for i in range(4)])
    stream = s.ssc.receiverStream(receiver)
    seen: list = []
    stream.foreachRDD(lambda rdd: seen.extend(rdd.collect()))
    s.start()
    limiter = s.ssc._receiver_tracker.supervisor(stream._id)._blocks.limiter
    assert limiter.rate == 10
    # the first 10 pass at once; the next store waits for them: 10 records at 10/s = 1 s
    wait_until(lambda: limiter.waits == 1, what="the second store to wait")
    assert held(s, stream._id) == 10 and receiver.stored == 1
    for waits in (2, 3):
        s.clock.advance(999)
        assert receiver.stored == waits - 1  # not a millisecond early
        s.clock.advance(1)
        wait_until(lambda w=waits: limiter.waits == w, what=f"store {waits + 1} to wait")
        assert receiver.stored == waits
    s.clock.advance(1000)
    wait_until(lambda: receiver.stored == 4, what="all stores")
    tracker = s.ssc._receiver_tracker
    s.clock.advance(s.ssc._block_interval_ms)  # the last records are cut into a block
    wait_until(lambda: tracker.pending_rows(stream._id) == 0, what="the last block cut")
    # A batch reads the block once it is stored and registered (on ray, a remote call
    # that may come after the next batch was allocated): run batches until one has.
    for _ in range(10):
        s.run_batches(1)
        if len(seen) == 40:
            break
    assert sorted(seen) == list(range(40))


def test_backpressure_sends_the_estimated_rate_to_the_receiver(streaming) -> None:
    s = streaming(**{"spark.streaming.backpressure.enabled": "true",
                     "spark.streaming.backpressure.initialRate": "1000",
                     "spark.streaming.receiver.maxRate": "10000"})
    receiver = FeedingReceiver([])
    stream = s.ssc.receiverStream(receiver)
    # the job takes 500 ms of the manual clock per batch: 200 records -> 400 records/s
    stream.foreachRDD(lambda rdd: (rdd.count(), s.clock.advance(500)))
    s.start()
    supervisor = s.ssc._receiver_tracker.supervisor(stream._id)
    assert supervisor.current_rate == 1000  # initialRate until the first estimate
    for i in range(2):
        receiver.store(ints(200, 200 * i))
        s.cut_blocks(stream._id, 200)
        # the batch's time comes at the next whole second
        s.clock.advance(s.batch_ms - s.clock.get_time_ms() % s.batch_ms)
        s.recorder.wait_for_batches(i + 1)
    # the first batch only calibrates; the second one's estimate reaches the receiver
    wait_until(lambda: supervisor.current_rate != 1000, what="a rate update")
    assert supervisor.current_rate == pytest.approx(400.0)
    # an estimate above maxRate is cut to it (Spark's RateLimiter.updateRate)
    s.ssc._receiver_tracker.send_rate_update(stream._id, 1e9)
    assert supervisor.current_rate == 10000


def test_initial_rate_is_bounded_by_max_rate(streaming) -> None:
    s = streaming(**{"spark.streaming.backpressure.enabled": "true",
                     "spark.streaming.backpressure.initialRate": "5000",
                     "spark.streaming.receiver.maxRate": "300"})
    stream = s.ssc.receiverStream(FeedingReceiver([]))
    stream.foreachRDD(lambda rdd: None)
    s.start()
    assert s.ssc._receiver_tracker.supervisor(stream._id).current_rate == 300


def test_without_settings_receivers_are_not_rate_limited(manual: ManualStreaming) -> None:
    stream = manual.ssc.receiverStream(FeedingReceiver([]))
    stream.foreachRDD(lambda rdd: None)
    manual.start()
    supervisor = manual.ssc._receiver_tracker.supervisor(stream._id)
    assert supervisor.current_rate is None
    # the default bound is always on
    assert supervisor.memory_bound is not None
    assert supervisor.memory_bound.max_bytes == default_max_buffered_bytes()


@pytest.mark.parametrize("key,value", [("spark.streaming.receiver.maxRate", "fast"),
                                       ("fastdstream.receiver.maxBufferedBytes", "lots")])
def test_bad_limits_name_their_setting(key: str, value: str) -> None:
    with pytest.raises(ValueError, match=key.replace(".", "[.]")):
        ManualStreaming(conf={key: value})


def test_store_waits_at_the_memory_bound_until_batches_free_blocks(streaming) -> None:
    # 100 rows of int64 = 800 bytes a store; the bound holds two
    s = streaming(**{"fastdstream.receiver.maxBufferedBytes": "1700"})
    receiver = FeedingReceiver([ints(100, 100 * i) for i in range(5)])
    stream = s.ssc.receiverStream(receiver)
    seen: list = []
    stream.foreachRDD(lambda rdd: seen.extend(rdd.collect()))
    s.start()
    supervisor = s.ssc._receiver_tracker.supervisor(stream._id)
    bound = supervisor.memory_bound
    wait_until(lambda: bound.waits == 1, what="the third store to wait")
    assert receiver.stored == 2 and supervisor.buffered_bytes == 1600
    s.cut_blocks(stream._id, 200)
    s.run_batches(1)  # batch 1 reads the two blocks: still held while it is remembered
    assert receiver.stored == 2
    s.run_batches(1)  # batch 2 done: batch 1 is forgotten, its blocks released
    wait_until(lambda: receiver.stored == 4, what="two more stores")
    wait_until(lambda: bound.waits == 2, what="the fifth store to wait")
    s.cut_blocks(stream._id, 200)
    s.run_batches(2)
    wait_until(lambda: receiver.stored == 5, what="the last store")
    s.cut_blocks(stream._id, 100)
    s.run_batches(1)
    assert sorted(seen) == list(range(500))  # nothing dropped


@pytest.mark.parametrize("limit", [{"fastdstream.receiver.maxBufferedBytes": "1000"},
                                   {"spark.streaming.receiver.maxRate": "1"}])
def test_stop_while_store_waits_does_not_deadlock(streaming, limit: dict[str, str]) -> None:
    s = streaming(**limit)
    receiver = FeedingReceiver([ints(100, 100 * i) for i in range(3)])
    stream = s.ssc.receiverStream(receiver)
    stream.foreachRDD(lambda rdd: None)
    s.start()
    supervisor = s.ssc._receiver_tracker.supervisor(stream._id)
    wait_until(lambda: supervisor._blocks.limiter.waits + supervisor.memory_bound.waits >= 1,
               what="a store to wait")
    # onStop joins the thread blocked in store(): the stop must release it first
    stopper = threading.Thread(target=s.stop)
    stopper.start()
    stopper.join(30)
    assert not stopper.is_alive(), "stop() deadlocked on a receiver blocked in store()"
    assert receiver.stored >= 2


def test_restart_while_store_waits_does_not_deadlock(streaming) -> None:
    s = streaming(**{"fastdstream.receiver.maxBufferedBytes": "1000"})
    receiver = FeedingReceiver([ints(100), ints(100, 100)])
    stream = s.ssc.receiverStream(receiver)
    stream.foreachRDD(lambda rdd: None)
    s.start()
    bound = s.ssc._receiver_tracker.supervisor(stream._id).memory_bound
    wait_until(lambda: bound.waits == 1, what="the second store to wait")
    receiver.restart("test asked for it")
    # onStop joined the blocked thread (its store went through), then it started again
    wait_until(lambda: receiver.isStarted() and receiver.stored == 2, what="the restart")


def test_stop_while_on_start_waits_in_store(streaming) -> None:
    class StoresInOnStart(FeedingReceiver):
        def onStart(self) -> None:
            self._run()  # on the supervisor's thread, under its lifecycle lock

    s = streaming(**{"spark.streaming.receiver.maxRate": "1"})
    receiver = StoresInOnStart([ints(10), ints(10, 10)])
    stream = s.ssc.receiverStream(receiver)
    stream.foreachRDD(lambda rdd: None)
    starter = threading.Thread(target=s.start)  # start() returns once onStart does
    starter.start()
    wait_until(lambda: s.ssc._receiver_tracker.supervisor(stream._id) is not None
               and s.ssc._receiver_tracker.supervisor(stream._id)._blocks.limiter.waits == 1,
               what="onStart to wait in store()")
    stopper = threading.Thread(target=s.ssc._receiver_tracker.stop)
    stopper.start()
    stopper.join(30)
    starter.join(30)
    assert not stopper.is_alive() and not starter.is_alive(), "stop() deadlocked"
    assert receiver.stored == 2


def test_a_rate_limited_socket_receiver_stores_one_small_read_at_a_time(line_server) -> None:
    # Without a limit the socket receiver reads up to 4 MiB at once; under one, a read
    # (so a store waiting for its permits) holds at most 64 KiB of lines, or the first
    # store alone would take ~80,000 lines' permits here: minutes at 1,000 lines/s.
    s = ManualStreaming(master="local[2]", conf={"spark.streaming.receiver.maxRate": "1000"})
    line = b"x" * 47 + b"\n"  # 48 bytes: 1,365 of them in 64 KiB, and a part
    # More than the socket buffers hold: the sender blocks until the receiver is stopped.
    sender = threading.Thread(target=line_server.send_bytes, args=(line * 200_000,))
    try:
        stream = s.ssc.socketTextStream(*line_server.address)
        stream.count().foreachRDD(lambda rdd: None)
        s.start()
        assert line_server.wait_for_clients(1, timeout=30)
        sender.start()
        limiter = s.ssc._receiver_tracker.supervisor(stream._id)._blocks.limiter
        most = (64 << 10) // len(line) + 1  # +1: the line a read before began
        # The first store passes, the second waits for its permits; at 1,000 lines/s
        # the permits the two reserved are the ms from now the limiter is booked for.
        wait_until(lambda: limiter.waits == 1, what="the second store to wait")
        booked = limiter._next_free_ms - s.clock.get_time_ms()
        assert 0 < booked <= 2 * most
        # Meanwhile the sender filled the socket: the next reads find far more than
        # 64 KiB waiting, and still take 64 KiB each.
        s.clock.advance(int(booked))
        wait_until(lambda: limiter.waits == 2, what="the fourth store to wait")
        assert 0 < limiter._next_free_ms - s.clock.get_time_ms() <= 2 * most
    finally:
        s.stop()
        line_server.disconnect_clients()
        if sender.ident is not None:  # started
            sender.join()
