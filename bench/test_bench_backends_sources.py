"""The word count from real sources on the three back ends, in the same run:
``local[2]`` (threads), ``local-cluster[2,1,1024]`` (two worker processes) and
``ray`` (two one-CPU executor actors on a local Ray).

- Kafka, direct stream: the preloaded topic of ``test_bench_kafka.py`` (its
  ``loaded_topic`` fixture: a real broker, 4 partitions), read from the beginning
  by ``map(itemgetter(1)).flatMap(str.split).countByValue()`` at 1 s and 100 ms
  batches until every word is counted. The executors read their partitions
  themselves (each partition's consumer stays on one executor); the driver only
  plans the offset ranges. ``extra_info`` has messages per second over the wall
  time and over the batches' processing time. Its peer, the plain confluent-kafka
  loop reading the same topic, is in ``test_bench_kafka.py``.
- Socket: lines from a real TCP server, received on an executor (its peer: received on
  the driver, stored as blocks on the executors) and counted per 100 ms batch on the
  columnar path.

The Context (and its executors) is started before the timing, and each Kafka count
runs once untimed first (an executor process imports the Kafka reader and connects
its consumers in its first batch: ~0.2 s measured in a fresh Ray actor, which
``local[2]``'s threads had paid in the driver), so these measure streaming, not
start-up; a run ends when the last word is counted. A receiver takes the one core of
its executor (as in Spark), so its blocks are read on the other executor (by handle
from Ray's object store, fetched on ``local-cluster``).
Run: ``pytest bench/test_bench_backends_sources.py --benchmark-only``
(``FASTDSTREAM_BENCH_KAFKA_MESSAGES``, ``FASTDSTREAM_BENCH_LINES`` set the sizes).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pyarrow as pa
import pytest

import test_bench_backends as backends
import test_bench_kafka as kafka_bench
from fastdstream import Context, StreamingContext
from fastdstream.conf import RECEIVER_ON_EXECUTORS
from fastdstream.testing.line_server import LineServer

# The fixtures of the two suites this one puts together, used here by name: the same
# local Ray, lines and topic.
ray_session, lines, expected = backends.ray_session, backends.lines, backends.expected
loaded_topic = kafka_bench.loaded_topic
MESSAGES = kafka_bench.MESSAGES


@pytest.fixture(scope="module", params=backends.MASTERS)
def context(request: pytest.FixtureRequest) -> Iterator[Context]:
    """One Context per back end for the module, started before any timing."""
    if request.param == "ray":
        request.getfixturevalue("ray_session")
    with Context(request.param, "bench-sources") as sc:
        yield sc


@pytest.mark.benchmark(group="backend-kafka-wordcount")
@pytest.mark.parametrize("interval", [1.0, 0.1], ids=["1s", "100ms"])
def test_kafka_word_count(benchmark, context: Context, loaded_topic, interval: float
                          ) -> None:
    broker, topic, words = loaded_topic
    # Untimed: the executors' first batch imports the reader and connects (see above).
    kafka_bench.count_words_on(context, broker.bootstrap_servers, topic, words, interval,
                               kafka_bench._Processing())
    processing = kafka_bench._Processing()
    rounds = 2
    benchmark.pedantic(kafka_bench.count_words_on,
                       args=(context, broker.bootstrap_servers, topic, words, interval,
                             processing),
                       rounds=rounds, iterations=1)
    benchmark.extra_info.update(
        master=context.master, messages=MESSAGES, interval_s=interval,
        messages_per_s_wall=round(MESSAGES / benchmark.stats.stats.median),
        messages_per_s_processing=round(
            rounds * MESSAGES / max(processing.busy_ms, 1) * 1000),
        batches=processing.batches // rounds)


def _socket_word_count(sc: Context, data: bytes, words: int) -> None:
    done = threading.Event()
    counted = [0]

    def add_batch(rdd) -> None:
        counted[0] += sum(rdd.collectAsMap().values())
        if counted[0] >= words:
            done.set()

    with LineServer() as server:
        ssc = StreamingContext(sc, 0.1)
        ssc.socketTextStream(*server.address).flatMap(str.split).countByValue().foreachRDD(
            add_batch)
        ssc.start()

        def serve() -> None:
            assert server.wait_for_clients(1, timeout=30)
            server.send_bytes(data)

        sender = threading.Thread(target=serve)
        sender.start()
        try:
            assert done.wait(300), f"counted {counted[0]} of {words} words"
        finally:
            sender.join()
            ssc.stop(stopSparkContext=False)
    assert counted[0] == words


@pytest.mark.benchmark(group="backend-socket-wordcount")
@pytest.mark.parametrize("receiver_on", ["executor", "driver"])
def test_socket_word_count(benchmark, context: Context, lines: pa.Table, expected: int,
                           receiver_on: str) -> None:
    """Socket word count, 100 ms batches on the system clock, columnar path; the receiver
    on an executor (where the back end has processes of its own) or, as the peer, on the
    driver storing its blocks on the executors."""
    if receiver_on == "executor" and context.master == "local[2]":
        pytest.skip("local[2]'s executors are the driver's threads")
    data = "".join(f"{line}\n" for line in lines.column(0).to_pylist()).encode()
    conf = context.getConf()  # the Context's own: read when the receivers start
    conf.set(RECEIVER_ON_EXECUTORS, str(receiver_on == "executor").lower())
    rounds = 2
    try:
        benchmark.pedantic(_socket_word_count, args=(context, data, expected), rounds=rounds,
                           iterations=1)
    finally:
        conf.set(RECEIVER_ON_EXECUTORS, "auto")
    benchmark.extra_info.update(master=context.master, lines=lines.num_rows,
                                receiver=receiver_on,
                                lines_per_s_wall=round(lines.num_rows
                                                       / benchmark.stats.stats.median))
