"""A receiver-based Kafka job with the write-ahead log, for the SIGKILL test.

Appends every record it processes to ``--out`` (one line each, fsynced per batch).
"""

from __future__ import annotations

import argparse
import os

from fastdstream import Context, StreamingContext
from fastdstream.kafka import KafkaUtils


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("--bootstrap", "--topic", "--group", "--checkpoint", "--out"):
        parser.add_argument(name, required=True)
    parser.add_argument("--seconds", type=float, default=0)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--session-timeout-ms", type=int, default=6000)
    args = parser.parse_args()
    sc = Context(args.master, conf={"spark.streaming.receiver.writeAheadLog.enable": "true",
                                   "spark.streaming.blockInterval": "50ms"})
    ssc = StreamingContext(sc, 0.2)
    ssc.checkpoint(args.checkpoint)
    stream = KafkaUtils.createStream(ssc, args.bootstrap, args.group, {args.topic: 1},
                                     {"auto.offset.reset": "earliest",
                                      # a killed dynamic member leaves the group
                                      # sooner (a static one is taken over at once)
                                      "session.timeout.ms": args.session_timeout_ms})

    def append(rdd) -> None:
        values = [v for _, v in rdd.collect()]
        if values:
            with open(args.out, "a", encoding="utf-8") as out:
                out.write("".join(f"{v}\n" for v in values))
                out.flush()
                os.fsync(out.fileno())

    stream.foreachRDD(append)
    ssc.start()
    ssc.awaitTerminationOrTimeout(args.seconds or None)
    ssc.stop(stopGraceFully=True)


if __name__ == "__main__":
    main()
