"""Streaming benchmarks: per-batch scheduling overhead and socket word count throughput.

Each figure has its peer in the same run:

- batch overhead: one empty batch through the whole machinery (timer, job
  generation, job thread, listener bus) against the same output function called
  directly on an empty RDD -- the difference is what the scheduler costs;
- batch intervals of 10 ms / 100 ms / 1 s on the system clock: the delays the
  listener reports (``extra_info``), to show 10 ms batches stay stable;
- line splitting alone (what the socket receiver does to each 64 KiB it reads under a
  rate limit):
  the compiled kernel behind ``LineSplitter`` against the numpy + ``validate``
  implementation it replaced and against pyarrow's own cast + ``split_pattern``;
- word splitting alone (``flatMap(str.split)`` on a string column): the core's split
  against the pyarrow trim + split + flatten + filter it replaced;
- socket word count: lines from a real TCP server on 127.0.0.1 counted per
  batch, lambda path and columnar path, against a plain loop that reads the same
  bytes from a socket and counts words with pyarrow's kernels (the ceiling);
- map-side combine of the lambda word count (the user's functions included): the
  core's loop against the plain-Python dict loop it replaced, and the user's
  functions alone (the floor);
- socket throughput: a larger columnar word count at 1 s and 0.1 s batches on the
  default block interval, lines/s in ``extra_info`` (the 0.1 s figure should stay
  within 2x of the 1 s one); and the same at an offered rate
  (``FASTDSTREAM_BENCH_SOCKET_RATE``, default 2M lines/s) with Spark's stability test;
- socket intake beside two threads running Python (the lambda path's tasks on
  ``local[2]``, which hold the GIL): the receiver's lines/s against a plain Python
  socket reader (64 KiB ``recv``, lines split in Python), medians of three rounds.

Run: ``make bench`` or ``pytest bench/test_bench_streaming.py --benchmark-only``.
``FASTDSTREAM_BENCH_LINES`` sets the number of lines (default 200000);
``FASTDSTREAM_BENCH_SOCKET_LINES`` those of the throughput run (default 2000000).
"""

from __future__ import annotations

import collections
import operator
import os
import socket
import statistics
import threading
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from fastdstream import Context, StreamingContext
from fastdstream.engine import tasks
from fastdstream.engine.columnar import functions
from fastdstream.engine.partitioner import HashPartitioner
from fastdstream.sources.lines import LineSplitter, split_lines
from fastdstream.testing import BatchRecorder, ManualStreaming
from fastdstream.testing.line_server import DEMO_TEXT, LineServer

LINES = int(os.environ.get("FASTDSTREAM_BENCH_LINES", "200000"))
SOCKET_LINES = int(os.environ.get("FASTDSTREAM_BENCH_SOCKET_LINES", "2000000"))
CHUNK = 1 << 16  # what the socket receiver read at a time before it read whole
# socket buffers (it still does under a rate limit)


def _output(rdd) -> None:
    rdd.count()


@pytest.mark.benchmark(group="batch-overhead")
def test_batch_overhead_streaming(benchmark) -> None:
    """One empty 10 ms batch end to end: clock tick -> jobs -> job thread -> completed."""
    streaming = ManualStreaming(batch_seconds=0.01)
    streaming.ssc.queueStream([]).foreachRDD(_output)
    streaming.start()
    try:
        benchmark(streaming.run_batches, 1)
    finally:
        streaming.stop()
    assert len(streaming.recorder.completed) >= 1


@pytest.mark.benchmark(group="batch-overhead")
def test_batch_overhead_peer_direct_call(benchmark) -> None:
    """Peer: the same output function on an empty RDD, with no streaming machinery."""
    with Context("local[2]") as sc:
        benchmark(lambda: _output(sc.emptyRDD()))


