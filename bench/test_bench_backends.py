"""Back ends side by side: ``local[2]`` (threads), ``local-cluster[2,1,1024]`` (two
worker processes) and ``ray`` (two executor actors on a local Ray of two CPUs), on
the same word count data in the same run.

- per-batch overhead: one empty batch of 4 partitions through the streaming
  machinery (a ``foreachRDD`` that counts it): what a back end adds to every batch
  before any data moves (target on ``ray``: under 5 ms median); its peer is Ray's own
  floor, one no-op call to each of two actors. The same at 16, 64 and 256
  partitions gives the driver's cost per partition (the scaling model in the
  README); ``extra_info["driver_cpu_ms"]`` is the driver process's CPU time per
  batch (on ``local[2]`` that includes the tasks, which run on its threads);
- lambda path: ``flatMap(lambda l: l.split()).map(lambda w: (w, 1)).reduceByKey(add)``:
  plain-Python functions, where threads share one GIL and worker processes do not;
- columnar path: ``flatMap(str.split).countByValue()``: the compiled kernels, which
  release the GIL, so threads already run in parallel and processes add the cost of
  moving partitions across the process boundary.

Each is one job over the whole data (4 partitions), the Context started beforehand.
The lambda word count also runs as a stream (``queueStream`` of 4 batches of the same
lines, manual clock, each batch's counts collected), and its peer is the same count as
a plain-Python dict loop in one process -- what a user would write without an engine
(PySpark's DStream running the same program, the issue's yardstick, is measured
against ours in ``test_bench_pyspark.py``).
The socket and Kafka word counts on the three back ends are in
``test_bench_backends_sources.py``.
Run: ``pytest bench/test_bench_backends.py --benchmark-only``;
``FASTDSTREAM_BENCH_LINES`` sets the number of lines (default 200000).
"""

from __future__ import annotations

import operator
import os
import time
from collections.abc import Iterator

import pyarrow as pa
import pytest

from fastdstream import Context, StreamingContext
from fastdstream.clock import ManualClock
from fastdstream.testing import BatchRecorder, ManualStreaming
from fastdstream.testing.line_server import DEMO_TEXT

LINES = int(os.environ.get("FASTDSTREAM_BENCH_LINES", "200000"))
MASTERS = ["local[2]", "local-cluster[2,1,1024]", "ray"]


