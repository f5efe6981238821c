"""The direct stream across broker failures: a broker of the test's own, stopped and
restarted (and killed) mid-stream. Nothing is lost, nothing is read twice. (The
receiver stream's case: test_kafka_receiver_stream.py.)"""

from __future__ import annotations

import uuid

import pytest

from fastdstream import StreamingJobError
from fastdstream.kafka import KafkaError, KafkaUtils
from fastdstream.testing import ManualStreaming, wait_until
from fastdstream.testing.kafka_broker import KafkaBroker

pytestmark = pytest.mark.e2e


# The consumer's reconnection is the client's, the same on every back end: ray runs
# the harder case (SIGKILL) only, to keep the suite's time bounded.
@pytest.mark.parametrize(("master", "how"), [
    ("local[2]", "restart"), ("local[2]", "kill"), ("local-cluster[2,1,1024]", "restart"),
    ("local-cluster[2,1,1024]", "kill"), ("ray", "kill")], indirect=["master"])
def test_broker_down_and_back_mid_stream(master, own_broker: KafkaBroker, how: str,
                                         reliability) -> None:
    topic = f"faults-{uuid.uuid4().hex[:8]}"
    own_broker.create_topic(topic, partitions=2)
    own_broker.produce(topic, [f"a{i}" for i in range(20)], partition=0)
    own_broker.produce(topic, [f"b{i}" for i in range(20)], partition=1)
    streaming = ManualStreaming(master=master)
    seen: list[str] = []
    try:
        stream = KafkaUtils.createDirectStream(
            streaming.ssc, [topic],
            {"bootstrap.servers": own_broker.bootstrap_servers, "group.id": "faults",
             "auto.offset.reset": "earliest"})
        stream.foreachRDD(lambda rdd: seen.extend(v for _, v in rdd.collect()))
        streaming.start()
        streaming.run_batches(1)
        assert len(seen) == 40
        if how == "restart":
            own_broker.stop(keep_data=True)
        else:
            own_broker.kill()
        # a batch while the broker is away fails loudly, and plans nothing
        streaming.clock.advance(streaming.batch_ms)
        error = streaming.take_error(timeout=60)
        # Planning the batch failed its output's job, reported with the batch time.
        assert isinstance(error, StreamingJobError) and isinstance(error.__cause__, KafkaError)
        assert own_broker.bootstrap_servers in str(error)
        own_broker.start()
        own_broker.produce(topic, [f"c{i}" for i in range(10)], partition=1)
        done = len(streaming.recorder.completed)
        streaming.clock.advance(streaming.batch_ms)
        wait_until(lambda: len(streaming.recorder.completed) > done, timeout=60,
                   what="a batch after the broker came back")
        produced = [f"a{i}" for i in range(20)] + [f"b{i}" for i in range(20)] + [
            f"c{i}" for i in range(10)]
        reliability.record(
            f"Kafka broker {'SIGKILLed' if how == 'kill' else 'stopped'} and restarted "
            "mid-stream, direct stream", "the batch while it is away fails naming the "
            "broker; then the stream goes on where it was", produced=len(produced),
            read=len(seen), lost=len(set(produced) - set(seen)),
            read_twice=len(seen) - len(set(seen)),
            broker_restart_s=own_broker.last_start_seconds)
        assert sorted(seen) == sorted(produced)
    finally:
        streaming.stop()
