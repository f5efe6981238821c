"""A receiver job for the SIGTERM tests: ``--lines`` lines are received, then it waits.

Its receiver stores every line of ``--input``; once that is done and ``ssc.start()``
has returned (so the signal handlers of ``stopGracefullyOnShutdown`` are installed)
the job writes ``--ready``, and the test sends the signal once that file exists. Each
batch appends its lines to ``--out``. With ``--graceful`` it sets
``spark.streaming.stopGracefullyOnShutdown``; with ``--manual-clock`` no batch ever
runs by itself.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from fastdstream import Context, StreamingContext
from fastdstream.streaming.receiver.receiver import Receiver


class FileLines(Receiver):
    """Stores every line of ``path``, then writes the file ``stored`` (the receiver may
    run on an executor, in another process: a file is what the driver can see)."""

    def __init__(self, path: str, stored: str) -> None:
        super().__init__()
        self.path = path
        self.stored = stored

    def onStart(self) -> None:
        with open(self.path, encoding="utf-8") as lines:
            self.store([line.rstrip("\n") for line in lines])
        # Not the ready file yet: onStart may run inside ssc.start(), before start()
        # installs the signal handlers, and a SIGTERM sent in between ends the process
        # at once, nothing processed. The gap is a fraction of a millisecond unless the
        # main thread stalls there (a loaded machine): 1 in 3 full runs on ray failed so.
        Path(self.stored).touch()

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

    stored = args.ready + ".stored"
    ssc.receiverStream(FileLines(args.input, stored)).foreachRDD(append)
    ssc.start()
    # Every line received and the handlers in place: the test may send its signal.
    while not os.path.exists(stored):
        time.sleep(0.01)  # the receiver's file, written in its own process or thread
    with open(args.ready + ".tmp", "w", encoding="utf-8"):
        pass
    os.replace(args.ready + ".tmp", args.ready)
    ssc.awaitTermination()
    print("awaitTermination returned", flush=True)  # not reached on a signal


if __name__ == "__main__":
    main()
