"""createDirectStream -> flatMap -> map -> updateStateByKey, built with getOrCreate,
for the SIGKILL exactly-once-state test.

Each batch replaces the table ``state`` with the whole state and ``progress`` with
the offsets the batch read up to, in one SQLite transaction: what is stored is the
state as of one batch. Nothing but the streaming checkpoint carries the state and the
positions across a kill; every run records whether it recovered.
"""

from __future__ import annotations

import logging
from datetime import datetime

from kill_restart import job_parser, open_db, run_recorded

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
    parser = job_parser()
    parser.add_argument("--state-checkpoint", type=float, default=1.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    db = open_db(args.db, SCHEMA)
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

    run_recorded(StreamingContext.getOrCreate(args.checkpoint, setup), db, idle,
                 args.stop_after_idle)


if __name__ == "__main__":
    main()
