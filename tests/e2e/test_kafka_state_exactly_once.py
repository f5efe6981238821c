"""Kafka direct + state is exactly-once for the state: a job
``createDirectStream -> flatMap -> map -> updateStateByKey``, checkpointed and built
with getOrCreate, is SIGKILLed at random points while input is produced and restarted
several times; in the end its state equals the counts of what was produced -- nothing
lost, nothing counted twice. Only the streaming checkpoint carries the state and the
stream's positions from one run to the next."""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest
from test_kafka_exactly_once import KILLS, Feed, kill_mid_stream, produce_lines

pytestmark = pytest.mark.e2e

JOB = Path(__file__).with_name("kafka_state_job.py")


def records_read(db: Path) -> int:
    """Records the state stored so far has counted (the offsets its batch read to)."""
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        try:
            return conn.execute("SELECT COALESCE(SUM(until), 0) FROM progress").fetchone()[0]
        except sqlite3.OperationalError:  # killed before it made its tables
            return 0


def test_state_counts_every_produced_record_once_across_sigkills(master, kafka_broker,
                                                                 tmp_path: Path) -> None:
    topic = f"state-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic, partitions=2)
    db, checkpoint = tmp_path / "state.sqlite", tmp_path / "checkpoint"
    rng, kills = random.Random(20261130), random.Random(3)
    produced: Counter = Counter()
    total = 40 * 40
    killed: list[int] = []

    def run(*extra: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, str(JOB), "--bootstrap", kafka_broker.bootstrap_servers,
             "--topic", topic, "--checkpoint", str(checkpoint), "--db", str(db),
             "--master", master, *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    feed = Feed(lambda chunk: produce_lines(kafka_broker, topic, 2, chunk, rng, produced),
                chunks=40).start()
    try:
        for _ in range(KILLS):
            killed.append(kill_mid_stream(run(), lambda: records_read(db),
                                          killed[-1] if killed else 0, total,
                                          jitter=kills.uniform(0, 0.5)))
            feed.next_part()
        feed.finish()
    finally:
        feed.stop()
    assert len(killed) == KILLS and 0 < killed[0] < killed[-1] < total, killed
    final = run("--stop-after-idle", "5")
    out, _ = final.communicate(timeout=180)
    assert final.returncode == 0, out
    with sqlite3.connect(db) as conn:
        runs = [r for (r,) in conn.execute("SELECT recovered_from FROM runs")]
        state = dict(conn.execute("SELECT word, n FROM state").fetchall())
        progress = sorted(conn.execute("SELECT partition, until FROM progress").fetchall())
    # The first run started afresh, every later one from a checkpoint.
    assert runs[0] is None and all(r is not None for r in runs[1:]) and len(runs) == KILLS + 1
    assert progress == [(0, 20 * 40), (1, 20 * 40)]
    assert state == dict(produced)
