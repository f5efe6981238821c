"""Ordering on Arrow partitions against the same job on Python rows, same data, same run.

- ``sortByKey`` of (string key, int) pairs into 4 range partitions: Arrow tables (the
  ranges cut and sorted by ``pyarrow.compute``) vs Python lists (``sorted``);
- ``top(100)`` of one int64 column: ``select_k_unstable`` per partition vs ``heapq``;
- the peer of both: ``pyarrow.compute.sort_indices`` / ``select_k_unstable`` on the whole
  table in this process, the floor of what any engine could do.

Each is one job on ``local[2]`` (the Context started beforehand).
Run: ``pytest bench/test_bench_ordering.py --benchmark-only``;
``FASTDSTREAM_BENCH_SORT_ROWS`` sets the rows (default 1,000,000).
"""

from __future__ import annotations

import heapq
import os
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from fastdstream import Context

ROWS = int(os.environ.get("FASTDSTREAM_BENCH_SORT_ROWS", "1000000"))


@pytest.fixture(scope="module")
def sc() -> Iterator[Context]:
    context = Context("local[2]", "bench-ordering")
    yield context
    context.stop()


@pytest.fixture(scope="module")
def pairs() -> pa.Table:
    rng = np.random.default_rng(7)
    keys = pa.array([f"k{x}" for x in rng.integers(0, ROWS, ROWS)], pa.string())
    return pa.table({"k": keys, "v": pa.array(np.arange(ROWS))})


@pytest.fixture(scope="module")
def numbers() -> pa.Table:
    return pa.table({"v": pa.array(np.random.default_rng(8).integers(-10**9, 10**9, ROWS))})


def test_sort_by_key_arrow(benchmark, sc: Context, pairs: pa.Table) -> None:
    rdd = sc.parallelize(pairs, 4)
    out = benchmark(lambda: rdd.sortByKey(numPartitions=4).count())
    assert out == ROWS


def test_sort_by_key_rows(benchmark, sc: Context, pairs: pa.Table) -> None:
    rdd = sc.parallelize(list(zip(*pairs.to_pydict().values(), strict=True)), 4)
    out = benchmark(lambda: rdd.sortByKey(numPartitions=4).count())
    assert out == ROWS


def test_sort_peer_pyarrow_in_process(benchmark, pairs: pa.Table) -> None:
    out = benchmark(lambda: pairs.take(pc.sort_indices(pairs, [("k", "ascending")])).num_rows)
    assert out == ROWS


def test_top_arrow(benchmark, sc: Context, numbers: pa.Table) -> None:
    rdd = sc.parallelize(numbers, 4)
    expected = heapq.nlargest(100, numbers.column(0).to_pylist())
    assert benchmark(lambda: rdd.top(100)) == expected


def test_top_rows(benchmark, sc: Context, numbers: pa.Table) -> None:
    rdd = sc.parallelize(numbers.column(0).to_pylist(), 4)
    assert len(benchmark(lambda: rdd.top(100))) == 100


def test_top_peer_pyarrow_in_process(benchmark, numbers: pa.Table) -> None:
    def top() -> int:
        return len(pc.select_k_unstable(numbers, 100, [("v", "descending")]))

    assert benchmark(top) == 100
