"""Exactly-once output, shown: the job is SIGKILLed while input is produced, restarted,
and the final results equal exactly what was produced -- nothing lost, nothing twice."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections import Counter
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]


def produce_lines(broker, topic: str, partitions: int, chunks: int, stop: threading.Event,
                  rng: random.Random) -> Counter:
    produced: Counter = Counter()
    for chunk in range(chunks):
        if stop.is_set():
            break
        lines = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 6)))
                 for _ in range(40)]
        for line in lines:
            produced.update(line.split())
        broker.produce(topic, lines, partition=chunk % partitions)
        stop.wait(0.15)  # spread the input over the kills; no timing is asserted
    return produced


def stored_records(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        try:
            return conn.execute("SELECT COALESCE(SUM(until), 0) FROM offsets").fetchone()[0]
        except sqlite3.OperationalError:  # killed before it made its tables
            return 0


def run_job(bootstrap: str, topic: str, db: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(EXAMPLES / "kafka_exactly_once.py"), "--bootstrap", bootstrap,
         "--topic", topic, "--db", str(db), "--batch", "0.2", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def test_sqlite_results_and_offsets_survive_sigkill(kafka_broker, tmp_path: Path) -> None:
    topic = f"eo-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic, partitions=2)
    db = tmp_path / "counts.sqlite"
    rng, kills = random.Random(20261128), random.Random(7)
    killed: list[int] = []  # records stored when each kill landed
    stop = threading.Event()
    produced: list[Counter] = []
    producer = threading.Thread(
        target=lambda: produced.append(produce_lines(kafka_broker, topic, 2, 60, stop, rng)))
    producer.start()
    try:
        for _ in range(3):
            job = run_job(kafka_broker.bootstrap_servers, topic, db)
            # kill at a random point: during start-up, mid-batch, mid-commit
            with contextlib.suppress(subprocess.TimeoutExpired):
                job.wait(timeout=kills.uniform(1.5, 3.5))
            if job.poll() is None:
                os.kill(job.pid, signal.SIGKILL)
                killed.append(stored_records(db))
            job.wait(timeout=30)
            if job.stdout:
                job.stdout.close()
    finally:
        producer.join(timeout=120)
        stop.set()
    assert not producer.is_alive() and produced
    # the kills landed while the job was working: some stored progress, not all of it
    assert len(killed) == 3 and any(0 < k < 2 * 30 * 40 for k in killed), killed
    final = run_job(kafka_broker.bootstrap_servers, topic, db, "--stop-after-idle", "5")
    out, _ = final.communicate(timeout=180)
    assert final.returncode == 0, out
    with sqlite3.connect(db) as conn:
        counts = dict(conn.execute("SELECT word, n FROM counts").fetchall())
        offsets = sorted(conn.execute("SELECT partition, until FROM offsets").fetchall())
    assert counts == dict(produced[0])
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


def test_kafka_to_kafka_transactions_survive_sigkill(kafka_broker) -> None:
    source, sink = f"k2k-in-{uuid.uuid4().hex[:8]}", f"k2k-out-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(source, partitions=2)
    kafka_broker.create_topic(sink, partitions=1)
    txid = f"tx-{uuid.uuid4().hex[:8]}"
    expected: list[tuple[str, str]] = []
    stop = threading.Event()

    def produce() -> None:
        for chunk in range(40):
            keys = [f"k{chunk}-{i}" for i in range(25)]
            lines = [f"line {chunk}-{i}" for i in range(25)]
            kafka_broker.produce(source, lines, keys=keys, partition=chunk % 2)
            expected.extend((k, v.upper()) for k, v in zip(keys, lines, strict=True))
            if stop.wait(0.15):  # spread the input over the kills; nothing is timed
                return

    def run(*extra: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, str(EXAMPLES / "kafka_to_kafka_exactly_once.py"),
             "--bootstrap", kafka_broker.bootstrap_servers, "--input", source,
             "--output", sink, "--transactional-id", txid, "--batch", "0.2", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    producer = threading.Thread(target=produce)
    producer.start()
    kills = random.Random(11)
    killed: list[int] = []  # committed output records when each kill landed
    try:
        for _ in range(3):
            job = run()
            with contextlib.suppress(subprocess.TimeoutExpired):
                job.wait(timeout=kills.uniform(1.5, 3.0))
            if job.poll() is None:
                os.kill(job.pid, signal.SIGKILL)
                killed.append(len(read_committed(kafka_broker, sink, 1)))
            job.communicate(timeout=30)
    finally:
        producer.join(timeout=120)
        stop.set()
    assert len(expected) == 40 * 25
    assert len(killed) == 3 and any(0 < k < len(expected) for k in killed), killed
    final = run("--stop-after-idle", "5")
    out, _ = final.communicate(timeout=180)
    assert final.returncode == 0, out
    assert sorted(read_committed(kafka_broker, sink, 1)) == sorted(expected)
