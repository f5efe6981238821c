"""Offset-range reads by an executor's cached consumers, against the real broker: a
consumer stays assigned across consecutive ranges, records it fetched past a range's
end go to the next range and never into this one, and a range that starts elsewhere
(a retry, a recomputed batch) is read from its own fromOffset. Both read paths: the
compiled core's librdkafka reader and confluent_kafka's Consumer."""

from __future__ import annotations

import gc
import threading
import uuid

import confluent_kafka
import pytest

from fastdstream.kafka import OffsetRange
from fastdstream.sources.kafka import kafka_rdd
from fastdstream.sources.kafka.direct_stream import executor_params

pytestmark = pytest.mark.e2e


def range_params(kafka_broker) -> tuple[tuple[str, str], ...]:
    params = executor_params({"bootstrap.servers": kafka_broker.bootstrap_servers,
                              "group.id": f"reads-{uuid.uuid4().hex[:8]}"})
    return tuple(sorted(params.items()))


@pytest.fixture(params=[True, False], ids=["native", "client"])
def cache(request, kafka_broker, monkeypatch):
    monkeypatch.setattr(kafka_rdd, "NATIVE_READS", request.param)
    c = kafka_rdd.ConsumerCache(range_params(kafka_broker))
    yield c
    assert all(c._consumers[key].native is request.param for key in c.partitions())
    c.close()  # again after a test that closed it: a no-op


def offsets(table) -> list[int]:
    return table.column("offset").to_pylist()


def values(table) -> list[str]:
    return [v.decode() for v in table.column("value").to_pylist()]


def test_consecutive_ranges_reuse_one_assigned_consumer(kafka_broker, cache) -> None:
    topic = f"reads-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic)
    kafka_broker.produce(topic, [f"r{i}" for i in range(100)])
    assert offsets(cache.read(OffsetRange(topic, 0, 0, 10), 30)) == list(range(10))
    consumer = cache._consumers[(topic, 0)]
    assert consumer.next_offset == 10
    assert offsets(cache.read(OffsetRange(topic, 0, 10, 25), 30)) == list(range(10, 25))
    # a range that starts before (a retry) or after (a gap) is sought to
    assert offsets(cache.read(OffsetRange(topic, 0, 5, 8), 30)) == [5, 6, 7]
    assert offsets(cache.read(OffsetRange(topic, 0, 50, 100), 30)) == list(range(50, 100))
    assert cache._consumers[(topic, 0)] is consumer
    assert len(cache) == 1
    # the GC pause ends with the read
    assert gc.isenabled()


def test_records_past_the_range_end_stay_for_the_next_range(kafka_broker, cache) -> None:
    topic = f"txn-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic)
    producer = confluent_kafka.Producer({"bootstrap.servers": kafka_broker.bootstrap_servers,
                                         "transactional.id": f"t-{uuid.uuid4().hex[:8]}"})
    producer.init_transactions(30)
    for txn in range(3):  # 5 records and a commit marker each: offsets 0-4, 6-10, 12-16
        producer.begin_transaction()
        for i in range(5):
            producer.produce(topic, f"t{txn}-{i}".encode(), partition=0)
        producer.commit_transaction(30)
    # [0, 6) asks for 6 records; the sixth the client hands out is offset 6, past the
    # range (offset 5 is a marker): it belongs to the next range
    first = cache.read(OffsetRange(topic, 0, 0, 6), 30)
    assert values(first) == [f"t0-{i}" for i in range(5)]
    consumer = cache._consumers[(topic, 0)]
    assert consumer.next_offset == 6
    second = cache.read(OffsetRange(topic, 0, 6, 12), 30)
    assert values(second) == [f"t1-{i}" for i in range(5)]
    assert offsets(cache.read(OffsetRange(topic, 0, 12, 18), 30)) == list(range(12, 17))
    # re-reading the first range after all that starts at its fromOffset again
    assert values(cache.read(OffsetRange(topic, 0, 0, 6), 30)) == values(first)


def test_a_failed_read_makes_the_next_one_seek(kafka_broker, cache) -> None:
    topic = f"fail-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic)
    kafka_broker.produce(topic, [f"r{i}" for i in range(10)])
    with pytest.raises(kafka_rdd.KafkaReadError, match=rf"{topic}.*no record after offset 10"):
        cache.read(OffsetRange(topic, 0, 5, 20), 1.0)  # records 10.. do not exist
    assert cache._consumers[(topic, 0)].next_offset is None
    assert offsets(cache.read(OffsetRange(topic, 0, 5, 10), 30)) == list(range(5, 10))


