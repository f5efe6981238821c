"""The receiver-based Kafka stream (createStream), with and without the write-ahead log."""

from __future__ import annotations

import os
import uuid

import pytest

from fastdstream.kafka import KafkaUtils
from fastdstream.testing import ManualStreaming, wait_until

pytestmark = pytest.mark.e2e

WAL = {"spark.streaming.receiver.writeAheadLog.enable": "true"}


def test_receiver_stream_delivers_and_commits_stored_blocks(kafka_broker) -> None:
    topic, group = f"recv-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic, partitions=2)
    kafka_broker.produce(topic, ["a", "b", "c"], keys=["1", "2", "3"], partition=0)
    kafka_broker.produce(topic, ["d"], partition=1)
    streaming = ManualStreaming()
    try:
        stream = KafkaUtils.createStream(streaming.ssc, kafka_broker.bootstrap_servers, group,
                                         {topic: 1}, {"auto.offset.reset": "earliest"})
        seen: list = []
        stream.foreachRDD(lambda rdd: seen.extend(rdd.collect()))
        streaming.start()
        streaming.cut_blocks(stream._id, 4, timeout=60)
        streaming.run_batches(1)
        assert sorted(seen, key=repr) == sorted(
            [("1", "a"), ("2", "b"), ("3", "c"), (None, "d")], key=repr)
        wait_until(lambda: kafka_broker.committed(group, topic, 2) == [3, 1], timeout=30,
                   what="the stored blocks' offsets committed")
    finally:
        streaming.stop()


def test_wal_replays_after_a_crash_and_the_group_resumes_after_it(kafka_broker,
                                                                  tmp_path) -> None:
    topic, group = f"recv-wal-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic)
    kafka_broker.produce(topic, [f"m{i}" for i in range(5)])

    first = ManualStreaming(conf=WAL)
    stream = KafkaUtils.createStream(first.ssc, kafka_broker.bootstrap_servers, group,
                                     {topic: 1}, {"auto.offset.reset": "earliest"})
    stream.foreachRDD(lambda rdd: None)
    first.ssc.checkpoint(str(tmp_path))
    first.start()
    first.cut_blocks(stream._id, 5, timeout=60)  # logged and committed, never processed
    wait_until(lambda: kafka_broker.committed(group, topic, 1) == [5], timeout=30,
               what="offsets committed after the block was logged")
    first.stop()  # the "crash": the batch that would have processed them never ran

    kafka_broker.produce(topic, ["m5", "m6"])
    second = ManualStreaming(conf=WAL)
    try:
        again = KafkaUtils.createStream(second.ssc, kafka_broker.bootstrap_servers, group,
                                        {topic: 1}, {"auto.offset.reset": "earliest"})
        seen: list = []
        again.foreachRDD(lambda rdd: seen.extend(v for _, v in rdd.collect()))
        second.ssc.checkpoint(str(tmp_path))
        second.start()
        second.cut_blocks(again._id, 7, timeout=60)  # 5 replayed + 2 new from the group
        second.run_batches(1)
        assert sorted(seen) == [f"m{i}" for i in range(7)]
        second.run_batches(2)
        assert os.listdir(tmp_path / "receivedData" / str(again._id)) == []
    finally:
        second.stop()


def test_undecodable_record_stops_the_receiver_naming_it(kafka_broker) -> None:
    topic = f"recv-bad-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic)
    kafka_broker.produce(topic, [b"ok", b"\xff\xfe"])
    streaming = ManualStreaming()
    try:
        stream = KafkaUtils.createStream(streaming.ssc, kafka_broker.bootstrap_servers,
                                         f"g-{uuid.uuid4().hex[:8]}", {topic: 1},
                                         {"auto.offset.reset": "earliest"})
        stream.foreachRDD(lambda rdd: None)
        streaming.start()
        error = streaming.take_error(timeout=60)
        assert f"{topic}/0/offset 1" in str(error)
    finally:
        streaming.stop()
