"""Exactly-once output, shown: the job is SIGKILLed while input is produced, restarted,
and the final results equal exactly what was produced -- nothing lost, nothing twice."""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from kill_restart import Feed, kill_repeatedly, run_to_end, stored_count, word_feed

from fastdstream.testing import child_process

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "fastdstream" / "examples"


def run_job(master: str, bootstrap: str, topic: str, db: Path, *extra: str
            ) -> subprocess.Popen:
    return child_process.start(
        [sys.executable, str(EXAMPLES / "kafka_exactly_once.py"), "--bootstrap", bootstrap,
         "--master", master, "--topic", topic, "--db", str(db), "--batch", "0.2", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def test_sqlite_results_and_offsets_survive_sigkill(master, kafka_broker, tmp_path: Path,
                                                    reliability) -> None:
    topic = f"eo-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic, partitions=2)
    db = tmp_path / "counts.sqlite"
    rng, kills = random.Random(20261128), random.Random(7)
    feed, produced = word_feed(kafka_broker, topic, 60, rng)

    def run(*extra: str) -> subprocess.Popen:
        return run_job(master, kafka_broker.bootstrap_servers, topic, db, *extra)

    killed_at = kill_repeatedly(
        run, lambda: stored_count(db, "SELECT COALESCE(SUM(until), 0) FROM offsets"),
        feed, 60 * 40, kills)
    run_to_end(run)
    with sqlite3.connect(db) as conn:
        counts = dict(conn.execute("SELECT word, n FROM counts").fetchall())
        offsets = sorted(conn.execute("SELECT partition, until FROM offsets").fetchall())
    reliability.record(
        "driver SIGKILLed mid-stream, results and offsets in one SQLite transaction",
        "restarts from the stored offsets: counts exact", kills=len(killed_at),
        records_stored_at_each_kill=killed_at, records_read=sum(u for _, u in offsets),
        words_produced=sum(produced.values()), words_counted=sum(counts.values()))
    assert counts == dict(produced)
    assert offsets == [(0, 30 * 40), (1, 30 * 40)]


def read_committed(broker, topic: str, partitions: int) -> list[tuple[str, str]]:
    """Everything a read_committed consumer sees in ``topic``, to the end."""
    import confluent_kafka

    consumer = confluent_kafka.Consumer({
        "bootstrap.servers": broker.bootstrap_servers, "group.id": f"check-{uuid.uuid4()}",
        "isolation.level": "read_committed", "enable.auto.commit": False})
    try:
        tps = [confluent_kafka.TopicPartition(topic, p, 0) for p in range(partitions)]
        ends = [consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in tps]
        consumer.assign(tps)
        out: list[tuple[str, str]] = []
        idle = 0
        while idle < 10:
            messages = consumer.consume(1000, timeout=0.5)
            idle = 0 if messages else idle + 1
            for m in messages:
                assert m.error() is None, m.error()
                out.append((m.key().decode() if m.key() else None, m.value().decode()))
            positions = consumer.position(tps)
            if all(p.offset >= end for p, end in zip(positions, ends, strict=True)):
                break
        return out
    finally:
        consumer.close()


class CommittedCount:
    """How many records of ``topic`` a read_committed consumer sees: exact as of each
    call, and cheap to poll, since one consumer reads on from where it stopped."""

    def __init__(self, broker, topic: str, partitions: int) -> None:
        import confluent_kafka

        self._consumer = confluent_kafka.Consumer({
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": f"count-{uuid.uuid4()}", "isolation.level": "read_committed",
            "enable.auto.commit": False})
        self._tps = [confluent_kafka.TopicPartition(topic, p, 0) for p in range(partitions)]
        self._consumer.assign(self._tps)
        self.count = 0

    def __call__(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        # Queried by a read_committed consumer, the high watermark is the last stable
        # offset: below it every transaction is committed or aborted, and the position
        # moves past aborted records and commit markers too.
        ends = [self._consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in self._tps]
        while not all(max(p.offset, 0) >= end  # no position yet: -1001
                      for p, end in zip(self._consumer.position(self._tps), ends, strict=True)):
            assert time.monotonic() < deadline, f"not read to {ends} within {timeout} s"
            for m in self._consumer.consume(1000, timeout=0.2):
                assert m.error() is None, m.error()
                self.count += 1
        return self.count

    def close(self) -> None:
        self._consumer.close()


def test_kafka_to_kafka_transactions_survive_sigkill(master, kafka_broker, reliability
                                                    ) -> None:
    source, sink = f"k2k-in-{uuid.uuid4().hex[:8]}", f"k2k-out-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(source, partitions=2)
    kafka_broker.create_topic(sink, partitions=1)
    txid = f"tx-{uuid.uuid4().hex[:8]}"
    expected: list[tuple[str, str]] = []

    def produce(chunk: int) -> None:
        keys = [f"k{chunk}-{i}" for i in range(25)]
        lines = [f"line {chunk}-{i}" for i in range(25)]
        kafka_broker.produce(source, lines, keys=keys, partition=chunk % 2)
        expected.extend((k, v.upper()) for k, v in zip(keys, lines, strict=True))

    def run(*extra: str) -> subprocess.Popen:
        return child_process.start(
            [sys.executable, str(EXAMPLES / "kafka_to_kafka_exactly_once.py"),
             "--bootstrap", kafka_broker.bootstrap_servers, "--master", master,
             "--input", source,
             "--output", sink, "--transactional-id", txid, "--batch", "0.2", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    total = 40 * 25
    committed = CommittedCount(kafka_broker, sink, 1)
    feed = Feed(produce, chunks=40).start()
    try:
        killed_at = kill_repeatedly(run, committed, feed, total, random.Random(11))
    finally:
        committed.close()
    assert len(expected) == total
    run_to_end(run)
    output = read_committed(kafka_broker, sink, 1)
    reliability.record(
        "driver SIGKILLed mid-stream, Kafka-to-Kafka transactions",
        "aborted transactions invisible to read_committed: every input record once",
        kills=len(killed_at), committed_at_each_kill=killed_at, records_in=len(expected),
        records_out=len(output), lost=len(set(expected) - set(output)),
        duplicated=len(output) - len(set(output)))
    assert sorted(output) == sorted(expected)
