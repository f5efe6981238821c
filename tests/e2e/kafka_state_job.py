"""createDirectStream -> flatMap -> map -> updateStateByKey, built with getOrCreate,
for the SIGKILL exactly-once-state test.

Each batch replaces the table ``state`` with the whole state and ``progress`` with
the offsets the batch read up to, in one SQLite transaction: what is stored is the
state as of one batch. Nothing but the streaming checkpoint carries the state and the
positions across a kill; every run records whether it recovered.
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
from datetime import datetime

from fastdstream import Context, StreamingContext
from fastdstream.engine.rdd import RDD
from fastdstream.kafka import KafkaUtils

SCHEMA = """
CREATE TABLE IF NOT EXISTS state (word TEXT PRIMARY KEY, n INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS progress (partition INTEGER PRIMARY KEY, until INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS runs (recovered_from INTEGER);
"""


def add_counts(new: list[int], total: int | None) -> int:
    return sum(new) + (total or 0)


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("--bootstrap", "--topic", "--checkpoint", "--db"):
        parser.add_argument(name, required=True)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--batch", type=float, default=0.2)
    parser.add_argument("--state-checkpoint", type=float, default=1.0)
    parser.add_argument("--stop-after-idle", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    db = sqlite3.connect(args.db, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.executescript(SCHEMA)
    ranges_by_time: dict[int, list[tuple[int, int]]] = {}
    idle = [0]

    def note_ranges(time: datetime, rdd: RDD) -> None:
        ranges = rdd.offsetRanges()
        ranges_by_time[round(time.timestamp() * 1000)] = [
            (r.partition, r.untilOffset) for r in ranges]
        idle[0] = 0 if any(r.count() for r in ranges) else idle[0] + 1

    def store(time: datetime, rdd: RDD) -> None:
        state = rdd.collect()
        ranges = ranges_by_time.pop(round(time.timestamp() * 1000))
        db.execute("BEGIN IMMEDIATE")
        db.execute("DELETE FROM state")
        db.executemany("INSERT INTO state VALUES (?, ?)", state)
        db.executemany("INSERT INTO progress VALUES (?, ?) ON CONFLICT(partition) "
                       "DO UPDATE SET until = excluded.until", ranges)
        db.execute("COMMIT")

    def setup() -> StreamingContext:
        ssc = StreamingContext(Context(args.master, "KafkaState"), args.batch)
        stream = KafkaUtils.createDirectStream(
            ssc, [args.topic], {"bootstrap.servers": args.bootstrap,
                                "group.id": f"state-{args.topic}",
                                "auto.offset.reset": "earliest"})
        stream.foreachRDD(note_ranges)
        state = (stream.flatMap(lambda kv: kv[1].split())
                 .map(lambda word: (word, 1))
                 .updateStateByKey(add_counts))
        state.checkpoint(args.state_checkpoint)
        state.foreachRDD(store)
        return ssc

    ssc = StreamingContext.getOrCreate(args.checkpoint, setup)
    initial = ssc._initial_checkpoint
    db.execute("INSERT INTO runs VALUES (?)",
               (initial.checkpoint_time if initial is not None else None,))
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