def test_a_partition_read_by_two_tasks_at_once_gets_a_second_consumer(
        kafka_broker, cache) -> None:
    topic = f"twice-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic)
    kafka_broker.produce(topic, [f"r{i}" for i in range(10)])
    cache.read(OffsetRange(topic, 0, 0, 1), 30)
    cached = cache._consumers[(topic, 0)]
    cached.in_use = True  # another task is reading with it
    results = []
    reader = threading.Thread(
        target=lambda: results.append(cache.read(OffsetRange(topic, 0, 0, 10), 30)))
    reader.start()
    reader.join(60)
    cached.in_use = False
    assert offsets(results[0]) == list(range(10))
    assert cached.next_offset == 1  # the cached consumer was not touched
    assert cache._consumers[(topic, 0)] is cached and len(cache) == 1


def read_both_ways(kafka_broker, source: OffsetRange, monkeypatch) -> list:
    tables = []
    for native in (True, False):
        monkeypatch.setattr(kafka_rdd, "NATIVE_READS", native)
        consumer = kafka_rdd.PartitionConsumer(range_params(kafka_broker), source.topic,
                                               source.partition)
        try:
            assert consumer.native is native
            tables.append(consumer.read(source, 30))
        finally:
            consumer.close()
    return tables


def test_the_native_reader_gives_the_client_s_records(kafka_broker, monkeypatch) -> None:
    """Keys, null keys, tombstones, empty values and timestamps come out the same."""
    topic = f"same-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic)
    values = [b"v0", None, b"", "v\u00e9".encode(), b"x" * 5000] * 20
    keys = [b"k", None, b"", None, b"key"] * 20
    kafka_broker.produce(topic, values, keys=keys, partition=0)
    native, client = read_both_ways(kafka_broker, OffsetRange(topic, 0, 3, 97), monkeypatch)
    assert native.schema == client.schema == kafka_rdd.kafka_kernels.KAFKA_SCHEMA
    assert native.to_pydict() == client.to_pydict()
    assert native.column("value").to_pylist() == values[3:97]
    assert native.column("key").to_pylist() == keys[3:97]
    assert native.column("timestamp").null_count == 0


def test_a_native_read_continues_in_a_new_chunk_at_the_binary_limit(
        kafka_broker, monkeypatch) -> None:
    topic = f"chunks-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic)
    kafka_broker.produce(topic, [f"record-{i:03d}" for i in range(50)], partition=0)
    monkeypatch.setattr(kafka_rdd, "_MAX_BINARY_BYTES", 100)  # 10 values of 10 bytes
    monkeypatch.setattr(kafka_rdd, "NATIVE_READS", True)
    consumer = kafka_rdd.PartitionConsumer(range_params(kafka_broker), topic, 0)
    try:
        table = consumer.read(OffsetRange(topic, 0, 5, 50), 30)
    finally:
        consumer.close()
    assert offsets(table) == list(range(5, 50))
    assert values(table) == [f"record-{i:03d}" for i in range(5, 50)]
    assert [len(b) for b in table.to_batches()] == [10, 10, 10, 10, 5]


def test_a_native_read_of_deleted_records_names_the_range(kafka_broker, monkeypatch) -> None:
    from confluent_kafka.admin import AdminClient

    topic = f"gone-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic)
    kafka_broker.produce(topic, [str(i) for i in range(10)])
    admin = AdminClient({"bootstrap.servers": kafka_broker.bootstrap_servers})
    for future in admin.delete_records([confluent_kafka.TopicPartition(topic, 0, 6)]).values():
        future.result(timeout=30)
    monkeypatch.setattr(kafka_rdd, "NATIVE_READS", True)
    consumer = kafka_rdd.PartitionConsumer(range_params(kafka_broker), topic, 0)
    try:
        with pytest.raises(kafka_rdd.KafkaReadError,
                           match=rf"reading OffsetRange\(topic: {topic}.*{topic}/0/offset 2"):
            consumer.read(OffsetRange(topic, 0, 2, 8), 30)
        assert consumer.next_offset is None
        assert offsets(consumer.read(OffsetRange(topic, 0, 6, 10), 30)) == [6, 7, 8, 9]
    finally:
        consumer.close()


