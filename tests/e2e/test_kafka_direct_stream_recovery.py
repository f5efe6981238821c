"""The direct Kafka stream after a driver recovery, and with topics a broker refuses to
create (review findings of issue 9)."""

from __future__ import annotations

import logging
import uuid

import pytest
from confluent_kafka.admin import AdminClient, NewPartitions

from fastdstream.kafka import KafkaUtils
from fastdstream.testing import ManualStreaming, wait_until

pytestmark = pytest.mark.e2e


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_partitions_created_while_the_job_was_down_are_read_from_their_beginning(
        master, kafka_broker, tmp_path) -> None:
    # auto.offset.reset=latest and nothing committed: only the checkpoint knows offsets.
    topic = unique("grow-down")
    kafka_broker.create_topic(topic, partitions=1)
    params = {"bootstrap.servers": kafka_broker.bootstrap_servers, "group.id": unique("g"),
              "auto.offset.reset": "latest"}

    def setup(streaming: ManualStreaming, out: list):
        stream = KafkaUtils.createDirectStream(streaming.ssc, [topic], params)
        stream.foreachRDD(lambda rdd: out.append(sorted(v for _, v in rdd.collect())))
        streaming.ssc.checkpoint(str(tmp_path))
        return stream

    first = ManualStreaming(master=master)
    try:
        stream = setup(first, [])
        first.start()
        kafka_broker.produce(topic, ["a"], partition=0)
        first.run_batches(1)
        wait_until(lambda: stream._id in first.ssc._graph.checkpoint_data(),
                   what="the checkpoint data of batch 1 s")
        saved = first.ssc._graph.checkpoint_data()
    finally:
        first.stop()

    # While the job is down the topic grows, and its new partition gets records.
    admin = AdminClient({"bootstrap.servers": kafka_broker.bootstrap_servers})
    for future in admin.create_partitions([NewPartitions(topic, 2)]).values():
        future.result(timeout=30)
    kafka_broker.produce(topic, ["b"], partition=0)
    kafka_broker.produce(topic, [f"new-{i}" for i in range(5)], partition=1)

    second = ManualStreaming(master=master)
    out: list = []
    try:
        setup(second, out)
        second.ssc._graph.restore_checkpoint_data(saved)
        second.start()
        second.run_batches(2)
    finally:
        second.stop()
    # Batch 1 s again reads what it read; batch 2 s reads the rest of partition 0 from the
    # checkpoint and all of partition 1 (latest would have skipped its five records).
    assert out[1] == sorted(["b", *(f"new-{i}" for i in range(5))])


def test_a_refused_auto_create_is_asked_for_at_most_once_per_interval(
        master, kafka_broker, caplog) -> None:
    # The session broker has auto.create.topics.enable=false: each request is refused,
    # and each may wait for the metadata timeout; batches must not pay it each time.
    caplog.set_level(logging.DEBUG, logger="fastdstream.sources.kafka.direct_stream")
    streaming = ManualStreaming(master=master)
    topic = unique("refused")
    try:
        KafkaUtils.createDirectStream(
            streaming.ssc, [topic],
            {"bootstrap.servers": kafka_broker.bootstrap_servers, "group.id": unique("g"),
             "allow.auto.create.topics": "true"}).foreachRDD(lambda rdd: None)
        streaming.start()
        streaming.run_batches(3)
    finally:
        streaming.stop()
    asked = [r for r in caplog.records
             if r.getMessage().startswith(f"asking {kafka_broker.bootstrap_servers} to "
                                          f"create topic {topic!r}")]
    assert len(asked) == 1  # at the start; not again within the minute's interval
