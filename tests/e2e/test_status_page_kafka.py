"""The status page of a Kafka direct stream: each partition's last offset range and its lag
behind the partition's end, in the JSON API and in /metrics (real broker, manual clock)."""

from __future__ import annotations

import json
import urllib.request
import uuid
from typing import Any

import pytest

from fastdstream.kafka import KafkaUtils
from fastdstream.testing import ManualStreaming, wait_until

pytestmark = pytest.mark.e2e


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        body = response.read()
        return json.loads(body) if url.endswith(("inputs", "statistics")) else body.decode()


def test_partitions_show_their_range_and_lag(kafka_broker, master: str) -> None:
    topic = f"page-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic, partitions=2)
    for p in range(2):
        kafka_broker.produce(topic, [f"p{p}-{i}" for i in range(100)], partition=p)
    streaming = ManualStreaming(1.0, master, conf={
        "spark.ui.port": "0", "spark.streaming.kafka.maxRatePerPartition": "10"})
    try:
        stream = KafkaUtils.createDirectStream(streaming.ssc, [topic], {
            "bootstrap.servers": kafka_broker.bootstrap_servers,
            "group.id": f"g-{uuid.uuid4().hex[:8]}", "auto.offset.reset": "earliest"})
        stream.count().pprint()
        streaming.start()
        streaming.run_batches(3)
        api = (f"{streaming.sc.uiWebUrl}/api/v1/applications/{streaming.sc.applicationId}"
               "/streaming")
        wait_until(lambda: get(f"{api}/statistics")["numTotalCompletedBatches"] == 3, 10,
                   "three batches on the page")
        (direct,) = get(f"{api}/inputs")
        assert direct["name"] == "DirectKafkaInputDStream"
        partitions = sorted(direct["kafkaPartitions"], key=lambda p: p["partition"])
        assert [(p["topic"], p["partition"]) for p in partitions] == [(topic, 0), (topic, 1)]
        for p in partitions:  # the third batch: 10 records a partition a second
            assert (p["fromOffset"], p["untilOffset"]) == (20, 30)
            assert (p["latestOffset"], p["lag"]) == (100, 70)
        metrics = get(f"{streaming.sc.uiWebUrl}/metrics")
        assert (f'fastdstream_kafka_partition_lag{{app_id="{streaming.sc.applicationId}",'
                f'partition="1",stream_id="0",topic="{topic}"}} 70.0') in metrics
    finally:
        streaming.stop()