def test_settings_only_confluent_kafka_knows_fall_back_to_it(kafka_broker) -> None:
    params = dict(range_params(kafka_broker))
    reader = kafka_rdd.kafka_kernels.native_reader(params, "t", 0)
    assert reader is not None
    reader.close()
    params["not.a.librdkafka.setting"] = "1"
    assert kafka_rdd.kafka_kernels.native_reader(params, "t", 0) is None


def test_closing_the_consumers_during_a_read_ends_it_with_an_error(kafka_broker, cache) -> None:
    """The executor stops while a task waits for records: the read fails, naming the
    range, instead of reading from a closed client."""
    topic = f"closing-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic)
    kafka_broker.produce(topic, ["r0"])
    errors: list[BaseException] = []

    def read() -> None:
        try:
            # Records 1.. never come. confluent_kafka's close waits for the consume
            # under way to return, so on that path the read ends at its poll timeout.
            cache.read(OffsetRange(topic, 0, 0, 5), 8)
        except BaseException as exc:
            errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    while not (cache.partitions() and cache._consumers[(topic, 0)].in_use):
        reader.join(0.01)
    native = cache._consumers[(topic, 0)].native
    cache.close()
    reader.join(30)
    assert not reader.is_alive()
    assert isinstance(errors[0], kafka_rdd.KafkaReadError), errors
    assert topic in str(errors[0])
    if native:
        assert "closed" in str(errors[0])


def test_closing_a_native_reader_while_it_seeks_waits_for_the_seek(kafka_broker) -> None:
    """assign and position run without the GIL like read: a close() from another
    thread (the executor stopping, a read ahead under way) is done when they return,
    never under them (that left the seeking thread hung in librdkafka)."""
    params = range_params(kafka_broker)
    topic = f"seek-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic)
    # A close lands in a GIL-free call and hangs it in about 1 of 30 tries without the
    # deferral: 150 tries at varied points of a new client's first seeks.
    for attempt in range(150):
        delay = attempt % 7
        consumer = kafka_rdd.PartitionConsumer(params, topic, 0)
        reader = consumer._native
        assert reader is not None
        started = threading.Event()
        errors: list[BaseException] = []

        def seek_forever(reader=reader, started=started, errors=errors) -> None:
            started.set()
            try:
                while True:
                    reader.assign(0)
                    reader.position()
            except BaseException as exc:
                errors.append(exc)

        # daemon: a seeker hung in the client must not keep the test process alive
        seeker = threading.Thread(target=seek_forever, daemon=True)
        seeker.start()
        assert started.wait(30)
        [None for _ in range(delay * 3000)]  # ~0.1 ms a step, not a wait for anything
        consumer.close()
        seeker.join(30)
        assert not seeker.is_alive(), f"seek hung after a close (attempt {attempt})"
        assert isinstance(errors[0], RuntimeError) and "closed" in str(errors[0]), errors


def test_warmed_consumers_are_the_ones_their_ranges_read_with(kafka_broker, cache) -> None:
    """An executor starts the consumers of the other ranges it will read while its first
    task reads; their tasks then read without seeking."""
    topic = f"warm-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic, partitions=3)
    for p in range(3):
        kafka_broker.produce(topic, [f"p{p}-{i}" for i in range(20)], partition=p)
    ranges = [OffsetRange(topic, 0, 5, 20), OffsetRange(topic, 1, 0, 0),
              OffsetRange(topic, 2, 3, 20)]
    cache.warm(ranges)
    assert sorted(cache.partitions()) == [(topic, 0), (topic, 2)]  # not the empty range
    warmed = dict(cache._consumers)
    assert warmed[(topic, 0)].next_offset == 5 and warmed[(topic, 2)].next_offset == 3
    cache.warm(ranges)  # once only
    assert dict(cache._consumers) == warmed
    assert values(cache.read(ranges[2], 30)) == [f"p2-{i}" for i in range(3, 20)]
    assert values(cache.read(ranges[0], 30)) == [f"p0-{i}" for i in range(5, 20)]
    assert all(cache._consumers[key] is warmed[key] for key in warmed)


