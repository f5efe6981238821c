"""A direct Kafka word count built with getOrCreate, for the SIGKILL recovery test.

The stream's positions come from the streaming checkpoint, not from the output
store: each batch's counts and offset ranges are stored in SQLite under its batch
time, replacing what an earlier run stored for that time (a batch run again after a
recovery reads the same ranges, or, if its checkpoint was never written, goes on
from the checkpoint's positions). Every run records whether it recovered.
"""

from __future__ import annotations

import logging
import operator
from datetime import datetime

from kill_restart import job_parser, open_db, run_recorded

from fastdstream import Context, StreamingContext
from fastdstream.engine.rdd import RDD
from fastdstream.kafka import KafkaUtils

SCHEMA = """
CREATE TABLE IF NOT EXISTS counts (time INTEGER NOT NULL, word TEXT NOT NULL,
                                   n INTEGER NOT NULL, PRIMARY KEY (time, word));
CREATE TABLE IF NOT EXISTS ranges (time INTEGER NOT NULL, partition INTEGER NOT NULL,
                                   start INTEGER NOT NULL, until INTEGER NOT NULL,
                                   PRIMARY KEY (time, partition));
CREATE TABLE IF NOT EXISTS runs (recovered_from INTEGER);
"""


def main() -> None:
    args = job_parser().parse_args()
    logging.basicConfig(level=logging.WARNING)

    db = open_db(args.db, SCHEMA)
    idle = [0]

    def store(time: datetime, rdd: RDD) -> None:
        t = round(time.timestamp() * 1000)
        ranges = rdd.offsetRanges()
        counts = rdd.collect()
        db.execute("BEGIN IMMEDIATE")
        db.execute("DELETE FROM counts WHERE time = ?", (t,))
        db.execute("DELETE FROM ranges WHERE time = ?", (t,))
        db.executemany("INSERT INTO counts VALUES (?, ?, ?)", [(t, w, n) for w, n in counts])
        db.executemany("INSERT INTO ranges VALUES (?, ?, ?, ?)",
                       [(t, r.partition, r.fromOffset, r.untilOffset) for r in ranges])
        db.execute("COMMIT")
        idle[0] = 0 if any(r.count() for r in ranges) else idle[0] + 1

    def setup() -> StreamingContext:
        ssc = StreamingContext(Context(args.master, "KafkaCheckpoint"), args.batch)
        stream = KafkaUtils.createDirectStream(
            ssc, [args.topic], {"bootstrap.servers": args.bootstrap,
                                "group.id": f"checkpointed-{args.topic}",
                                "auto.offset.reset": "earliest"})
        counts = stream.map(operator.itemgetter(1)).flatMap(str.split).countByValue()
        counts.foreachRDD(store)
        return ssc

    run_recorded(StreamingContext.getOrCreate(args.checkpoint, setup), db, idle,
                 args.stop_after_idle)


if __name__ == "__main__":
    main()