@pytest.mark.benchmark(group="batch-interval")
@pytest.mark.parametrize("interval_ms", [10, 100, 1000])
def test_batch_interval_stability(benchmark, interval_ms: int) -> None:
    """Real clock: near-empty batches for ~2 s; listener delays go to extra_info."""
    batches = max(3, 2000 // interval_ms)
    recorder = BatchRecorder()

    def run() -> None:
        ssc = StreamingContext(Context("local[2]"), interval_ms / 1000)
        ssc.addStreamingListener(recorder)
        sc = ssc.sparkContext
        ssc.queueStream([], default=sc.parallelize(["x"], 1)).count().foreachRDD(_output)
        ssc.start()
        try:
            recorder.wait_for_batches(batches, timeout=60)
        finally:
            ssc.stop()

    benchmark.pedantic(run, rounds=1, iterations=1)
    infos = recorder.completed[:batches]
    times = [b.batchTime().milliseconds() for b in infos]
    assert times == list(range(times[0], times[0] + interval_ms * batches, interval_ms))
    total = [b.totalDelay() for b in infos]
    benchmark.extra_info.update(
        batches=batches,
        total_delay_ms_median=statistics.median(total),
        total_delay_ms_max=max(total),
        scheduling_delay_ms_max=max(b.schedulingDelay() for b in infos),
        batches_late=sum(1 for d in total if d >= interval_ms),
    )


@pytest.fixture(scope="module")
def text_lines() -> list[str]:
    base = DEMO_TEXT.splitlines()
    return [f"{base[i % len(base)]} w{i % 1000}" for i in range(LINES)]


@pytest.fixture(scope="module")
def expected_words(text_lines: list[str]) -> int:
    return sum(len(line.split()) for line in text_lines)


def _serve(server: LineServer, data: bytes) -> None:
    assert server.wait_for_clients(1, timeout=30)
    server.send_bytes(data)


def _socket_word_count(text_lines: list[str], expected: int, interval: float,
                       columnar: bool, conf: dict[str, str] | None = None,
                       data: bytes | None = None) -> float:
    """Run the word count until every word is counted; return lines/s from the first
    byte sent to the last batch's output."""
    if data is None:
        data = "".join(f"{line}\n" for line in text_lines).encode()
    done = threading.Event()
    counted = [0]
    started = [0.0]

    def add_batch(rdd) -> None:
        counted[0] += sum(n for _, n in rdd.collect())
        if counted[0] >= expected:
            done.set()

    with LineServer() as server:
        sc = Context("local[2]", conf=conf if conf is not None
                     else {"spark.streaming.blockInterval": "50ms"})
        ssc = StreamingContext(sc, interval)
        lines = ssc.socketTextStream(*server.address)
        if columnar:
            counts = lines.flatMap(str.split).countByValue()
        else:
            counts = (lines.flatMap(lambda line: line.split())
                      .map(lambda w: (w, 1)).reduceByKey(operator.add))
        counts.foreachRDD(add_batch)
        ssc.start()
        started[0] = time.perf_counter()
        sender = threading.Thread(target=_serve, args=(server, data))
        sender.start()
        try:
            assert done.wait(300), f"counted {counted[0]} of {expected} words"
            elapsed = time.perf_counter() - started[0]
        finally:
            sender.join()
            ssc.stop()
    assert counted[0] == expected
    return len(text_lines) / elapsed


@pytest.mark.benchmark(group="socket-wordcount")
@pytest.mark.parametrize("interval", [0.1, 1.0], ids=["100ms", "1s"])
@pytest.mark.parametrize("path", ["columnar", "lambda"])
def test_socket_word_count(benchmark, text_lines, expected_words, interval: float,
                           path: str) -> None:
    rates: list[float] = []
    benchmark.extra_info["lines"] = len(text_lines)
    benchmark.pedantic(lambda: rates.append(_socket_word_count(
        text_lines, expected_words, interval, path == "columnar")), rounds=2, iterations=1)
    benchmark.extra_info["lines_per_s"] = round(max(rates))


@pytest.mark.benchmark(group="socket-wordcount")
def test_socket_word_count_peer_plain_loop(benchmark, text_lines, expected_words) -> None:
    """Ceiling: read the same bytes from a socket, split lines and count words with pyarrow."""
    data = "".join(f"{line}\n" for line in text_lines).encode()

    def run() -> None:
        with LineServer() as server:
            conn = socket.create_connection(server.address)
            sender = threading.Thread(target=_serve, args=(server, data))
            sender.start()
            received, chunks = 0, []
            while received < len(data):
                chunk = conn.recv(1 << 16)
                received += len(chunk)
                chunks.append(chunk)
            sender.join()
            conn.close()
        lines = split_lines(b"".join(chunks))
        words = pc.list_flatten(pc.utf8_split_whitespace(lines))
        words = words.filter(pc.greater(pc.binary_length(words), 0))
        counts = pc.value_counts(words)
        assert pc.sum(counts.field("counts")).as_py() == expected_words

    benchmark.extra_info["lines"] = len(text_lines)
    benchmark.pedantic(run, rounds=2, iterations=1)
    benchmark.extra_info["lines_per_s"] = round(len(text_lines) / benchmark.stats.stats.min)


@pytest.fixture(scope="module")
def socket_text() -> tuple[list[str], bytes, int]:
    base = DEMO_TEXT.splitlines()
    lines = [f"{base[i % len(base)]} w{i % 1000}" for i in range(SOCKET_LINES)]
    data = "".join(f"{line}\n" for line in lines).encode()
    return lines, data, sum(len(line.split()) for line in lines)


@pytest.mark.benchmark(group="socket-throughput")
@pytest.mark.parametrize("interval", [0.1, 1.0], ids=["100ms", "1s"])
def test_socket_word_count_throughput(benchmark, socket_text, interval: float) -> None:
    """Columnar word count of SOCKET_LINES lines sent as fast as the receiver reads,
    with the default block interval (min(200 ms, half the batch)); lines/s in extra_info."""
    lines, data, expected = socket_text
    rates: list[float] = []
    benchmark.pedantic(lambda: rates.append(_socket_word_count(
        lines, expected, interval, columnar=True, conf={}, data=data)),
        rounds=2, iterations=1)
    benchmark.extra_info.update(lines=len(lines), lines_per_s=round(max(rates)))


RATE = int(os.environ.get("FASTDSTREAM_BENCH_SOCKET_RATE", "2000000"))
RATE_SECONDS = int(os.environ.get("FASTDSTREAM_BENCH_SOCKET_SECONDS", "5"))


def _paced_word_count(data: bytes, cuts: list[int], words_per_second: int,
                      interval: float) -> dict[str, float]:
    """Offer one second of lines (``data``) per second for RATE_SECONDS, in slices of
    ``cuts`` sent at their time; report how long the last words took to count after
    the last slice (``drain_s``) and whether every batch kept within the interval."""
    expected = words_per_second * RATE_SECONDS
    done = threading.Event()
    counted = [0]
    recorder = BatchRecorder()

    def add_batch(rdd) -> None:
        counted[0] += sum(n for _, n in rdd.collect())
        if counted[0] >= expected:
            done.set()

    def pace(server: LineServer, start: float) -> None:
        assert server.wait_for_clients(1, timeout=30)
        slices = len(cuts) - 1
        for second in range(RATE_SECONDS):
            for i in range(slices):
                due = start + second + i / slices
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)  # pacing the offered load, not synchronisation
                server.send_bytes(data[cuts[i]:cuts[i + 1]])

    with LineServer() as server:
        ssc = StreamingContext(Context("local[2]"), interval)
        ssc.addStreamingListener(recorder)
        lines = ssc.socketTextStream(*server.address)
        lines.flatMap(str.split).countByValue().foreachRDD(add_batch)
        ssc.start()
        start = time.perf_counter() + 0.5
        sender = threading.Thread(target=pace, args=(server, start))
        sender.start()
        try:
            sender.join()
            sent = time.perf_counter()
            assert done.wait(300), f"counted {counted[0]} of {expected} words"
            finished = time.perf_counter()
        finally:
            ssc.stop()
    assert counted[0] == expected
    busy = [b for b in recorder.completed if b.numRecords()]
    return {"drain_s": round(finished - sent, 3),
            "completed_lines_per_s": round(RATE * RATE_SECONDS / (finished - start)),
            "max_scheduling_delay_ms": max(b.schedulingDelay() for b in busy),
            "max_processing_delay_ms": max(b.processingDelay() for b in busy),
            # Spark's test of a stable stream: batches are processed within the
            # interval, so none waits for the one before it.
            "kept_up": max(b.processingDelay() for b in busy) < interval * 1000
            and max(b.schedulingDelay() for b in busy) < interval * 1000}