def test_a_range_read_ahead_is_what_its_task_reads(kafka_broker, cache) -> None:
    """An executor reads its next range while its current one is processed; the task of
    that range takes the result, the task of another range reads its own."""
    topic = f"ahead-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic)
    kafka_broker.produce(topic, [f"r{i}" for i in range(30)])
    cache.read_ahead(OffsetRange(topic, 0, 0, 10), 30)  # no consumer yet: nothing
    assert len(cache) == 0
    assert offsets(cache.read(OffsetRange(topic, 0, 0, 10), 30)) == list(range(10))
    consumer = cache._consumers[(topic, 0)]
    cache.read_ahead(OffsetRange(topic, 0, 10, 20), 30)
    # the client reader holds the GIL while it reads: it reads no range ahead
    assert (consumer.ahead is not None) is consumer.native
    assert consumer.in_use is consumer.native
    assert values(cache.read(OffsetRange(topic, 0, 10, 20), 30)) == [
        f"r{i}" for i in range(10, 20)]
    assert consumer.ahead is None and not consumer.in_use
    cache.read_ahead(OffsetRange(topic, 0, 20, 25), 30)
    # a retry of another range: read as asked, the consumer seeks
    assert offsets(cache.read(OffsetRange(topic, 0, 5, 8), 30)) == [5, 6, 7]
    assert offsets(cache.read(OffsetRange(topic, 0, 8, 30), 30)) == list(range(8, 30))
    assert cache._consumers[(topic, 0)] is consumer and not consumer.in_use


@pytest.fixture
def native_cache(kafka_broker, monkeypatch):
    """A cache whose consumers read natively: only those read ranges ahead."""
    monkeypatch.setattr(kafka_rdd, "NATIVE_READS", True)
    c = kafka_rdd.ConsumerCache(range_params(kafka_broker))
    yield c
    c.close()


def read_ahead_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate()
            if t.name.startswith(kafka_rdd.READ_AHEAD_THREAD)]


def ahead_of(cache, topic: str):
    """The pending read ahead of ``topic``'s partition 0: (range, future)."""
    ahead = cache._consumers[(topic, 0)].ahead
    assert ahead is not None
    return ahead


def test_ranges_are_read_ahead_on_one_reused_thread(kafka_broker, native_cache) -> None:
    """The read ahead runs while the task is elsewhere (the test waits for its result
    without reading), on one thread the cache keeps, not a thread per range."""
    topic = f"ahead-thread-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic)
    kafka_broker.produce(topic, [f"r{i}" for i in range(40)])
    assert read_ahead_threads() == []
    native_cache.read(OffsetRange(topic, 0, 0, 10), 30)
    consumer = native_cache._consumers[(topic, 0)]
    seen = []
    for start in (10, 20, 30):
        source = OffsetRange(topic, 0, start, start + 10)
        native_cache.read_ahead(source, 30)
        seen.append(read_ahead_threads())
        ahead_source, future = ahead_of(native_cache, topic)
        assert ahead_source == source
        ahead_values = values(future.result(timeout=30))  # read with no task waiting
        reads = consumer.reads
        assert values(native_cache.read(source, 30)) == ahead_values == [
            f"r{i}" for i in range(start, start + 10)]
        assert consumer.reads == reads  # the task took the read ahead's table
    (thread,) = seen[0]
    assert seen == [[thread]] * 3
    native_cache.close()
    assert not thread.is_alive()
    assert read_ahead_threads() == []


def test_closing_the_cache_ends_a_read_ahead_under_way(kafka_broker, native_cache) -> None:
    topic = f"ahead-close-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic)
    kafka_broker.produce(topic, [f"r{i}" for i in range(5)])
    native_cache.read(OffsetRange(topic, 0, 0, 5), 30)
    native_cache.read_ahead(OffsetRange(topic, 0, 5, 10), 60)  # records 5.. never come
    _, future = ahead_of(native_cache, topic)
    (thread,) = read_ahead_threads()
    waited = threading.Event()
    while not future.running() and not waited.wait(0.01):
        pass
    native_cache.close()  # joins the thread
    assert not thread.is_alive()
    assert read_ahead_threads() == []
    # ended by the close, not by its 60 s poll timeout
    error = future.exception(timeout=0)
    assert isinstance(error, kafka_rdd.KafkaReadError) and "closed" in str(error), error
    with pytest.raises(kafka_rdd.KafkaReadError, match="closed"):
        native_cache.read(OffsetRange(topic, 0, 5, 10), 1.0)