@pytest.fixture(scope="module")
def ray_session() -> Iterator[None]:
    """A local Ray that ``Context("ray")`` joins. Four logical CPUs on this two-core
    machine: the module's Context and a benchmark's own (batch overhead) each have two
    one-CPU executor actors, as local-cluster[2,1,1024] has two one-core workers."""
    import ray

    # address="local": a Ray of its own, never one another process left its address for.
    ray.init(address="local", num_cpus=4, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def lines() -> pa.Table:
    base = DEMO_TEXT.splitlines()
    return pa.table({"value": [f"{base[i % len(base)]} w{i % 1000}" for i in range(LINES)]})


@pytest.fixture(scope="module")
def expected(lines: pa.Table) -> int:
    return sum(len(line.split()) for line in lines.column(0).to_pylist())


@pytest.fixture(scope="module", params=MASTERS)
def sc(request: pytest.FixtureRequest) -> Iterator[Context]:
    if request.param == "ray":
        request.getfixturevalue("ray_session")
    # The manual clock only matters to the streaming benchmark: batches run on demand.
    context = Context(request.param, "bench", conf={"spark.streaming.clock": "manual"})
    yield context
    context.stop()


def _lambda_word_count(sc: Context, lines: pa.Table) -> int:
    rdd = sc.parallelize(lines.column(0).to_pylist(), 4)
    counts = rdd.flatMap(lambda line: line.split()).map(lambda w: (w, 1)).reduceByKey(
        operator.add)
    return sum(n for _, n in counts.collect())


def _columnar_word_count(sc: Context, lines: pa.Table) -> int:
    counts = sc.parallelize(lines, 4).flatMap(str.split).countByValue()
    return sum(counts.values())


@pytest.mark.benchmark(group="backend-wordcount-lambda")
def test_lambda_word_count(benchmark, sc: Context, lines: pa.Table, expected: int) -> None:
    benchmark.extra_info.update(master=sc.master, lines=lines.num_rows)
    total = benchmark.pedantic(_lambda_word_count, args=(sc, lines), rounds=3, iterations=1)
    assert total == expected


@pytest.mark.benchmark(group="backend-wordcount-columnar")
def test_columnar_word_count(benchmark, sc: Context, lines: pa.Table, expected: int) -> None:
    benchmark.extra_info.update(master=sc.master, lines=lines.num_rows)
    total = benchmark.pedantic(_columnar_word_count, args=(sc, lines), rounds=5, iterations=1)
    assert total == expected


OVERHEAD_PARTITIONS = [4, 16, 64, 256]


@pytest.mark.parametrize("partitions", OVERHEAD_PARTITIONS)
@pytest.mark.parametrize("master", MASTERS)
def test_empty_batch_overhead(benchmark, request: pytest.FixtureRequest, master: str,
                              partitions: int) -> None:
    """One empty batch of ``partitions`` partitions, counted by its output: clock tick
    to completed."""
    if master == "ray":
        request.getfixturevalue("ray_session")
    benchmark.group = f"backend-batch-overhead-{partitions}p"
    streaming = ManualStreaming(batch_seconds=0.01, master=master)
    driver_cpu_ms = time_empty_batches(benchmark, streaming, partitions,
                                       rounds=max(20, 800 // partitions))
    benchmark.extra_info.update(master=master, partitions=partitions,
                                driver_cpu_ms=driver_cpu_ms)


def time_empty_batches(benchmark, streaming: ManualStreaming, partitions: int, rounds: int,
                       warmup: int = 10) -> float:
    """Time one empty batch of ``partitions`` partitions at a time through ``streaming``
    (stopped at the end); return the driver process's CPU ms per batch."""
    empty = streaming.sc.parallelize([], partitions)
    streaming.ssc.queueStream([], default=empty).foreachRDD(lambda rdd: rdd.count())
    streaming.start()
    try:
        cpu = time.process_time()
        benchmark.pedantic(streaming.run_batches, args=(1,), rounds=rounds, iterations=1,
                           warmup_rounds=warmup)
        cpu = time.process_time() - cpu
    finally:
        streaming.stop()
    assert len(streaming.recorder.completed) >= rounds
    return round(cpu / (rounds + warmup) * 1000, 3)


@pytest.mark.benchmark(group="backend-batch-overhead-4p")
def test_empty_batch_overhead_peer_ray_actor_calls(benchmark, ray_session: None) -> None:
    """Peer: Ray's floor for the ray row, one no-op call to each of two one-CPU actors
    and the wait for both (what a stage of 4 tasks batched per executor must do)."""
    import ray

    @ray.remote(num_cpus=1)
    class Noop:
        def run(self, tasks: list[int]) -> list[int]:
            return tasks

    actors = [Noop.remote() for _ in range(2)]
    try:
        ray.get([a.run.remote([]) for a in actors])  # started before timing
        benchmark.pedantic(lambda: ray.get([a.run.remote([i, i + 2])
                                            for i, a in enumerate(actors)]),
                           rounds=200, iterations=1, warmup_rounds=10)
    finally:
        for actor in actors:
            ray.kill(actor)


QUEUE_BATCHES = 4


def _lambda_queue_word_count(sc: Context, lines: pa.Table) -> int:
    rows = lines.column(0).to_pylist()
    size = -(-len(rows) // QUEUE_BATCHES)
    batches = [sc.parallelize(rows[i:i + size], 2) for i in range(0, len(rows), size)]
    counted = [0]

    def add_batch(rdd) -> None:
        counted[0] += sum(n for _, n in rdd.collect())

    ssc = StreamingContext(sc, 1.0)
    recorder = BatchRecorder()
    ssc.addStreamingListener(recorder)
    stream = ssc.queueStream(batches)
    (stream.flatMap(lambda line: line.split()).map(lambda w: (w, 1))
     .reduceByKey(operator.add).foreachRDD(add_batch))
    ssc.start()
    try:
        clock = ssc._clock
        assert isinstance(clock, ManualClock)
        for i in range(len(batches)):
            clock.advance(1000)
            recorder.wait_for_batches(i + 1, timeout=300)
    finally:
        ssc.stop(stopSparkContext=False)
    return counted[0]


@pytest.mark.benchmark(group="backend-wordcount-lambda")
def test_lambda_queue_word_count(benchmark, sc: Context, lines: pa.Table,
                                 expected: int) -> None:
    benchmark.extra_info.update(master=sc.master, lines=lines.num_rows,
                                batches=QUEUE_BATCHES)
    total = benchmark.pedantic(_lambda_queue_word_count, args=(sc, lines), rounds=3,
                               iterations=1)
    assert total == expected


def _plain_python_word_count(rows: list[str]) -> int:
    counts: dict[str, int] = {}
    for line in rows:
        for w in line.split():
            counts[w] = counts.get(w, 0) + 1
    return sum(counts.values())


@pytest.mark.benchmark(group="backend-wordcount-lambda")
def test_lambda_word_count_peer_plain_python(benchmark, lines: pa.Table,
                                             expected: int) -> None:
    """Peer: the same count as a dict loop in this process, the lines already in a list."""
    rows = lines.column(0).to_pylist()
    benchmark.extra_info.update(lines=lines.num_rows)
    total = benchmark.pedantic(_plain_python_word_count, args=(rows,), rounds=3, iterations=1)
    assert total == expected
