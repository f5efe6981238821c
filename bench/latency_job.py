"""One side of the end-to-end latency benchmark (``test_bench_latency.py``), run as its
own process so each engine has the interpreter to itself.

``produce BOOTSTRAP TOPIC RATE SECONDS``
    Writes records stamped with ``time.time_ns()`` at RATE records/s for SECONDS,
    round-robin over the topic's partitions, then an ``END`` record on each partition.
``fastdstream|plain|quix|bytewax BOOTSTRAP TOPIC PARTITIONS INTERVAL OUT``
    Reads the (new) topic from its beginning until every partition's ``END``, and saves to OUT
    (``.npy``) each record's stamp and the time its output saw it, as an (n, 2) int64
    array. Prints ``started`` when it is about to consume; the producer starts then.
    fastdstream also saves its batches' timings (see ``_batch_timings``) to
    OUT without ``.npy`` plus ``.batches.npy``.

The peers (Quix Streams, Bytewax) run from their own venv (``make bench`` makes
``.venv-peers``): Quix pins an older confluent-kafka, which must not replace ours.
"""

from __future__ import annotations

import resource
import sys
import time
import uuid
from typing import Any

import numpy as np

END = b"END"


def produce(bootstrap: str, topic: str, rate: float, seconds: float) -> None:
    import confluent_kafka
    import confluent_kafka.admin

    admin = confluent_kafka.admin.AdminClient({"bootstrap.servers": bootstrap})
    partitions = len(admin.list_topics(topic, timeout=30).topics[topic].partitions)
    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "linger.ms": 1,
                                         "acks": 1, "queue.buffering.max.messages": 1000000})
    start = time.monotonic()
    sent = 0
    while (elapsed := time.monotonic() - start) < seconds:
        due = int(elapsed * rate)
        while sent < due:
            try:
                producer.produce(topic, str(time.time_ns()).encode(),
                                 partition=sent % partitions)
            except BufferError:
                producer.poll(0.001)
                continue
            sent += 1
        producer.poll(0)
        time.sleep(0.0005)
    for partition in range(partitions):
        producer.produce(topic, END, partition=partition)
    assert producer.flush(60) == 0
    print(sent, flush=True)


class _Seen:
    """Stamps and the times they were seen, and how many partitions have ended.

    The bookkeeping is part of every engine's output, so it is kept cheap both ways:
    a batch's values go through one ``map(int)`` into a numpy array, a single record
    (the peers call once per record) into two plain lists; before, the peers paid for
    three numpy arrays per record.
    """

    def __init__(self, partitions: int):
        self.partitions = partitions
        self.ends = 0
        self.chunks: list[np.ndarray] = []
        self.stamps: list[int] = []
        self.times: list[int] = []

    def add(self, values: list[Any]) -> bool:
        """Record one output's values (bytes or str); True once every partition's END
        was seen."""
        now = time.time_ns()
        if len(values) == 1:
            value = values[0]
            if value in _ENDS:
                self.ends += 1
            else:
                self.stamps.append(int(value))
                self.times.append(now)
        elif values:
            ends = values.count(END) + values.count(_END_TEXT)  # C loops, no Python one
            if ends:
                self.ends += ends
                values = [v for v in values if v not in _ENDS]
            stamped = np.fromiter(map(int, values), np.int64, len(values))
            self.chunks.append(np.column_stack([stamped, np.full_like(stamped, now)]))
        return self.ends >= self.partitions

    def save(self, out: str) -> None:
        singles = np.column_stack([np.array(self.stamps, np.int64),
                                   np.array(self.times, np.int64)])
        np.save(out, np.concatenate([*self.chunks, singles]))


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


_cpu_at_start = 0.0


def _started() -> None:
    """Tell the bench the job is about to consume (the producer starts then)."""
    global _cpu_at_start
    _cpu_at_start = _cpu_s()
    print("started", flush=True)


_END_TEXT = END.decode()
_ENDS = (END, _END_TEXT)


def run_fastdstream(bootstrap: str, topic: str, seen: _Seen, interval: float,
                    batches: Any) -> None:
    import threading

    from fastdstream import Context, StreamingContext
    from fastdstream.kafka import KafkaUtils

    done = threading.Event()
    ssc = StreamingContext(Context("local[2]", conf={"spark.ui.enabled": "false"}), interval)
    # PySpark's call as it stands: keys and values decoded as UTF-8 (columnar here).
    stream = KafkaUtils.createDirectStream(
        ssc, [topic], {"bootstrap.servers": bootstrap, "group.id": f"lat-{uuid.uuid4()}",
                       "auto.offset.reset": "earliest"})

    def output(rdd: Any) -> None:
        if seen.add(rdd.values().collect()):
            done.set()

    stream.foreachRDD(output)
    ssc.addStreamingListener(batches)
    ssc.start()
    _started()
    try:
        if not done.wait(600):
            raise SystemExit("fastdstream: no END within 600 s")
    finally:
        ssc.stop(stopSparkContext=True, stopGraceFully=False)