def test_a_task_reads_its_range_itself_while_the_thread_reads_another_ahead(
        kafka_broker, native_cache) -> None:
    """One read-ahead thread: a range still queued behind another partition's read
    ahead is read by its own task, which does not wait for the other one."""
    topic = f"ahead-queued-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic, partitions=2)
    for p in range(2):
        kafka_broker.produce(topic, [f"p{p}-{i}" for i in range(10)], partition=p)
    for p in range(2):
        native_cache.read(OffsetRange(topic, p, 0, 5), 30)
    native_cache.read_ahead(OffsetRange(topic, 0, 5, 20), 60)  # 10.. never come
    _, busy = ahead_of(native_cache, topic)
    waited = threading.Event()
    while not busy.running() and not waited.wait(0.01):
        pass
    source = OffsetRange(topic, 1, 5, 10)
    native_cache.read_ahead(source, 30)
    queued = native_cache._consumers[(topic, 1)].ahead[1]
    assert values(native_cache.read(source, 30)) == [f"p1-{i}" for i in range(5, 10)]
    assert queued.cancelled() and busy.running()
    native_cache.close()  # ends the read ahead of partition 0
    assert "closed" in str(busy.exception(timeout=0))


def test_a_failed_read_ahead_raises_its_error_once_in_its_task(
        kafka_broker, native_cache) -> None:
    """The task of a range whose read ahead failed raises that error (naming the range)
    instead of waiting for the broker a second time; the next read seeks."""
    topic = f"ahead-fail-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic)
    kafka_broker.produce(topic, [f"r{i}" for i in range(10)])
    native_cache.read(OffsetRange(topic, 0, 0, 5), 30)
    consumer = native_cache._consumers[(topic, 0)]
    reads = consumer.reads
    source = OffsetRange(topic, 0, 5, 20)  # records 10.. do not exist
    native_cache.read_ahead(source, 0.1)
    _, future = ahead_of(native_cache, topic)
    failure = future.exception(timeout=30)
    with pytest.raises(kafka_rdd.KafkaReadError,
                       match=rf"{topic}.*no record after offset 10") as raised:
        native_cache.read(source, 0.1)
    assert raised.value is failure
    assert consumer.reads == reads + 1  # the read ahead's, and no second one
    assert consumer.next_offset is None and not consumer.in_use
    assert offsets(native_cache.read(OffsetRange(topic, 0, 5, 10), 30)) == list(range(5, 10))
    assert native_cache._consumers[(topic, 0)] is consumer


def test_a_failed_read_ahead_of_another_range_leaves_the_task_its_own_read(
        kafka_broker, native_cache) -> None:
    topic = f"ahead-other-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic)
    kafka_broker.produce(topic, [f"r{i}" for i in range(10)])
    native_cache.read(OffsetRange(topic, 0, 0, 5), 30)
    consumer = native_cache._consumers[(topic, 0)]
    native_cache.read_ahead(OffsetRange(topic, 0, 5, 20), 0.1)  # fails: 10.. do not exist
    _, future = ahead_of(native_cache, topic)
    assert isinstance(future.exception(timeout=30), kafka_rdd.KafkaReadError)
    reads = consumer.reads
    # a retry of an earlier range: read as asked, from its own fromOffset
    assert offsets(native_cache.read(OffsetRange(topic, 0, 2, 10), 30)) == list(range(2, 10))
    assert consumer.reads == reads + 1
    assert consumer.next_offset == 10 and not consumer.in_use


def test_warming_more_partitions_than_the_cache_holds_is_skipped(
        kafka_broker, cache, monkeypatch) -> None:
    monkeypatch.setattr(kafka_rdd, "MAX_CACHED_CONSUMERS", 2)
    cache.warm([OffsetRange("t", p, 0, 10) for p in range(3)])
    assert len(cache) == 0


def test_the_native_client_s_log_goes_to_logging() -> None:
    """librdkafka's own log lines (here: the broker refuses the connection) reach the
    ``fastdstream.kafka.client`` logger, as confluent_kafka's do, not stderr."""
    import logging

    seen = threading.Event()
    lines: list[str] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())
            seen.set()

    logger = logging.getLogger("fastdstream.kafka.client")
    handler = Catch()
    logger.addHandler(handler)
    reader = kafka_rdd.kafka_kernels.native_reader(
        {"bootstrap.servers": "127.0.0.1:1", "group.id": "logs"}, "t", 0)
    try:
        assert reader is not None
        reader.assign(0)  # makes the client connect
        assert seen.wait(30)
        assert any("127.0.0.1:1" in line for line in lines), lines
    finally:
        reader.close()
        logger.removeHandler(handler)