@pytest.mark.benchmark(group="socket-offered-rate")
@pytest.mark.parametrize("interval", [0.1, 1.0], ids=["100ms", "1s"])
def test_socket_word_count_at_offered_rate(benchmark, interval: float) -> None:
    """FASTDSTREAM_BENCH_SOCKET_RATE lines/s (default 2M) for RATE_SECONDS seconds,
    sent in 20 slices a second: does the columnar word count keep up (extra_info)?"""
    base = DEMO_TEXT.splitlines()
    lines = [f"{base[i % len(base)]} w{i % 1000}\n" for i in range(RATE)]
    data = "".join(lines).encode()
    cuts = [0]
    for i in range(1, 21):
        cuts.append(cuts[-1] + sum(len(x.encode()) for x in lines[(i - 1) * RATE // 20:
                                                                    i * RATE // 20]))
    assert cuts[-1] == len(data)
    words = sum(len(x.split()) for x in lines)
    results: list[dict[str, float]] = []
    benchmark.pedantic(lambda: results.append(_paced_word_count(data, cuts, words, interval)),
                       rounds=1, iterations=1)
    benchmark.extra_info.update(offered_lines_per_s=RATE, seconds=RATE_SECONDS, **results[0])


@pytest.fixture(scope="module")
def socket_chunks(text_lines: list[str]) -> list[bytes]:
    data = "".join(f"{line}\n" for line in text_lines).encode()
    return [data[i:i + CHUNK] for i in range(0, len(data), CHUNK)]


def _feed(chunks: list[bytes]) -> int:
    splitter = LineSplitter("bench")
    rows = 0
    for chunk in chunks:
        table = splitter.feed(chunk)
        if table is not None:
            rows += table.num_rows
    tail = splitter.flush()
    return rows + (0 if tail is None else tail.num_rows)


def _split_lines_numpy(data: bytes) -> pa.Array:
    """The implementation the kernel replaced (strict path): numpy masks and copies,
    then Arrow's full validation of the UTF-8."""
    buf = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(buf == 10)
    starts = np.empty_like(ends)
    starts[:1] = 0
    starts[1:] = ends[:-1] + 1
    has_cr = (ends > starts) & (buf[np.maximum(ends - 1, 0)] == 13)
    lengths = ends - starts - has_cr
    keep = buf != 10
    keep[ends[has_cr] - 1] = False
    values = buf[keep]
    offsets = np.zeros(len(ends) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    array = pa.Array.from_buffers(pa.string(), len(ends),
                                  [None, pa.py_buffer(offsets), pa.py_buffer(values)])
    array.validate(full=True)
    return array


def _feed_with(split, chunks: list[bytes]) -> int:
    """A chunked feed like LineSplitter's (the tail waits for the next chunk)."""
    rows = 0
    tail = b""
    for chunk in chunks:
        last_nl = chunk.rfind(b"\n")
        if last_nl < 0:
            tail += chunk
            continue
        rows += len(split(tail + chunk[: last_nl + 1]))
        tail = chunk[last_nl + 1:]
    return rows + (len(split(tail + b"\n")) if tail else 0)


def _split_pyarrow(data: bytes) -> pa.Array:
    """pyarrow alone: validate by casting binary to string, split at newlines."""
    text = pa.array([data], pa.binary()).cast(pa.string())
    lines = pc.list_flatten(pc.split_pattern(text, "\n"))
    return lines[:-1]  # what follows the last newline


@pytest.mark.benchmark(group="split-lines")
@pytest.mark.parametrize("impl", ["kernel", "peer_numpy_validate", "peer_pyarrow_split"])
def test_split_lines_64k_chunks(benchmark, socket_chunks, text_lines, impl: str) -> None:
    """The receiver's splitting alone: 64 KiB chunks to Arrow string arrays."""
    run = {
        "kernel": lambda: _feed(socket_chunks),
        "peer_numpy_validate": lambda: _feed_with(_split_lines_numpy, socket_chunks),
        "peer_pyarrow_split": lambda: _feed_with(_split_pyarrow, socket_chunks),
    }[impl]
    assert run() == len(text_lines)
    benchmark(run)
    benchmark.extra_info.update(lines=len(text_lines),
                                lines_per_s=round(len(text_lines) / benchmark.stats.stats.median))


def test_bench_data_is_what_it_claims(text_lines, expected_words) -> None:
    table = pa.table({"value": text_lines})
    assert table.num_rows == LINES and expected_words > LINES


def _split_words_pyarrow(table: pa.Table) -> pa.Table:
    """The pyarrow implementation the core's split replaced: trim, split, flatten and
    drop the empty strings Arrow keeps between runs of whitespace."""
    column = pc.utf8_rtrim_whitespace(table.column(0))
    words = pc.list_flatten(pc.utf8_split_whitespace(column))
    return pa.table({"value": words.filter(pc.greater(pc.binary_length(words), 0))})


@pytest.mark.benchmark(group="split-words")
@pytest.mark.parametrize("impl", ["kernel", "peer_pyarrow"])
def test_split_words(benchmark, text_lines: list[str], expected_words: int, impl: str) -> None:
    """flatMap(str.split) on a string column: the word count's map step."""
    table = pa.table({"value": text_lines})
    run = {"kernel": lambda: functions.split_whitespace(table),
           "peer_pyarrow": lambda: _split_words_pyarrow(table)}[impl]
    assert run().num_rows == expected_words
    benchmark(run)
    benchmark.extra_info.update(lines=len(text_lines),
                                lines_per_s=round(len(text_lines) / benchmark.stats.stats.median))


def _lambda_rows(text_lines: list[str]):
    """The lambda word count's map side input: what flatMap + map hand the combine."""
    words = tasks.flat_map(lambda line: line.split(), 0, iter(text_lines))
    return map(lambda w: (w, 1), words)


def _combine_python_loop(rows) -> dict:
    """The map-side combine before it moved into the core: a dict loop in bytecode."""
    combiners: dict = {}
    for k, v in rows:
        if k in combiners:
            combiners[k] = operator.add(combiners[k], v)
        else:
            combiners[k] = v
    return combiners


@pytest.mark.benchmark(group="map-side-combine")
@pytest.mark.parametrize("impl", ["core", "peer_python_loop", "floor_user_functions"])
def test_map_side_combine_lambda_word_count(benchmark, text_lines, expected_words,
                                            impl: str) -> None:
    """The lambda word count's map task on one partition of LINES lines (user's
    ``split`` and ``(w, 1)`` included, as in a real task), then split by key: the
    core's combine (``tasks.combine_map_side``) against the Python loop it replaced;
    the floor runs the user's functions alone (rows made and dropped, nothing combined),
    so core minus floor is what the combine itself costs."""
    partitioner = HashPartitioner(2)
    run = {
        "core": lambda: tasks.combine_map_side(None, operator.add, partitioner, 0,
                                               _lambda_rows(text_lines)),
        "peer_python_loop": lambda: tasks._bucket_rows(
            partitioner, _combine_python_loop(_lambda_rows(text_lines)).items()),
        "floor_user_functions": lambda: [
            list(collections.deque(_lambda_rows(text_lines), maxlen=0))],
    }[impl]
    if impl != "floor_user_functions":
        assert sum(n for bucket in run() for _, n in bucket) == expected_words
    benchmark(run)
    benchmark.extra_info.update(lines=len(text_lines),
                                lines_per_s=round(len(text_lines) / benchmark.stats.stats.median))


INTAKE_LINES = int(os.environ.get("FASTDSTREAM_BENCH_INTAKE_LINES", "1000000"))


def _spin(stop: threading.Event) -> None:
    """Python bytecode without pause, as a lambda-path task runs: it holds the GIL
    but for the switch interval."""
    x = 0
    while not stop.is_set():
        for i in range(1000):
            x += i


def _intake_receiver(server: LineServer, data: bytes, lines: int) -> float:
    done = threading.Event()
    counted = [0]

    def add_batch(rdd) -> None:
        counted[0] += sum(rdd.collect())
        if counted[0] >= lines:
            done.set()

    ssc = StreamingContext(Context("local[2]"), 0.5)
    ssc.socketTextStream(*server.address).count().foreachRDD(add_batch)
    ssc.start()
    try:
        assert server.wait_for_clients(1, timeout=30)
        start = time.perf_counter()
        sender = threading.Thread(target=server.send_bytes, args=(data,))
        sender.start()
        assert done.wait(300), f"counted {counted[0]} of {lines} lines"
        elapsed = time.perf_counter() - start
        sender.join()
    finally:
        ssc.stop()
    assert counted[0] == lines
    return elapsed


def _intake_plain_python_reader(server: LineServer, data: bytes, lines: int,
                                waits: list[tuple[int, int, float]]) -> float:
    """A plain Python socket reader: ``recv`` of 64 KiB, lines split and decoded in
    Python (``bytes.split``, ``decode``), which keep the GIL. Its one GIL release per
    read is the ``recv``; the compiled splitter the receiver uses releases it twice more
    per call, so the peer no longer depends on our kernel. Appends (reads, reads that
    took over 1 ms, seconds those took) to ``waits``: a read of bytes already there takes
    ~20 us, so a long one waited for the GIL (or for data)."""
    conn = socket.create_connection(server.address)
    try:
        assert server.wait_for_clients(1, timeout=30)
        start = time.perf_counter()
        sender = threading.Thread(target=server.send_bytes, args=(data,))
        sender.start()
        rows, tail, reads, slow, slow_s = 0, b"", 0, 0, 0.0
        while rows < lines:
            before = time.perf_counter()
            chunk = conn.recv(CHUNK)
            took = time.perf_counter() - before
            reads += 1
            if took > 1e-3:
                slow, slow_s = slow + 1, slow_s + took
            if not chunk:
                break
            buffer = tail + chunk
            end = buffer.rfind(b"\n") + 1
            if end:
                rows += len(buffer[:end - 1].decode("utf-8").split("\n"))
            tail = buffer[end:]
        elapsed = time.perf_counter() - start
        sender.join()
    finally:
        conn.close()
    assert rows == lines
    waits.append((reads, slow, slow_s))
    return elapsed


INTAKE_ROUNDS = 3


@pytest.mark.benchmark(group="socket-intake-beside-python")
@pytest.mark.parametrize("impl", ["receiver", "peer_plain_python_reader"])
def test_socket_intake_beside_python_threads(benchmark, impl: str) -> None:
    """INTAKE_LINES lines sent as fast as they are read, while two threads run Python
    bytecode; lines/s in extra_info, the median of INTAKE_ROUNDS rounds (``per_round``:
    each one's).

    A thread that gives the GIL up for a system call gets it straight back only if no
    spinner took it in the meantime; otherwise it waits a switch interval (5 ms) for
    each spinner ahead of it. On a quiet machine a waiting spinner wakes at once on the
    idle core and takes the GIL nearly every time; on a busy one it is often not
    scheduled in time and the reader goes on. So a reader that gives the GIL up per
    64 KiB is fast on a loaded machine and slow on a quiet one (the loop this peer
    replaced, which gave it up three times per read, took 28-33 s a round in one run and
    under 1 s in another): read its ``gil_waits`` (reads over 1 ms) beside its rate,
    and compare the sides within one run. The receiver reads whatever the
    socket holds (up to 4 MiB), so it gives the GIL up a few times per read; its time
    runs until the batches (0.5 s) have counted every line, the peer's until it has
    split the last one, which favours the peer."""
    base = DEMO_TEXT.splitlines()
    data = "".join(f"{base[i % len(base)]} w{i % 1000}\n"
                   for i in range(INTAKE_LINES)).encode()
    elapsed: list[float] = []
    waits: list[tuple[int, int, float]] = []

    def run(server: LineServer) -> float:
        if impl == "receiver":
            return _intake_receiver(server, data, INTAKE_LINES)
        return _intake_plain_python_reader(server, data, INTAKE_LINES, waits)

    def once() -> None:
        stop = threading.Event()
        spinners = [threading.Thread(target=_spin, args=(stop,)) for _ in range(2)]
        for spinner in spinners:
            spinner.start()
        try:
            with LineServer() as server:
                elapsed.append(run(server))
        finally:
            stop.set()
            for spinner in spinners:
                spinner.join()

    benchmark.pedantic(once, rounds=INTAKE_ROUNDS, iterations=1)
    benchmark.extra_info.update(lines=INTAKE_LINES,
                                lines_per_s=round(INTAKE_LINES / statistics.median(elapsed)),
                                per_round=[round(INTAKE_LINES / e) for e in elapsed])
    if waits:
        benchmark.extra_info.update(
            reads=waits[-1][0],
            gil_waits=[w[1] for w in waits],
            gil_wait_s=[round(w[2], 2) for w in waits])
