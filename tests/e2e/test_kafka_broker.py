"""The real Kafka broker the Kafka tests run against: it starts, serves, restarts, fails loudly.

The session broker (``kafka_broker`` fixture) serves the round-trip tests, each on a
topic of its own. Tests that stop, kill or misconfigure a broker start their own and
stop it themselves. Every wait is bounded.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer

from fastdstream.testing.kafka_broker import (
    FetchProgress,
    KafkaBroker,
    KafkaBrokerError,
    fetch_kafka,
)

pytestmark = pytest.mark.e2e


def unique_topic(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def consume(broker: KafkaBroker, topic: str, n: int, timeout: float = 30.0,
            group: str | None = None, commit: bool = False
            ) -> list[tuple[int, int, bytes | None, bytes | None]]:
    """Read ``n`` records from the start of ``topic``: (partition, offset, key, value)."""
    consumer = Consumer(broker.client_config({
        "group.id": group or unique_topic("g"), "auto.offset.reset": "earliest",
        "enable.auto.commit": False}))
    out: list[tuple[int, int, bytes | None, bytes | None]] = []
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + timeout
        while len(out) < n and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            out.append((msg.partition(), msg.offset(), msg.key(), msg.value()))
        if commit and out:
            consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    assert len(out) == n, f"consumed {len(out)} of {n} records from {topic} in {timeout} s"
    return out


def assert_gone(pid: int | None) -> None:
    assert pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


# -- the session broker -------------------------------------------------------------------


def test_produce_consume_round_trip(kafka_broker: KafkaBroker) -> None:
    topic = unique_topic()
    kafka_broker.create_topic(topic)
    values = [f"line {i}" for i in range(100)]
    assert kafka_broker.produce(topic, values, keys=[f"k{i}" for i in range(100)]) == 100

    records = consume(kafka_broker, topic, 100)

    assert [v for _, _, _, v in records] == [v.encode() for v in values]
    assert [k for _, _, k, _ in records] == [f"k{i}".encode() for i in range(100)]
    assert [o for _, o, _, _ in records] == list(range(100))
    assert kafka_broker.bootstrap_servers == f"127.0.0.1:{kafka_broker.port}"


def test_topic_with_three_partitions(kafka_broker: KafkaBroker) -> None:
    topic = unique_topic()
    kafka_broker.create_topic(topic, partitions=3)
    metadata = kafka_broker.admin().list_topics(topic=topic, timeout=10)
    assert sorted(metadata.topics[topic].partitions) == [0, 1, 2]

    for p in range(3):
        values = [f"p{p}-{i}" for i in range(p + 1)]
        assert kafka_broker.produce(topic, values, partition=p) == p + 1

    records = consume(kafka_broker, topic, 1 + 2 + 3)
    by_partition: dict[int, list[bytes | None]] = {0: [], 1: [], 2: []}
    for partition, _, _, value in records:
        by_partition[partition].append(value)
    assert by_partition == {p: [f"p{p}-{i}".encode() for i in range(p + 1)] for p in range(3)}


def test_delete_topic_and_missing_topic(kafka_broker: KafkaBroker) -> None:
    topic = unique_topic()
    kafka_broker.create_topic(topic)
    assert topic in kafka_broker.topics()
    kafka_broker.delete_topic(topic)
    assert topic not in kafka_broker.topics()

    # auto.create.topics.enable=false: producing to it now fails, within the bound given.
    began = time.monotonic()
    with pytest.raises(KafkaBrokerError, match=topic):
        kafka_broker.produce(topic, [b"x"], timeout=3)
    assert time.monotonic() - began < 10
    assert topic not in kafka_broker.topics()


# -- brokers of their own -----------------------------------------------------------------


def test_restart_and_kill_keep_the_data() -> None:
    broker = KafkaBroker()
    try:
        broker.start()
        address, first_pid = broker.bootstrap_servers, broker.pid
        topic, group = unique_topic(), unique_topic("g")
        broker.create_topic(topic)
        broker.produce(topic, [f"a{i}" for i in range(50)])
        consume(broker, topic, 50, group=group, commit=True)

        broker.stop(keep_data=True)  # graceful
        assert not broker.is_running
        assert_gone(first_pid)
        broker.start()
        assert broker.bootstrap_servers == address  # same ports: clients reconnect
        assert broker.committed(group, topic) == [50]  # the group's offsets survived too
        broker.produce(topic, [f"b{i}" for i in range(50)])

        killed_pid = broker.pid
        broker.kill()  # SIGKILL, no shutdown hook: acknowledged records must survive
        assert_gone(killed_pid)
        broker.restart()
        assert broker.bootstrap_servers == address

        values = [v for _, _, _, v in consume(broker, topic, 100)]
        assert values == [f"{c}{i}".encode() for c in "ab" for i in range(50)]
    finally:
        work_dir, pid = broker.work_dir, broker.pid
        broker.stop()
    assert_gone(pid)
    assert work_dir is not None and not work_dir.exists()  # a temp work dir is removed


def running(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie waiting for a reaper that never comes does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


_BROKER_IN_A_CHILD = """
import sys
from fastdstream.testing.kafka_broker import KafkaBroker
broker = KafkaBroker().start()
print(broker.pid, broker.work_dir, flush=True)
sys.stdin.read()  # until killed
"""


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_a_sigkilled_parent_takes_its_broker_jvm_with_it(tmp_path: Path) -> None:
    # atexit and finally do not run on SIGKILL: the watchdog beside the JVM ends it.
    parent = subprocess.Popen([sys.executable, "-c", _BROKER_IN_A_CHILD],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    jvm_pid, work_dir = None, None
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline()  # bounded: the broker's start timeout
        jvm_pid, work_dir = int(line.split()[0]), Path(line.split()[1])
        assert running(jvm_pid)
        parent.kill()
        parent.wait(10)
        deadline = time.monotonic() + 15
        while running(jvm_pid) and time.monotonic() < deadline:
            time.sleep(0.1)  # polling another process's end: there is nothing to wait on
        assert not running(jvm_pid), "the broker's JVM outlived its SIGKILLed parent"
    finally:
        parent.kill()
        parent.wait(10)
        if jvm_pid is not None and running(jvm_pid):
            os.killpg(jvm_pid, signal.SIGKILL)
        if work_dir is not None:
            shutil.rmtree(work_dir, ignore_errors=True)


def test_the_server_profile_runs_the_jvm_as_kafka_s_start_script_and_serves() -> None:
    with KafkaBroker(jvm="server") as broker:
        flags = Path(f"/proc/{broker.pid}/cmdline").read_bytes().split(b"\0")
        assert {b"-XX:+UseG1GC", b"-Xmx1g", b"-Xms1g", b"-XX:MaxGCPauseMillis=20"} <= set(flags)
        assert not any(f.startswith(b"-XX:TieredStopAtLevel") for f in flags)  # full JIT
        assert b"-XX:+UseSerialGC" not in flags
        topic = unique_topic()
        broker.create_topic(topic)
        broker.produce(topic, ["a", "b"])
        assert [value for *_, value in consume(broker, topic, 2)] == [b"a", b"b"]


def test_an_unknown_jvm_profile_is_refused() -> None:
    with pytest.raises(ValueError, match="jvm must be one of \\['server', 'test'\\]"):
        KafkaBroker(jvm="fast")


def test_bad_config_raises_with_the_log_tail() -> None:
    broker = KafkaBroker({"num.partitions": "not-a-number"}, start_timeout=60)
    began = time.monotonic()
    with pytest.raises(KafkaBrokerError) as info:
        broker.start()
    assert time.monotonic() - began < 60
    message = str(info.value)
    assert "num.partitions" in message  # Kafka's own words, from the log tail
    assert "not-a-number" in message
    assert not broker.is_running
    assert broker.work_dir is None  # nothing left behind


def test_broker_that_exits_while_starting_raises_with_the_log_tail() -> None:
    # Formatting succeeds, the server then cannot bind its fixed port and exits.
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        broker = KafkaBroker(port=port)
        with pytest.raises(KafkaBrokerError, match="Address already in use") as info:
            broker.start(timeout=60)
    assert "exited" in str(info.value)
    assert not broker.is_running
    broker.stop()


def test_start_is_bounded() -> None:
    broker = KafkaBroker()
    began = time.monotonic()
    with pytest.raises(KafkaBrokerError, match="start timeout"):
        broker.start(timeout=0.3)  # no JVM answers that fast
    assert time.monotonic() - began < 30  # fetch is cached by now; the JVM is killed
    assert not broker.is_running
    broker.stop()


def test_script_runs_a_broker_until_interrupted() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "fastdstream.testing.kafka_broker"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 120
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("bootstrap.servers="):
                break
        address = lines[-1].strip().split("=", 1)[1] if lines else ""
        assert address.startswith("127.0.0.1:"), "".join(lines)
        host, port = address.split(":")
        socket.create_connection((host, int(port)), timeout=5).close()

        proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert proc.wait(timeout=60) == 0
        with pytest.raises(OSError):
            socket.create_connection((host, int(port)), timeout=2).close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()


# -- the jar cache ------------------------------------------------------------------------


def test_complete_cache_skips_maven(tmp_path: Path) -> None:
    libs = tmp_path / "libs"
    libs.mkdir()
    (libs / "kafka_2.13-x.jar").write_text("")
    (tmp_path / "libs.complete").write_text("kafka_2.13-x.jar\n")
    # A pom that does not exist would fail any attempt to run Maven.
    assert fetch_kafka(tmp_path, pom=tmp_path / "no-pom.xml") == libs


def test_incomplete_cache_is_fetched_again(tmp_path: Path) -> None:
    (tmp_path / "libs").mkdir()
    (tmp_path / "libs.complete").write_text("kafka_2.13-x.jar\n")  # the jar is missing
    with pytest.raises(KafkaBrokerError, match=r"no-pom\.xml"):
        fetch_kafka(tmp_path, pom=tmp_path / "no-pom.xml")


def test_a_first_fetch_logs_its_progress(tmp_path: Path, caplog: pytest.LogCaptureFixture
                                         ) -> None:
    # Maven's batch-mode lines, as a first fetch writes them; the last one half-written.
    log = tmp_path / "fetch.log"
    log.write_text(
        "[INFO] Downloading from central: https://repo.maven.apache.org/maven2/a.pom\n"
        "[INFO] Downloaded from central: https://repo.maven.apache.org/maven2/a.pom"
        " (2.1 kB at 40 kB/s)\n"
        "[INFO] Downloaded from central: https://repo.maven.apache.org/maven2/k.jar"
        " (1.5 MB at 3.0 MB/s)\n"
        "[INFO] Downloaded from central: https://repo.maven.apache.org/maven2/s.jar (6")
    progress = FetchProgress(log, every=3600)
    caplog.set_level(logging.INFO, logger="fastdstream.testing.kafka_broker")
    with progress:
        assert progress.poll() is True  # the thread waits an hour: this poll reads it all
        assert (progress.files, progress.bytes) == (2, 2100 + 1.5e6)
        with open(log, "a") as f:
            f.write(".0 MB at 9 MB/s)\n[INFO] BUILD SUCCESS\n")
    assert (progress.files, progress.bytes) == (3, 2100 + 7.5e6)
    assert caplog.messages == [
        "fetching Kafka's jars: done, downloaded 3 files, 7.5 MB (about 66 MB on a first run)"]
