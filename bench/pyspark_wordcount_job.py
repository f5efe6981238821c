"""The socket word count as a PySpark program, run by PySpark and by fastdstream alike.

``bench/test_bench_pyspark.py`` starts it as a subprocess, once under PySpark (from
``.venv-peers``, where ``make bench`` installs PySpark 3.5) and once under fastdstream
(from ``.venv``): the program is the same file, only the package it imports differs --
what the README's "Porting a PySpark program" promises. Usage::

    python bench/pyspark_wordcount_job.py ENGINE MASTER PROGRAM INTERVAL HOST PORT

ENGINE is ``pyspark`` or ``fastdstream``; PROGRAM is ``columnar``
(``flatMap(str.split).countByValue()``, which fastdstream runs on Arrow kernels) or
``lambda`` (``flatMap(lambda line: line.split()).map(lambda w: (w, 1))
.reduceByKey(add)``, Python functions on rows in both). Each completed batch is one
JSON line on stdout, prefixed ``@@``: its time, records (lines), scheduling and
processing delays (ms, from a ``StreamingListener``) and the words the output counted.
The job runs until its stdin closes (the benchmark closes it, or dies), then stops.
"""

from __future__ import annotations

import importlib
import json
import operator
import os
import sys
import threading
from typing import Any


def _ms(value: Any) -> int:
    """PySpark's BatchInfo delays are Scala ``Option[Long]`` through py4j; ours are ints."""
    if hasattr(value, "isDefined"):
        return int(value.get()) if value.isDefined() else -1
    return -1 if value is None else int(value)


def main(engine: str, master: str, program: str, interval: float, host: str,
         port: int) -> None:
    if engine not in ("pyspark", "fastdstream"):
        raise SystemExit(f"ENGINE must be pyspark or fastdstream, not {engine!r}")
    if program not in ("columnar", "lambda"):
        raise SystemExit(f"PROGRAM must be columnar or lambda, not {program!r}")
    if engine == "pyspark":
        # Its Python workers run this interpreter (not the first python3 on PATH), and
        # the JVM binds to the loopback address only.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    package = importlib.import_module(engine)
    streaming = importlib.import_module(f"{engine}.streaming")
    out = threading.Lock()

    def emit(record: dict[str, Any]) -> None:
        with out:
            sys.stdout.write("@@" + json.dumps(record) + "\n")
            sys.stdout.flush()

    class Batches(streaming.StreamingListener):  # type: ignore[name-defined,misc]
        def onBatchCompleted(self, batchCompleted: Any) -> None:
            info = batchCompleted.batchInfo()
            emit({"batch": int(info.batchTime().milliseconds()),
                  "records": int(info.numRecords()),
                  "scheduling_ms": _ms(info.schedulingDelay()),
                  "processing_ms": _ms(info.processingDelay())})

    conf = package.SparkConf().setMaster(master).setAppName(f"wordcount-{program}")
    # The web UI is no part of the job; PySpark's would take a port and a thread.
    conf.set("spark.ui.enabled", "false")
    sc = package.SparkContext(conf=conf)
    sc.setLogLevel("ERROR")
    ssc = streaming.StreamingContext(sc, interval)
    ssc.addStreamingListener(Batches())
    lines = ssc.socketTextStream(host, port)
    if program == "columnar":
        counts = lines.flatMap(str.split).countByValue()
    else:
        counts = (lines.flatMap(lambda line: line.split())
                  .map(lambda w: (w, 1)).reduceByKey(operator.add))

    def output(time: Any, rdd: Any) -> None:
        millis = int(time.timestamp() * 1000) if hasattr(time, "timestamp") else int(time)
        emit({"batch": millis, "words": sum(n for _, n in rdd.collect())})

    counts.foreachRDD(output)
    ssc.start()
    emit({"started": True})
    sys.stdin.read()  # until the benchmark closes it (or exits)
    ssc.stop(stopSparkContext=True, stopGraceFully=False)


if __name__ == "__main__":
    engine, master, program, interval, host, port = sys.argv[1:7]
    main(engine, master, program, float(interval), host, int(port))
