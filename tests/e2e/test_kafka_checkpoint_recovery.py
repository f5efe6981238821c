"""Driver recovery, shown: a direct Kafka job built with getOrCreate is SIGKILLed while
input is produced and restarted; each run goes on from the streaming checkpoint (not
from offsets kept by the output), and in the end every record was counted once."""

from __future__ import annotations

import itertools
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

JOB = Path(__file__).with_name("kafka_checkpoint_job.py")


def stored_records(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        try:
            return conn.execute("SELECT COALESCE(SUM(until - start), 0) FROM ranges"
                                ).fetchone()[0]
        except sqlite3.OperationalError:  # killed before it made its tables
            return 0


def test_a_killed_job_goes_on_from_its_checkpoint(master, kafka_broker, tmp_path: Path
                                                  ) -> None:
    topic = f"cp-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic, partitions=2)
    db, checkpoint = tmp_path / "counts.sqlite", tmp_path / "checkpoint"
    rng, kills = random.Random(20261129), random.Random(5)
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
            killed.append(kill_mid_stream(run(), lambda: stored_records(db),
                                          killed[-1] if killed else 0, total,
                                          jitter=kills.uniform(0, 0.5)))
            feed.next_part()
        feed.finish()
    finally:
        feed.stop()
    final = run("--stop-after-idle", "5")
    out, _ = final.communicate(timeout=180)
    assert final.returncode == 0, out
    assert "restarting from the checkpoint" in out
    with sqlite3.connect(db) as conn:
        runs = [r for (r,) in conn.execute("SELECT recovered_from FROM runs")]
        counts = dict(conn.execute("SELECT word, SUM(n) FROM counts GROUP BY word").fetchall())
        ranges = conn.execute("SELECT partition, start, until FROM ranges WHERE until > start "
                              "ORDER BY partition, start").fetchall()
    # The first run started afresh, every later one from a checkpoint.
    assert runs[0] is None and all(r is not None for r in runs[1:]) and len(runs) == KILLS + 1
    # Each partition read once, end to end: no gap, no overlap.
    for partition in (0, 1):
        mine = [(s, u) for p, s, u in ranges if p == partition]
        assert mine[0][0] == 0 and mine[-1][1] == 20 * 40, mine
        assert all(a[1] == b[0] for a, b in itertools.pairwise(mine)), mine
    assert counts == dict(produced)