def _batch_timings() -> Any:
    """A listener keeping each batch's time, submission, processing start and end (ms)
    and record count: where a record's latency went (the generator behind the clock,
    the batch queued behind others, the batch's own processing)."""
    from fastdstream.streaming.scheduler.listener import StreamingListener

    class BatchTimings(StreamingListener):
        def __init__(self) -> None:
            self.rows: list[tuple[int, int, int, int, int]] = []

        def onBatchCompleted(self, batchCompleted: Any) -> None:
            info = batchCompleted.batchInfo()
            self.rows.append((info.batchTime().milliseconds(), info.submissionTime(),
                              info.processingStartTime(), info.processingEndTime(),
                              info.numRecords()))

    return BatchTimings()


def run_quix(bootstrap: str, topic: str, seen: _Seen) -> None:
    from quixstreams import Application

    app = Application(broker_address=bootstrap, consumer_group=f"lat-{uuid.uuid4()}",
                      auto_offset_reset="earliest", loglevel="WARNING",
                      use_changelog_topics=False, auto_create_topics=False)
    source = app.topic(topic, value_deserializer="bytes")
    sdf = app.dataframe(source)

    def record(value: bytes) -> None:
        if seen.add([value]):
            app.stop()

    sdf.update(record)
    _started()
    app.run()


def run_plain(bootstrap: str, topic: str, seen: _Seen) -> None:
    """The floor: one plain confluent-kafka consumer and nothing else, recording each
    ``consume`` call's records as one output (as a batch is)."""
    import confluent_kafka

    consumer = confluent_kafka.Consumer({
        "bootstrap.servers": bootstrap, "group.id": f"lat-{uuid.uuid4()}",
        "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    _started()
    try:
        while True:
            messages = consumer.consume(10_000, 0.01)
            values = [m.value() for m in messages if m.error() is None]
            if seen.add(values):
                return
    finally:
        consumer.close()


class _FinishedError(Exception):
    """Raised by the last step once every END was seen: run_main has no other stop."""


def run_bytewax(bootstrap: str, topic: str, seen: _Seen) -> None:
    import bytewax.operators as op
    from bytewax.connectors.kafka import KafkaSource
    from bytewax.dataflow import Dataflow
    from bytewax.testing import run_main
    from confluent_kafka import OFFSET_BEGINNING

    flow = Dataflow("latency")
    messages = op.input("in", flow, KafkaSource([bootstrap], [topic], tail=True,
                                                starting_offset=OFFSET_BEGINNING))

    def record(_step: str, message: Any) -> None:
        if seen.add([message.value]):
            raise _FinishedError

    op.inspect("seen", messages, record)
    _started()
    try:
        run_main(flow)
    except Exception:  # run_main wraps what a step raised: ours, once every END was seen
        if seen.ends < seen.partitions:
            raise


def main() -> None:
    engine, bootstrap, topic = sys.argv[1:4]
    if engine == "produce":
        produce(bootstrap, topic, float(sys.argv[4]), float(sys.argv[5]))
        return
    partitions, interval, out = int(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
    seen = _Seen(partitions)
    if engine == "fastdstream":
        batches = _batch_timings()
        run_fastdstream(bootstrap, topic, seen, interval, batches)
        np.save(out.removesuffix(".npy") + ".batches.npy",
                np.array(batches.rows, dtype=np.int64).reshape(-1, 5))
    elif engine == "plain":
        run_plain(bootstrap, topic, seen)
    elif engine == "quix":
        run_quix(bootstrap, topic, seen)
    elif engine == "bytewax":
        run_bytewax(bootstrap, topic, seen)
    else:
        raise SystemExit(f"unknown engine {engine!r}")
    seen.save(out)
    # The job's CPU from its start on, all its threads: on two cores the broker and the
    # producer share what the job leaves them, so a hungrier job delays records before
    # they reach it.
    print(f"cpu {_cpu_s() - _cpu_at_start:.3f}", flush=True)


if __name__ == "__main__":
    main()
