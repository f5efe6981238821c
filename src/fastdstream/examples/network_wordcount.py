r"""Counts words in UTF-8 text received from the network every second.

PySpark's ``network_wordcount.py``, ported by changing its imports.

Usage::

    fastdstream example network_wordcount                 # starts its own line server
    fastdstream example network_wordcount localhost 9999  # reads `fastdstream line-server`
    fastdstream example network_wordcount --columnar      # the no-Python-objects path
    fastdstream example network_wordcount --master "local-cluster[2,1,1024]"  # processes

Without a host and port it starts a line server on 127.0.0.1 that feeds
generated text, and stops after ``--seconds`` (default 10).
"""

from __future__ import annotations

import argparse
import threading
from operator import add

from fastdstream import SparkContext
from fastdstream.streaming import StreamingContext
from fastdstream.testing.line_server import LineServer, demo_lines, feed


def main() -> None:
    parser = argparse.ArgumentParser(prog="fastdstream example network_wordcount",
                                     description="network word count")
    parser.add_argument("hostname", nargs="?")
    parser.add_argument("port", nargs="?", type=int)
    parser.add_argument("--batch", type=float, default=1.0, help="batch interval, seconds")
    parser.add_argument("--master", default=None,
                        help="local[N] (threads) or local-cluster[N,C,M] (worker processes); "
                             "default: fastdstream submit's --master, else local[*]")
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="run this long (0 = until interrupted)")
    parser.add_argument("--columnar", action="store_true",
                        help="count with Arrow kernels: flatMap(str.split).countByValue()")
    args = parser.parse_args()

    server = stop_feed = None
    if args.hostname is None:
        server = LineServer()
        stop_feed = threading.Event()
        threading.Thread(target=feed, args=(server, demo_lines(), 50.0, stop_feed),
                         daemon=True).start()
        args.hostname, args.port = server.address
        print(f"feeding demo text from a line server on {args.hostname}:{args.port}")
    elif args.port is None:
        parser.error("give both hostname and port, or neither")

    sc = SparkContext(args.master, appName="PythonStreamingNetworkWordCount")
    ssc = StreamingContext(sc, args.batch)

    lines = ssc.socketTextStream(args.hostname, args.port)
    if args.columnar:
        counts = lines.flatMap(str.split).countByValue()
    else:
        counts = (lines.flatMap(lambda line: line.split(" "))
                  .map(lambda word: (word, 1))
                  .reduceByKey(add))
    counts.pprint()

    ssc.start()
    try:
        ssc.awaitTermination(args.seconds or None)
    except KeyboardInterrupt:
        pass
    finally:
        ssc.stop(stopGraceFully=True)
        if server is not None and stop_feed is not None:
            stop_feed.set()
            server.stop()


if __name__ == "__main__":
    main()
