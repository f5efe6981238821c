"""Driver recovery, shown: a direct Kafka job built with getOrCreate is SIGKILLed while
input is produced and restarted; each run goes on from the streaming checkpoint (not
from offsets kept by the output), and in the end every record was counted once."""

from __future__ import annotations

import itertools
import random
import sqlite3
import uuid
from pathlib import Path

import pytest
from kill_restart import (
    assert_each_restart_recovered,
    checkpointed_job,
    kill_repeatedly,
    run_to_end,
    stored_count,
    word_feed,
)

pytestmark = pytest.mark.e2e

JOB = Path(__file__).with_name("kafka_checkpoint_job.py")


def test_a_killed_job_goes_on_from_its_checkpoint(master, kafka_broker, tmp_path: Path,
                                                  reliability) -> None:
    topic = f"cp-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic, partitions=2)
    db, checkpoint = tmp_path / "counts.sqlite", tmp_path / "checkpoint"
    rng, kills = random.Random(20261129), random.Random(5)
    run = checkpointed_job(JOB, master, kafka_broker, topic, checkpoint, db)
    feed, produced = word_feed(kafka_broker, topic, 40, rng)
    killed_at = kill_repeatedly(
        run, lambda: stored_count(db, "SELECT COALESCE(SUM(until - start), 0) FROM ranges"),
        feed, 40 * 40, kills)
    assert "restarting from the checkpoint" in run_to_end(run)
    with sqlite3.connect(db) as conn:
        assert_each_restart_recovered(conn)
        counts = dict(conn.execute("SELECT word, SUM(n) FROM counts GROUP BY word").fetchall())
        ranges = conn.execute("SELECT partition, start, until FROM ranges WHERE until > start "
                              "ORDER BY partition, start").fetchall()
    # Each partition read once, end to end: no gap, no overlap.
    for partition in (0, 1):
        mine = [(s, u) for p, s, u in ranges if p == partition]
        assert mine[0][0] == 0 and mine[-1][1] == 20 * 40, mine
        assert all(a[1] == b[0] for a, b in itertools.pairwise(mine)), mine
    reliability.record(
        "driver SIGKILLed mid-stream, direct stream with getOrCreate",
        "recovered from the streaming checkpoint: each partition read end to end, no gap, "
        "no overlap", kills=len(killed_at), records_stored_at_each_kill=killed_at,
        records_read=sum(u - s for _, s, u in ranges), offset_ranges=len(ranges),
        words_produced=sum(produced.values()), words_counted=sum(counts.values()))
    assert counts == dict(produced)
