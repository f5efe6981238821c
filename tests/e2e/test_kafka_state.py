"""State over the direct Kafka stream, against a real broker: each batch's offset ranges
are what that batch read, also after updateStateByKey and mapWithState."""

from __future__ import annotations

import operator
import uuid

import pytest

from fastdstream import StateSpec
from fastdstream.kafka import KafkaUtils
from fastdstream.testing import ManualStreaming

pytestmark = pytest.mark.e2e


def count(key, value, state):
    state.update((state.getOption() or 0) + value)
    return key, state.get()


def running_sum(new_values, last_sum):
    return sum(new_values) + (last_sum or 0)


def test_state_streams_report_each_batch_s_own_ranges(kafka_broker, master, tmp_path) -> None:
    topic = f"state-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic, partitions=2)
    streaming = ManualStreaming(master=master)
    try:
        streaming.ssc.checkpoint(str(tmp_path))
        params = {"bootstrap.servers": kafka_broker.bootstrap_servers,
                  "group.id": f"group-{uuid.uuid4().hex[:8]}", "auto.offset.reset": "earliest"}
        stream = KafkaUtils.createDirectStream(streaming.ssc, [topic], params)
        pairs = stream.map(operator.itemgetter(1)).flatMap(str.split).map(lambda w: (w, 1))
        mapped = pairs.mapWithState(StateSpec.function(count).numPartitions(2))
        totals = pairs.updateStateByKey(running_sum, numPartitions=2)
        seen: dict[str, list] = {"mapped": [], "totals": []}

        def record(name: str):
            def output(rdd) -> None:
                ranges = sorted((r.partition, r.fromOffset, r.untilOffset)
                                for r in rdd.offsetRanges())
                seen[name].append((sorted(rdd.collect()), ranges))
            return output

        mapped.foreachRDD(record("mapped"))
        totals.foreachRDD(record("totals"))
        kafka_broker.produce(topic, ["a b", "a"], partition=0)
        streaming.start()
        streaming.run_batches(1)
        kafka_broker.produce(topic, ["b"], partition=1)
        streaming.run_batches(1)
        assert seen["mapped"] == [([("a", 1), ("a", 2), ("b", 1)], [(0, 0, 2), (1, 0, 0)]),
                                  ([("b", 2)], [(0, 2, 2), (1, 0, 1)])]
        assert seen["totals"] == [([("a", 2), ("b", 1)], [(0, 0, 2), (1, 0, 0)]),
                                  ([("a", 2), ("b", 2)], [(0, 2, 2), (1, 0, 1)])]
    finally:
        streaming.stop()
