"""Kernel benchmarks against pyarrow's own kernels, on the same data in the same run.

Run: ``python -m pytest bench --benchmark-only``. Timings are reported, never asserted;
each benchmark checks once that ours and the peer agree, so a fast wrong kernel fails.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from fastdstream.engine import tasks
from fastdstream.engine.columnar import kernels, registry
from fastdstream.engine.partitioner import HashPartitioner

if TYPE_CHECKING:
    # Only for annotations: importing "conftest" at run time can pick up
    # tests/conftest.py instead when both suites run in one session.
    from conftest import WordData

NUM_PARTITIONS = 8


def _as_dict(keys: pa.ChunkedArray | pa.Array, values: pa.ChunkedArray | pa.Array) -> dict:
    return dict(zip(keys.to_pylist(), values.to_pylist(), strict=True))


def _pyarrow_sum(table: pa.Table) -> pa.Table:
    return table.group_by("k", use_threads=False).aggregate([("v", "sum")])


@pytest.mark.benchmark(group="reduce_by_key")
def test_reduce_by_key_sum_ours(benchmark, word_data: WordData) -> None:
    result = benchmark(kernels.reduce_by_key, word_data.keys, word_data.values, "sum")
    peer = _pyarrow_sum(word_data.table)
    assert _as_dict(result["key"], result["value"]) == _as_dict(peer["k"], peer["v_sum"])


@pytest.mark.benchmark(group="reduce_by_key")
def test_reduce_by_key_sum_pyarrow_group_by(benchmark, word_data: WordData) -> None:
    """Peer: ``Table.group_by(...).aggregate([("v", "sum")])`` on one thread."""
    result = benchmark(_pyarrow_sum, word_data.table)
    ours = kernels.reduce_by_key(word_data.keys, word_data.values, "sum")
    assert _as_dict(result["k"], result["v_sum"]) == _as_dict(ours["key"], ours["value"])


# -- reduce_by_key on 2 threads: what local[2] runs ------------------------------------
#
# The stage pair of ``reduceByKey(add)`` over a two-partition table, run as local[2]
# runs it -- map tasks then reduce tasks on a pool of 2 threads -- minus the scheduler:
# each map task reduces its partition and hash-partitions the partial result, each
# reduce task merges its bucket of every map task's output. The core loops release the
# GIL, so the two tasks of a stage share the two cores.

THREADS = 2


@pytest.fixture(scope="module")
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(THREADS) as executor:
        yield executor


def _ours_threads(pool: ThreadPoolExecutor, table: pa.Table) -> list[pa.Table]:
    plan = registry.plan("reduceByKey", operator.add)
    partitioner = HashPartitioner(THREADS)
    n = table.num_rows
    splits = [table.slice(n * i // THREADS, n * (i + 1) // THREADS - n * i // THREADS)
              for i in range(THREADS)]
    map_outputs = list(pool.map(
        lambda i: tasks.reduce_map_side(operator.add, plan, partitioner, i, splits[i]),
        range(THREADS)))
    return list(pool.map(
        lambda r: tasks.reduce_reduce_side(operator.add, "sum", r,
                                           [out[r] for out in map_outputs]),
        range(THREADS)))


def _pyarrow_sum_threaded(table: pa.Table) -> pa.Table:
    return table.group_by("k", use_threads=True).aggregate([("v", "sum")])


@pytest.mark.benchmark(group="reduce_by_key")
def test_reduce_by_key_sum_ours_two_threads(benchmark, pool: ThreadPoolExecutor,
                                            word_data: WordData) -> None:
    """Ours as local[2] runs it: map and reduce tasks of the shuffle on 2 threads."""
    benchmark.extra_info["threads"] = THREADS
    parts = benchmark(_ours_threads, pool, word_data.table)
    merged: dict = {}
    for part in parts:
        merged.update(_as_dict(part["key"], part["value"]))
    peer = _pyarrow_sum(word_data.table)
    assert merged == _as_dict(peer["k"], peer["v_sum"])


@pytest.mark.benchmark(group="reduce_by_key")
def test_reduce_by_key_sum_pyarrow_group_by_threaded(benchmark, word_data: WordData) -> None:
    """Peer: ``Table.group_by(..., use_threads=True)``, pyarrow's own thread pool."""
    result = benchmark(_pyarrow_sum_threaded, word_data.table)
    ours = kernels.reduce_by_key(word_data.keys, word_data.values, "sum")
    assert _as_dict(result["k"], result["v_sum"]) == _as_dict(ours["key"], ours["value"])


def _pyarrow_partition_ids(keys: pa.Array, n: int) -> np.ndarray:
    # pyarrow has no hash partitioner; dictionary_encode runs its hash table over the
    # keys and gives each distinct key a dense id, which modulo n is a valid (if
    # differently distributed) key -> partition function.
    indices = pc.dictionary_encode(keys).indices.to_numpy()
    return (indices % n).astype(np.int32)


def _check_is_key_partitioning(keys: pa.Array, pids: np.ndarray, n: int) -> None:
    assert pids.dtype == np.int32 and len(pids) == len(keys)
    assert pids.min() >= 0 and pids.max() < n
    # Same key -> same partition: each distinct key maps to exactly one id.
    dict_ids = pc.dictionary_encode(keys).indices.to_numpy().astype(np.int64)
    pairs = np.unique(dict_ids * n + pids)
    assert len(pairs) == len(np.unique(dict_ids))


@pytest.mark.benchmark(group="hash_partition")
def test_hash_partition_ours(benchmark, word_data: WordData) -> None:
    pids = benchmark(kernels.hash_partition, word_data.keys, NUM_PARTITIONS)
    _check_is_key_partitioning(word_data.keys, pids, NUM_PARTITIONS)
    for i in range(0, len(word_data.keys), max(1, len(word_data.keys) // 100)):
        word = word_data.keys[i].as_py()
        assert pids[i] == kernels.hash_value(word) % NUM_PARTITIONS
    peer = _pyarrow_partition_ids(word_data.keys, NUM_PARTITIONS)
    # Both partition the same rows: equal totals, all rows placed.
    assert np.bincount(pids, minlength=NUM_PARTITIONS).sum() == len(peer)


@pytest.mark.benchmark(group="hash_partition")
def test_hash_partition_pyarrow_dictionary_encode(benchmark, word_data: WordData) -> None:
    """Peer: ``pc.dictionary_encode(keys).indices % n`` (pyarrow hash table + numpy)."""
    pids = benchmark(_pyarrow_partition_ids, word_data.keys, NUM_PARTITIONS)
    _check_is_key_partitioning(word_data.keys, pids, NUM_PARTITIONS)
