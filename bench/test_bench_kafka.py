"""Direct-stream word count from a preloaded topic, against a plain confluent-kafka loop.

The peer is the ceiling for Kafka ingestion: one consumer reading the same topic
from the beginning with ``consume(10000)`` and nothing else. Ours runs a
StreamingContext at 100 ms / 1 s / 5 s batches until every record is counted
(``map(itemgetter(1)).flatMap(str.split).countByValue()``, the columnar path).
Besides the wall time of the whole run, ``extra_info`` has the messages per
second over the batches' processing time (what the batch interval does not
dilute), so ratios to the ceiling can be read both ways.

``FASTDSTREAM_BENCH_KAFKA_MESSAGES`` sets the topic size (default 400000).
"""

from __future__ import annotations

import operator
import os
import threading
import uuid

import confluent_kafka
import pytest

from fastdstream import Context, StreamingContext, StreamingListener
from fastdstream.kafka import KafkaUtils
from fastdstream.testing.kafka_broker import KafkaBroker
from fastdstream.testing.line_server import DEMO_TEXT

MESSAGES = int(os.environ.get("FASTDSTREAM_BENCH_KAFKA_MESSAGES", "400000"))
PARTITIONS = 4


@pytest.fixture(scope="module")
def loaded_topic():
    base = DEMO_TEXT.splitlines()
    lines = [f"{base[i % len(base)]} w{i % 1000}".encode() for i in range(MESSAGES)]
    words = sum(len(line.split()) for line in lines)
    with KafkaBroker() as broker:
        topic = f"bench-{uuid.uuid4().hex[:8]}"
        broker.create_topic(topic, partitions=PARTITIONS)
        producer = confluent_kafka.Producer({"bootstrap.servers": broker.bootstrap_servers,
                                             "linger.ms": 20, "batch.num.messages": 10000,
                                             "compression.type": "none"})
        for i, line in enumerate(lines):
            while True:
                try:
                    producer.produce(topic, line, partition=i % PARTITIONS)
                    break
                except BufferError:
                    producer.poll(0.1)
        assert producer.flush(60) == 0
        yield broker, topic, words


def _plain_consume(bootstrap: str, topic: str) -> int:
    consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap,
                                         "group.id": f"peer-{uuid.uuid4()}",
                                         "enable.auto.commit": False})
    try:
        consumer.assign([confluent_kafka.TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
        n = 0
        while n < MESSAGES:
            for message in consumer.consume(10000, timeout=1.0):
                assert message.error() is None
                n += 1
        return n
    finally:
        consumer.close()


class _Processing(StreamingListener):
    def __init__(self) -> None:
        self.busy_ms = 0

    def onBatchCompleted(self, batchCompleted):
        info = batchCompleted.batchInfo()
        if info.numRecords():
            self.busy_ms += max(info.processingDelay(), 0)  # -1: not known


def _stream_word_count(bootstrap: str, topic: str, words: int, interval: float,
                       processing: _Processing) -> None:
    done = threading.Event()
    counted = [0]

    def add(rdd) -> None:
        counted[0] += sum(n for _, n in rdd.collect())
        if counted[0] >= words:
            done.set()

    ssc = StreamingContext(Context("local[2]"), interval)
    ssc.addStreamingListener(processing)
    stream = KafkaUtils.createDirectStream(
        ssc, [topic], {"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4()}",
                       "auto.offset.reset": "earliest"})
    stream.map(operator.itemgetter(1)).flatMap(str.split).countByValue().foreachRDD(add)
    ssc.start()
    try:
        assert done.wait(600), f"counted {counted[0]} of {words} words"
    finally:
        ssc.stop()
    assert counted[0] == words


@pytest.mark.benchmark(group="kafka-direct-wordcount")
@pytest.mark.parametrize("interval", [0.1, 1.0, 5.0], ids=["100ms", "1s", "5s"])
def test_direct_stream_word_count(benchmark, loaded_topic, interval: float) -> None:
    broker, topic, words = loaded_topic
    processing = _Processing()
    benchmark.pedantic(_stream_word_count,
                       args=(broker.bootstrap_servers, topic, words, interval, processing),
                       rounds=2, iterations=1)
    benchmark.extra_info.update(
        messages=MESSAGES,
        messages_per_s_wall=round(MESSAGES / benchmark.stats.stats.median),
        messages_per_s_processing=round(2 * MESSAGES / max(processing.busy_ms, 1) * 1000),
    )


@pytest.mark.benchmark(group="kafka-direct-wordcount")
def test_peer_plain_confluent_kafka_loop(benchmark, loaded_topic) -> None:
    broker, topic, _ = loaded_topic
    n = benchmark.pedantic(_plain_consume, args=(broker.bootstrap_servers, topic),
                           rounds=2, iterations=1)
    assert n == MESSAGES
    benchmark.extra_info.update(messages=MESSAGES,
                                messages_per_s_wall=round(MESSAGES / benchmark.stats.stats.median))
