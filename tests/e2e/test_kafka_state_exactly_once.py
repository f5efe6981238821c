"""Kafka direct + state is exactly-once for the state: a job
``createDirectStream -> flatMap -> map -> updateStateByKey``, checkpointed and built
with getOrCreate, is SIGKILLed at random points while input is produced and restarted
several times; in the end its state equals the counts of what was produced -- nothing
lost, nothing counted twice. Only the streaming checkpoint carries the state and the
stream's positions from one run to the next."""

from __future__ import annotations

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

JOB = Path(__file__).with_name("kafka_state_job.py")


def test_state_counts_every_produced_record_once_across_sigkills(master, kafka_broker,
                                                                 tmp_path: Path,
                                                                 reliability) -> None:
    topic = f"state-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic, partitions=2)
    db, checkpoint = tmp_path / "state.sqlite", tmp_path / "checkpoint"
    rng, kills = random.Random(20261130), random.Random(3)
    run = checkpointed_job(JOB, master, kafka_broker, topic, checkpoint, db)
    feed, produced = word_feed(kafka_broker, topic, 40, rng)
    # Records the state stored so far has counted (the offsets its batch read to).
    killed_at = kill_repeatedly(
        run, lambda: stored_count(db, "SELECT COALESCE(SUM(until), 0) FROM progress"),
        feed, 40 * 40, kills)
    run_to_end(run)
    with sqlite3.connect(db) as conn:
        assert_each_restart_recovered(conn)
        state = dict(conn.execute("SELECT word, n FROM state").fetchall())
        progress = sorted(conn.execute("SELECT partition, until FROM progress").fetchall())
    reliability.record(
        "driver SIGKILLed mid-stream, updateStateByKey over a direct stream",
        "state read back from its checkpointed RDD, not recounted",
        kills=len(killed_at), records_in_state_at_each_kill=killed_at,
        records_read=sum(u for _, u in progress), words_produced=sum(produced.values()),
        words_in_state=sum(state.values()))
    assert progress == [(0, 20 * 40), (1, 20 * 40)]
    assert state == dict(produced)
