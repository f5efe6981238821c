"""The receiver-based Kafka stream (createStream), with and without the write-ahead log."""

from __future__ import annotations

import os
import time
import uuid

import pytest

from fastdstream.kafka import KafkaUtils
from fastdstream.testing import ManualStreaming, child_process, wait_until
from fastdstream.testing.kafka_broker import KafkaBroker

pytestmark = pytest.mark.e2e

WAL = {"spark.streaming.receiver.writeAheadLog.enable": "true"}


def test_receiver_stream_delivers_and_commits_stored_blocks(master, kafka_broker) -> None:
    topic, group = f"recv-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic, partitions=2)
    kafka_broker.produce(topic, ["a", "b", "c"], keys=["1", "2", "3"], partition=0)
    kafka_broker.produce(topic, ["d"], partition=1)
    streaming = ManualStreaming(master=master)
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


def test_wal_replays_after_a_crash_and_the_group_resumes_after_it(master, kafka_broker,
                                                                  tmp_path) -> None:
    topic, group = f"recv-wal-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic)
    kafka_broker.produce(topic, [f"m{i}" for i in range(5)])

    first = ManualStreaming(master=master, conf=WAL)
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
    second = ManualStreaming(master=master, conf=WAL)
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


def test_undecodable_record_stops_the_receiver_naming_it(master, kafka_broker) -> None:
    topic = f"recv-bad-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic)
    kafka_broker.produce(topic, [b"ok", b"\xff\xfe"])
    streaming = ManualStreaming(master=master)
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


def test_wal_loses_nothing_across_sigkills(master, kafka_broker, tmp_path, reliability
                                          ) -> None:
    """At-least-once, shown: SIGKILL at random points while producing; every record
    produced is processed at least once."""
    import contextlib
    import random
    import signal
    import subprocess
    import sys
    import threading
    from pathlib import Path

    topic, group = f"recv-kill-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic, partitions=2)
    out = tmp_path / "out.txt"
    job = Path(__file__).with_name("receiver_wal_job.py")
    produced: list[str] = []
    stop = threading.Event()

    def produce() -> None:
        for chunk in range(50):
            values = [f"r{chunk}-{i}" for i in range(30)]
            kafka_broker.produce(topic, values, partition=chunk % 2)
            produced.extend(values)
            if stop.wait(0.1):  # spread the input over the kills; nothing is timed
                return

    def run(seconds: float) -> subprocess.Popen:
        return child_process.start(
            [sys.executable, str(job), "--bootstrap", kafka_broker.bootstrap_servers,
             "--topic", topic, "--group", group, "--checkpoint", str(tmp_path / "ckpt"),
             "--out", str(out), "--seconds", str(seconds), "--master", master],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    producer = threading.Thread(target=produce)
    producer.start()
    kills = random.Random(5)
    killed = 0
    try:
        for _ in range(3):
            proc = run(0)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=kills.uniform(1.5, 3.5))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                killed += 1
            proc.wait(timeout=30)
    finally:
        producer.join(timeout=120)
        stop.set()
    assert killed == 3 and len(produced) == 50 * 30

    def seen() -> set[str]:
        return set(out.read_text().split()) if out.exists() else set()

    final = run(0)
    try:
        # static members: the restarted job takes the killed one's partitions at once
        wait_until(lambda: seen() >= set(produced), timeout=120,
                   what="every produced record processed")
    finally:
        final.kill()
        final.wait(timeout=30)
    processed = out.read_text().split()
    reliability.record(
        "receiver job SIGKILLed mid-stream, Kafka receiver with the write-ahead log",
        "logged blocks not processed are replayed: 0 lost (at-least-once)", kills=killed,
        produced=len(produced), processed=len(processed),
        lost=len(set(produced) - set(processed)),
        processed_twice=len(processed) - len(set(processed)))
    assert seen() == set(produced)  # nothing lost (duplicates are allowed)


