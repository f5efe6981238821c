"""A receiver job for the SIGTERM tests: ``--lines`` lines are received, then it waits.

Its receiver stores every line of ``--input`` and then writes ``--ready`` (the test
sends the signal once that file exists, so every line has been received); each batch
appends its lines to ``--out``. With ``--graceful`` it sets
``spark.streaming.stopGracefullyOnShutdown``; with ``--manual-clock`` no batch ever
runs by itself.
"""

from __future__ import annotations

import argparse
import os

from fastdstream import Context, StreamingContext
from fastdstream.streaming.receiver.receiver import Receiver


class FileLines(Receiver):
    def __init__(self, path: str, ready: str) -> None:
        super().__init__()
        self.path, self.ready = path, ready

    def onStart(self) -> None:
        with open(self.path, encoding="utf-8") as lines:
            self.store([line.rstrip("\n") for line in lines])
        with open(self.ready + ".tmp", "w", encoding="utf-8"):
            pass
        os.replace(self.ready + ".tmp", self.ready)

    def onStop(self) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("--input", "--out", "--ready"):
        parser.add_argument(name, required=True)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--graceful", action="store_true")
    parser.add_argument("--manual-clock", action="store_true")
    args = parser.parse_args()
    conf = {"spark.streaming.blockInterval": "50ms"}
    if args.graceful:
        conf["spark.streaming.stopGracefullyOnShutdown"] = "true"
    if args.manual_clock:
        conf["spark.streaming.clock"] = "manual"
    ssc = StreamingContext(Context(args.master, conf=conf), 0.3)

    def append(rdd) -> None:
        lines = rdd.collect()
        if lines:
            with open(args.out, "a", encoding="utf-8") as out:
                out.write("".join(f"{line}\n" for line in lines))
                out.flush()
                os.fsync(out.fileno())

    ssc.receiverStream(FileLines(args.input, args.ready)).foreachRDD(append)
    ssc.start()
    ssc.awaitTermination()
    print("awaitTermination returned", flush=True)  # not reached on a signal


if __name__ == "__main__":
    main()
