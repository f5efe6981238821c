r"""Exactly-once word count from Kafka into SQLite: results and offsets in one transaction.

Spark's recipe for exactly-once output with the direct stream: store each
batch's results together with the offset ranges that produced them, atomically,
and start the stream from the offsets stored there. A crash at any point leaves
the database either before or after a batch, never half-way, and a restart
re-reads exactly what was not yet stored.

Usage::

    fastdstream example kafka_exactly_once --bootstrap 127.0.0.1:9092 --topic lines \
        --db counts.sqlite [--batch 0.5] [--stop-after-idle 4]

``--stop-after-idle N`` stops gracefully after N batches in a row with no records.
"""

from __future__ import annotations

import argparse
import operator
import sqlite3
from collections.abc import Iterable
from typing import Any

from fastdstream import Context, StreamingContext
from fastdstream.kafka import KafkaUtils, OffsetRange, TopicAndPartition

SCHEMA = """
CREATE TABLE IF NOT EXISTS counts (word TEXT PRIMARY KEY, n INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS offsets (
    topic TEXT NOT NULL, partition INTEGER NOT NULL, until INTEGER NOT NULL,
    PRIMARY KEY (topic, partition));
"""


def open_db(path: str) -> sqlite3.Connection:
    # Transactions are explicit below; the job thread, not the opener, writes.
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")  # a committed batch survives a crash
    db.executescript(SCHEMA)
    return db


def stored_offsets(db: sqlite3.Connection) -> dict[TopicAndPartition, int]:
    rows = db.execute("SELECT topic, partition, until FROM offsets").fetchall()
    return {TopicAndPartition(t, p): u for t, p, u in rows}


def store_batch(db: sqlite3.Connection, counts: Iterable[tuple[str, int]],
                ranges: list[OffsetRange]) -> bool:
    """Add a batch's counts and move its offsets, in one transaction; False if stale."""
    db.execute("BEGIN IMMEDIATE")
    try:
        stored = stored_offsets(db)
        for r in ranges:
            previous = stored.get(r.topicAndPartition())
            if previous is not None and previous != r.fromOffset:
                # Not the continuation of what is stored: already applied. Never twice.
                db.execute("ROLLBACK")
                return False
        db.executemany(
            "INSERT INTO counts (word, n) VALUES (?, ?) "
            "ON CONFLICT(word) DO UPDATE SET n = n + excluded.n", list(counts))
        db.executemany(
            "INSERT INTO offsets (topic, partition, until) VALUES (?, ?, ?) "
            "ON CONFLICT(topic, partition) DO UPDATE SET until = excluded.until",
            [(r.topic, r.partition, r.untilOffset) for r in ranges])
        db.execute("COMMIT")
        return True
    except BaseException:
        db.execute("ROLLBACK")
        raise


def main() -> None:
    parser = argparse.ArgumentParser(prog="fastdstream example kafka_exactly_once",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--master", default="local[2]",
                        help="local[N] or local-cluster[N,C,M] (default local[2])")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--group", default="exactly-once-example")
    parser.add_argument("--batch", type=float, default=0.5)
    parser.add_argument("--stop-after-idle", type=int, default=0)
    args = parser.parse_args()

    db = open_db(args.db)
    ssc = StreamingContext(Context(args.master, "KafkaExactlyOnce"), args.batch)
    stream = KafkaUtils.createDirectStream(
        ssc, [args.topic],
        {"bootstrap.servers": args.bootstrap, "group.id": args.group,
         "auto.offset.reset": "earliest"},
        fromOffsets=stored_offsets(db))
    counts = stream.map(operator.itemgetter(1)).flatMap(str.split).countByValue()

    idle = [0]

    def output(rdd: Any) -> None:  # a Kafka batch's RDD: it has offsetRanges()
        ranges = rdd.offsetRanges()
        store_batch(db, rdd.collect(), ranges)
        idle[0] = 0 if any(r.count() for r in ranges) else idle[0] + 1
        print(f"stored batch {sum(r.count() for r in ranges)} records", flush=True)

    counts.foreachRDD(output)
    ssc.start()
    try:
        while not ssc.awaitTerminationOrTimeout(0.2):
            if args.stop_after_idle and idle[0] >= args.stop_after_idle:
                break
    finally:
        ssc.stop(stopGraceFully=True)
        db.close()


if __name__ == "__main__":
    main()