def test_a_restarted_receiver_job_takes_its_partitions_back_at_once(master, kafka_broker,
                                                                    tmp_path, reliability
                                                                    ) -> None:
    """Static group membership: after a SIGKILL the restarted job rejoins as the member
    that died. A dynamic member would read nothing until the coordinator expired the
    dead one, session.timeout.ms (45 s here) after its last heartbeat."""
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    session_timeout_s = 45
    topic, group = f"recv-static-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic, partitions=2)
    out = tmp_path / "out.txt"
    job = Path(__file__).with_name("receiver_wal_job.py")

    def run() -> subprocess.Popen:
        return child_process.start(
            [sys.executable, str(job), "--bootstrap", kafka_broker.bootstrap_servers,
             "--topic", topic, "--group", group, "--checkpoint", str(tmp_path / "ckpt"),
             "--out", str(out), "--master", master,
             "--session-timeout-ms", str(session_timeout_s * 1000)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def seen() -> set[str]:
        return set(out.read_text().split()) if out.exists() else set()

    first = run()
    try:
        kafka_broker.produce(topic, ["before-0"], partition=0)
        kafka_broker.produce(topic, ["before-1"], partition=1)
        wait_until(lambda: {"before-0", "before-1"} <= seen(), timeout=90,
                   what="the first job to read both partitions")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    killed_at = time.monotonic()
    kafka_broker.produce(topic, ["after-0"], partition=0)
    kafka_broker.produce(topic, ["after-1"], partition=1)
    second = run()
    try:
        wait_until(lambda: {"after-0", "after-1"} <= seen(), timeout=2 * session_timeout_s,
                   what="the restarted job to read both partitions")
        took = time.monotonic() - killed_at
    finally:
        second.kill()
        second.wait(timeout=30)
    # The bound is the behaviour, not a speed: a dynamic member cannot be assigned the
    # dead member's partitions before its session times out (45 s after the kill).
    print(f"restarted receiver job read again {took:.1f} s after the SIGKILL "
          f"(session.timeout.ms={session_timeout_s * 1000})")
    reliability.record(
        "receiver job SIGKILLed and restarted, static group membership",
        "the restarted job takes its partitions back at once, not after the dead member's "
        "session", session_timeout_s=session_timeout_s, read_again_s_after_kill=took)
    assert took < session_timeout_s - 10, f"{took:.1f} s after the kill"


def test_a_second_consumer_with_the_receiver_s_instance_id_stops_it_saying_so(
        master, kafka_broker) -> None:
    import confluent_kafka

    topic, group = f"recv-fence-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic)
    kafka_broker.produce(topic, ["a"])
    streaming = ManualStreaming(master=master)
    other = None
    try:
        stream = KafkaUtils.createStream(streaming.ssc, kafka_broker.bootstrap_servers, group,
                                         {topic: 1}, {"auto.offset.reset": "earliest"})
        stream.foreachRDD(lambda rdd: None)
        streaming.start()
        streaming.cut_blocks(stream._id, 1, timeout=60)  # a member of the group
        instance = stream.getReceiver().consumer_params()["group.instance.id"]
        assert instance == f"fastdstream-{streaming.ssc.sparkContext.appName}-receiver-0"
        # Another job with the same identity (same app name, no checkpoint directory).
        other = confluent_kafka.Consumer({"bootstrap.servers": kafka_broker.bootstrap_servers,
                                          "group.id": group, "group.instance.id": instance})
        other.subscribe([topic])
        other.poll(5)
        error = streaming.take_error(timeout=60)
        assert f"fenced out of group {group}" in str(error)
        assert f"group.instance.id={instance!r}" in str(error)
    finally:
        if other is not None:
            other.close()
        streaming.stop()


def test_a_receiver_kept_waiting_for_its_assignment_says_what_it_waits_for(
        master, kafka_broker, caplog) -> None:
    import logging

    import confluent_kafka

    caplog.set_level(logging.INFO, logger="fastdstream.sources.kafka.receiver")
    topic, group = f"recv-wait-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic)
    # A member that stops polling (hung, not dead: it still heartbeats) holds the
    # group's rebalance until it is expired.
    hung = confluent_kafka.Consumer({"bootstrap.servers": kafka_broker.bootstrap_servers,
                                     "group.id": group, "session.timeout.ms": 45000,
                                     "max.poll.interval.ms": 300000})
    streaming = ManualStreaming(master=master)
    try:
        hung.subscribe([topic], on_assign=lambda c, ps: None)
        wait_until(lambda: bool(hung.poll(0.2) or True) and hung.assignment() != [],
                   timeout=60, what="the first member's assignment")
        stream = KafkaUtils.createStream(streaming.ssc, kafka_broker.bootstrap_servers, group,
                                         {topic: 1}, {"auto.offset.reset": "earliest",
                                                      "group.instance.id": ""})
        stream.foreachRDD(lambda rdd: None)
        streaming.start()

        def waiting() -> list[str]:
            return [r.getMessage() for r in caplog.records
                    if "no partitions assigned by group" in r.getMessage()]

        wait_until(lambda: waiting() != [], timeout=60, what="the receiver to say it waits")
        assert f"group {group}" in waiting()[0]
        assert "session.timeout.ms" in waiting()[0]
        assert "as a dynamic member" in waiting()[0]
    finally:
        hung.close()
        streaming.stop()


# The consumer's reconnection is the client's, the same on every back end: ray runs
# the harder case (SIGKILL) only, to keep the suite's time bounded.
@pytest.mark.parametrize(("master", "how"), [
    ("local[2]", "restart"), ("local[2]", "kill"), ("local-cluster[2,1,1024]", "restart"),
    ("local-cluster[2,1,1024]", "kill"), ("ray", "kill")], indirect=["master"])
def test_the_receiver_goes_on_after_the_broker_is_down_and_back(
        master, own_broker: KafkaBroker, how: str, reliability) -> None:
    """While the broker is away the consumer reconnects (and, should it report an
    error, the receiver restarts and the static member rejoins the group); once the
    broker is back the receiver reads on from where it was: nothing lost."""
    topic, group = f"recv-down-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    own_broker.create_topic(topic, partitions=2)
    produced = [f"a{i}" for i in range(20)] + [f"b{i}" for i in range(20)]
    own_broker.produce(topic, produced[:20], partition=0)
    own_broker.produce(topic, produced[20:], partition=1)
    streaming = ManualStreaming(master=master)
    seen: list[str] = []
    try:
        stream = KafkaUtils.createStream(streaming.ssc, own_broker.bootstrap_servers, group,
                                         {topic: 1}, {"auto.offset.reset": "earliest"})
        stream.foreachRDD(lambda rdd: seen.extend(v for _, v in rdd.collect()))
        streaming.start()
        streaming.cut_blocks(stream._id, 40, timeout=60)
        streaming.run_batches(1)
        assert sorted(seen) == sorted(produced)
        wait_until(lambda: own_broker.committed(group, topic, 2) == [20, 20], timeout=30,
                   what="the stored blocks' offsets committed")
        if how == "restart":
            own_broker.stop(keep_data=True)
        else:
            own_broker.kill()
        own_broker.start()
        back_at = time.monotonic()
        after = [f"c{i}" for i in range(10)]
        own_broker.produce(topic, after, partition=1)
        produced += after
        deadline = back_at + 120
        while not set(produced) <= set(seen):  # in as many batches as it takes
            assert time.monotonic() < deadline, f"read {sorted(seen)}"
            streaming.cut_blocks(stream._id, 1, timeout=120)
            streaming.run_batches(1)
        took = time.monotonic() - back_at
        reliability.record(
            f"Kafka broker {'SIGKILLed' if how == 'kill' else 'stopped'} and restarted "
            "mid-stream, receiver stream", "the consumer reconnects; once the broker is "
            "back the receiver reads on where it was", produced=len(produced), read=len(seen),
            lost=len(set(produced) - set(seen)), read_twice=len(seen) - len(set(seen)),
            receiver_errors=len(streaming.recorder.events_named("receiverError")),
            read_again_s=took)
        assert set(seen) == set(produced)  # at-least-once: a duplicate would be allowed
    finally:
        streaming.stop()
