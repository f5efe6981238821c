"""Window benchmarks: ``reduceByKeyAndWindow`` over a 60-batch window, per batch, as it fills.

The same batches (Arrow (key, value) tables, int64 values) run through

- ``reduceByKeyAndWindow(operator.add, operator.sub, 60, 1)``: incremental, each window
  from the one before (checkpointed every 10 batches, as a stateful stream is);
- ``reduceByKeyAndWindow(operator.add, None, 60, 1)``: every window reduced whole;
- the peer, in the same run on the same data: pyarrow recomputing each window from the
  raw batches (``concat_tables`` of the last 60, ``group_by(...).aggregate(sum)``).

Per-batch times are wall times (ms): for the streams, from the manual clock's tick to the
batch's completion (job generation, the stages, the listener), for the peer one window.
``extra_info`` holds the medians while the window fills (batches 1-60) and once full
(61-90), the ratio to the peer's, and every batch's time. The run checks the last
window against the peer's.

Run: ``pytest bench/test_bench_windows.py --benchmark-only``. ``FASTDSTREAM_BENCH_WINDOW_ROWS``
(default 50000) sets the rows per batch, ``FASTDSTREAM_BENCH_WINDOW_KEYS`` (default 20000)
the distinct keys.
"""

from __future__ import annotations

import operator
import os
import statistics
import time
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pytest

from fastdstream.testing import ManualStreaming

ROWS = int(os.environ.get("FASTDSTREAM_BENCH_WINDOW_ROWS", "50000"))
KEYS = int(os.environ.get("FASTDSTREAM_BENCH_WINDOW_KEYS", "20000"))
WINDOW = 60  # batches
BATCHES = 90  # 60 to fill the window, 30 with it full
SEED = 20261129


@pytest.fixture(scope="module")
def batches() -> list[pa.Table]:
    rng = np.random.default_rng(SEED)
    vocabulary = pa.array([f"k{i}" for i in range(KEYS)], pa.string())
    return [pa.table({"k": vocabulary.take(pa.array(rng.integers(0, KEYS, ROWS))),
                      "v": pa.array(rng.integers(1, 10, ROWS), pa.int64())})
            for _ in range(BATCHES)]


def peer_windows(batches: list[pa.Table]) -> tuple[list[float], dict]:
    """pyarrow recomputing every window from its raw batches: ms per batch, last window."""
    times, last = [], {}
    for t in range(1, len(batches) + 1):
        start = time.perf_counter()
        window = pa.concat_tables(batches[max(0, t - WINDOW):t])
        summed = window.group_by("k").aggregate([("v", "sum")])
        times.append((time.perf_counter() - start) * 1000)
        last = dict(zip(summed["k"].to_pylist(), summed["v_sum"].to_pylist(), strict=True))
    return times, last


def stream_windows(batches: list[pa.Table], inv: Callable[[int, int], int] | None,
                   checkpoint_dir: str) -> tuple[list[float], dict]:
    streaming = ManualStreaming(batch_seconds=1, master="local[2]")
    try:
        streaming.ssc.checkpoint(checkpoint_dir)
        sc = streaming.sc
        stream = streaming.ssc.queueStream([sc.parallelize(b, 2) for b in batches])
        windows = stream.reduceByKeyAndWindow(operator.add, inv, WINDOW, 1, numPartitions=2)
        last: dict = {}
        windows.foreachRDD(lambda rdd: last.update(window=rdd.collectAsMap()))
        streaming.start()
        times = []
        for _ in batches:
            start = time.perf_counter()
            streaming.run_batches(1, timeout=120)
            times.append((time.perf_counter() - start) * 1000)
        return times, last["window"]
    finally:
        streaming.stop()


def _summary(times: list[float]) -> dict:
    return {"median_filling_ms": round(statistics.median(times[1:WINDOW]), 2),
            "median_full_ms": round(statistics.median(times[WINDOW:]), 2)}


def _report(benchmark, times: list[float], peer: list[float]) -> None:
    mine, theirs = _summary(times), _summary(peer)
    benchmark.extra_info.update(
        rows_per_batch=ROWS, keys=KEYS, window_batches=WINDOW, **mine,
        peer_median_filling_ms=theirs["median_filling_ms"],
        peer_median_full_ms=theirs["median_full_ms"],
        ratio_full_to_peer=round(mine["median_full_ms"] / theirs["median_full_ms"], 3),
        per_batch_ms=[round(t, 2) for t in times],
    )


@pytest.mark.benchmark(group="window-60-batches")
@pytest.mark.parametrize("inverse", ["with-invFunc", "without-invFunc"])
def test_reduce_by_key_and_window(benchmark, batches, tmp_path, inverse: str) -> None:
    inv = operator.sub if inverse == "with-invFunc" else None
    peer, expected = peer_windows(batches)
    times, last = benchmark.pedantic(stream_windows, args=(batches, inv, str(tmp_path)),
                                     rounds=1, iterations=1)
    assert last == expected
    _report(benchmark, times, peer)


@pytest.mark.benchmark(group="window-60-batches")
def test_reduce_by_key_and_window_peer_pyarrow_recompute(benchmark, batches) -> None:
    """Peer: every window recomputed by pyarrow from the raw batches."""
    peer, _ = benchmark.pedantic(peer_windows, args=(batches,), rounds=1, iterations=1)
    benchmark.extra_info.update(rows_per_batch=ROWS, keys=KEYS, window_batches=WINDOW,
                                **_summary(peer), per_batch_ms=[round(t, 2) for t in peer])
