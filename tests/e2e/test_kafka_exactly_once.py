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
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]
KILLS = 3


class Feed:
    """Produces the input from a background thread, one chunk at a time, spread out.

    The chunks come in ``KILLS + 1`` equal parts, and each kill releases the next part
    (:meth:`next_part`): so every kill lands while some input is not even produced yet,
    and every restarted job has new input to commit before it can be killed again.
    """

    def __init__(self, produce_chunk: Callable[[int], None], chunks: int) -> None:
        self._produce_chunk = produce_chunk
        self._chunks = chunks
        self._part = chunks // (KILLS + 1)
        self._allowed = self._part
        self._stop = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.produced = 0
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            for chunk in range(self._chunks):
                with self._cond:
                    self._cond.wait_for(lambda c=chunk: self._stop or c < self._allowed,
                                        timeout=300)
                    if self._stop or chunk >= self._allowed:
                        return
                self._produce_chunk(chunk)
                self.produced = chunk + 1
                with self._cond:  # spread the input over the job's batches and kills
                    if self._cond.wait_for(lambda: self._stop, timeout=0.15):
                        return
        except BaseException as e:  # reported by finish()
            self.error = e

    def start(self) -> Feed:
        self._thread.start()
        return self

    def next_part(self) -> None:
        with self._cond:
            self._allowed += self._part
            self._cond.notify_all()

    def finish(self, timeout: float = 120.0) -> None:
        """Release the rest of the input and wait until all of it is produced."""
        with self._cond:
            self._allowed = self._chunks
            self._cond.notify_all()
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "producing the input did not finish in time"
        if self.error is not None:
            raise self.error
        assert self.produced == self._chunks

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(30)


def kill_mid_stream(job: subprocess.Popen, committed: Callable[[], int], floor: int,
                    total: int, jitter: float, timeout: float = 60.0) -> int:
    """SIGKILL ``job`` once the committed count has risen above ``floor``.

    ``committed`` is the count the job's output store shows, polled with a deadline.
    The kill comes ``jitter`` seconds after the count first rose, at a random point of
    a later batch (mid-batch, mid-commit, between batches). Returns the count
    committed when the job died. The job is dead when this returns or fails.
    """
    try:
        deadline = time.monotonic() + timeout
        while (seen := committed()) <= floor:
            if job.poll() is not None:
                pytest.fail(f"the job exited ({job.returncode}) having committed {seen} "
                            f"records:\n{job.communicate(timeout=30)[0]}")
            if time.monotonic() > deadline:
                job.kill()
                pytest.fail(f"the job committed no more than {floor} of {total} records "
                            f"within {timeout:.0f} s:\n{job.communicate(timeout=30)[0]}")
            time.sleep(0.05)
        with contextlib.suppress(subprocess.TimeoutExpired):
            job.wait(timeout=jitter)
        if job.poll() is not None:
            pytest.fail(f"the job exited ({job.returncode}) before its kill:\n"
                        f"{job.communicate(timeout=30)[0]}")
        os.kill(job.pid, signal.SIGKILL)
    finally:
        if job.poll() is None:
            job.kill()
        job.communicate(timeout=30)
    at_kill = committed()
    # Not all input was produced yet (Feed), so this holds by construction.
    assert floor < seen <= at_kill < total, (floor, seen, at_kill, total)
    return at_kill


def produce_lines(broker, topic: str, partitions: int, chunk: int, rng: random.Random,
                  produced: Counter) -> None:
    lines = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 6)))
             for _ in range(40)]
    broker.produce(topic, lines, partition=chunk % partitions)
    for line in lines:
        produced.update(line.split())


def stored_records(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        try:
            return conn.execute("SELECT COALESCE(SUM(until), 0) FROM offsets").fetchone()[0]
        except sqlite3.OperationalError:  # killed before it made its tables
            return 0


def run_job(master: str, bootstrap: str, topic: str, db: Path, *extra: str
            ) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(EXAMPLES / "kafka_exactly_once.py"), "--bootstrap", bootstrap,
         "--master", master, "--topic", topic, "--db", str(db), "--batch", "0.2", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def test_sqlite_results_and_offsets_survive_sigkill(master, kafka_broker, tmp_path: Path
                                                    ) -> None:
    topic = f"eo-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic, partitions=2)
    db = tmp_path / "counts.sqlite"
    rng, kills = random.Random(20261128), random.Random(7)
    killed: list[int] = []  # records stored when each kill landed
    produced: Counter = Counter()
    total = 60 * 40
    feed = Feed(lambda chunk: produce_lines(kafka_broker, topic, 2, chunk, rng, produced),
                chunks=60).start()
    try:
        for _ in range(KILLS):
            job = run_job(master, kafka_broker.bootstrap_servers, topic, db)
            killed.append(kill_mid_stream(job, lambda: stored_records(db),
                                          killed[-1] if killed else 0, total,
                                          jitter=kills.uniform(0, 0.5)))
            feed.next_part()
        feed.finish()
    finally:
        feed.stop()
    # every kill landed mid-stream, each once more was stored than at the last one
    assert len(killed) == KILLS and 0 < killed[0] < killed[-1] < total, killed
    final = run_job(master, kafka_broker.bootstrap_servers, topic, db, "--stop-after-idle", "5")
    out, _ = final.communicate(timeout=180)
    assert final.returncode == 0, out
    with sqlite3.connect(db) as conn:
        counts = dict(conn.execute("SELECT word, n FROM counts").fetchall())
        offsets = sorted(conn.execute("SELECT partition, until FROM offsets").fetchall())
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


def test_kafka_to_kafka_transactions_survive_sigkill(master, kafka_broker) -> None:
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
        return subprocess.Popen(
            [sys.executable, str(EXAMPLES / "kafka_to_kafka_exactly_once.py"),
             "--bootstrap", kafka_broker.bootstrap_servers, "--master", master,
             "--input", source,
             "--output", sink, "--transactional-id", txid, "--batch", "0.2", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    kills = random.Random(11)
    killed: list[int] = []  # committed output records when each kill landed
    total = 40 * 25
    committed = CommittedCount(kafka_broker, sink, 1)
    feed = Feed(produce, chunks=40).start()
    try:
        for _ in range(KILLS):
            job = run()
            killed.append(kill_mid_stream(job, committed, killed[-1] if killed else 0,
                                          total, jitter=kills.uniform(0, 0.5)))
            feed.next_part()
        feed.finish()
    finally:
        feed.stop()
        committed.close()
    assert len(expected) == total
    # every kill landed mid-stream, each once more was committed than at the last one
    assert len(killed) == KILLS and 0 < killed[0] < killed[-1] < total, killed
    final = run("--stop-after-idle", "5")
    out, _ = final.communicate(timeout=180)
    assert final.returncode == 0, out
    assert sorted(read_committed(kafka_broker, sink, 1)) == sorted(expected)
