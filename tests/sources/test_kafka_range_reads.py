"""Offset-range reads by an executor's cached consumers, against the real broker: a
consumer stays assigned across consecutive ranges, records it fetched past a range's
end go to the next range and never into this one, and a range that starts elsewhere
(a retry, a recomputed batch) is read from its own fromOffset."""

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


@pytest.fixture
def cache(kafka_broker):
    params = executor_params({"bootstrap.servers": kafka_broker.bootstrap_servers,
                              "group.id": f"reads-{uuid.uuid4().hex[:8]}"})
    c = kafka_rdd.ConsumerCache(tuple(sorted(params.items())))
    yield c
    c.close()


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
