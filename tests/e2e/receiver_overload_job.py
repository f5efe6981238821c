"""A socket job slower than its input, for the overload test (run as its own process so
that its RSS is the job's alone).

It reads lines from ``--port`` and each batch takes ``count / --process-rate`` seconds
(a slow job). Every completed batch is printed as a JSON line: batch time, records,
scheduling and processing delay, and the receiver's current rate limit. It stops when
its stdin closes (the test closes it, and so does the test process dying).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from fastdstream import Context, StreamingContext
from fastdstream.streaming.scheduler.listener import (
    StreamingListener,
    StreamingListenerBatchCompleted,
)


class Report(StreamingListener):
    def __init__(self, ssc: StreamingContext, stream_id: int) -> None:
        self.ssc, self.stream_id = ssc, stream_id

    def onBatchCompleted(self, batchCompleted: StreamingListenerBatchCompleted) -> None:
        info = batchCompleted.batchInfo()
        supervisor = self.ssc._receiver_tracker.supervisor(self.stream_id)
        print(json.dumps({
            "batch": info.batchTime().milliseconds(), "records": info.numRecords(),
            "scheduling_ms": info.schedulingDelay(), "processing_ms": info.processingDelay(),
            "rate": supervisor.current_rate if supervisor else None,
            "buffered_bytes": supervisor.buffered_bytes if supervisor else 0,
        }), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--batch", type=float, default=1.0)
    parser.add_argument("--process-rate", type=float, required=True, help="lines per second")
    parser.add_argument("--conf", action="append", default=[], help="key=value")
    args = parser.parse_args()
    conf = dict(item.split("=", 1) for item in args.conf)
    ssc = StreamingContext(Context("local[2]", "overload", conf=conf), args.batch)
    lines = ssc.socketTextStream("127.0.0.1", args.port)

    def slow(rdd) -> None:
        n = rdd.count()
        time.sleep(n / args.process_rate)

    lines.foreachRDD(slow)
    ssc.addStreamingListener(Report(ssc, lines._id))
    ssc.start()
    print(json.dumps({"started": True}), flush=True)
    sys.stdin.read()  # until the test closes it (or dies)
    ssc.stop(stopSparkContext=True, stopGraceFully=False)


if __name__ == "__main__":
    main()
