"""portable_hash and HashPartitioner: deterministic, equal keys together, both paths agree."""

from __future__ import annotations

import operator
import os
import pickle
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastdstream import Context, portable_hash
from fastdstream.engine.columnar import kernels
from fastdstream.engine.partitioner import HashPartitioner

KEYS = ["", "spark", "ünïcödé", "日本語", 0, 1, -1, 2**63 - 1, -(2**63), 2**70, 1.5, -0.25,
        float("inf"), None, b"", b"\x00\xff", (1, "a"), (), ((1, 2), None),
        frozenset({1, 2, 3})]


def test_portable_hash_is_deterministic_and_unsigned_64():
    for key in KEYS:
        h = portable_hash(key)
        assert isinstance(h, int)
        assert 0 <= h < 2**64
        assert portable_hash(key) == h


def test_portable_hash_is_the_same_in_another_process():
    """Unlike hash(), not salted per process (PYTHONHASHSEED differs)."""
    code = (
        "import pickle; from fastdstream import portable_hash\n"
        f"print([portable_hash(k) for k in pickle.loads({pickle.dumps(KEYS)!r})])\n"
    )
    outs = []
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True, timeout=60)
        outs.append(res.stdout.strip())
    here = str([portable_hash(k) for k in KEYS])
    assert outs[0] == outs[1] == here


@pytest.mark.parametrize("equal_keys", [
    (1, 1.0, True),
    (0, 0.0, -0.0, False),
    (-7, -7.0),
    ((1, "a"), (1.0, "a"), (True, "a")),
    (frozenset({1, 2}), frozenset({2, 1}), frozenset({2.0, True})),
])
def test_equal_keys_hash_equal(equal_keys):
    assert len({portable_hash(k) for k in equal_keys}) == 1


def test_distinct_keys_spread():
    hashes = {portable_hash(f"key-{i}") for i in range(1000)}
    assert len(hashes) == 1000
    assert portable_hash("a") != portable_hash(b"b")
    assert portable_hash((1, 2)) != portable_hash((2, 1))
    part = HashPartitioner(8)
    counts = np.bincount([part(f"key-{i}") for i in range(8000)], minlength=8)
    assert counts.min() > 700  # roughly uniform over 8 partitions


def test_unhashable_key_is_a_type_error():
    with pytest.raises(TypeError, match="not hashable"):
        portable_hash([1, 2])
    with pytest.raises(TypeError):
        portable_hash({"a": 1})


def test_hash_partitioner():
    part = HashPartitioner(5)
    assert part.num_partitions == 5
    assert part.is_default
    for key in KEYS:
        assert 0 <= part(key) < 5
        assert part(key) == portable_hash(key) % 5
    custom = HashPartitioner(3, lambda k: k)
    assert not custom.is_default
    assert [custom(k) for k in range(6)] == [0, 1, 2, 0, 1, 2]
    assert HashPartitioner(5) == part
    assert hash(HashPartitioner(5)) == hash(part)
    assert HashPartitioner(4) != part
    assert custom != HashPartitioner(3)
    with pytest.raises(ValueError, match="at least 1"):
        HashPartitioner(0)


@pytest.mark.parametrize("n", [1, 2, 7, 64, 1000])
@pytest.mark.parametrize("key", ["", "a", "spark", "ünïcödé", "🙂", "x" * 1000, b"\x00\xff",
                                 0, 1, -1, 2**63 - 1, -(2**63), None])
def test_object_and_columnar_paths_agree(key, n):
    if isinstance(key, str):
        arr = pa.array([key], pa.string())
    elif isinstance(key, bytes):
        arr = pa.array([key], pa.binary())
    elif key is None:
        arr = pa.array([None], pa.string())
    else:
        arr = pa.array([key], pa.int64())
    assert HashPartitioner(n)(key) == int(kernels.hash_partition(arr, n)[0])


@settings(max_examples=100, deadline=None)
@given(keys=st.lists(st.one_of(st.text(), st.none()), min_size=1, max_size=30),
       n=st.integers(1, 50))
def test_string_keys_same_partition_in_both_paths(keys, n):
    part = HashPartitioner(n)
    for dtype in (pa.string(), pa.large_string()):
        got = kernels.hash_partition(pa.array(keys, dtype), n).tolist()
        assert got == [part(k) for k in keys]


@settings(max_examples=100, deadline=None)
@given(keys=st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=30),
       n=st.integers(1, 50))
def test_int_keys_same_partition_in_both_paths(keys, n):
    part = HashPartitioner(n)
    assert kernels.hash_partition(pa.array(keys, pa.int64()), n).tolist() == [
        part(k) for k in keys
    ]
    small = [k % 100 for k in keys]
    assert kernels.hash_partition(pa.array(small, pa.int32()), n).tolist() == [
        part(k) for k in small
    ]


def test_reduce_by_key_merges_a_key_seen_in_table_and_list_partitions():
    """A key reduced in the columnar path and in the object path lands in one partition."""
    with Context("local[2]") as ctx:
        words = [f"w{i}" for i in range(40)]
        table = ctx.parallelize(pa.table({"k": words, "v": [1] * 40}), 2)
        objects = ctx.parallelize([(w, 1) for w in words], 3)
        out = table.union(objects).reduceByKey(operator.add, 5).collect()
        assert sorted(out) == sorted((w, 2) for w in words)


def test_equal_big_int_and_float_hash_equal():
    assert 10**20 == 1e20
    assert portable_hash(10**20) == portable_hash(1e20)


def test_numpy_int_hashes_like_int():
    assert portable_hash(np.int64(5)) == portable_hash(5)


def test_reduce_by_key_merges_numpy_and_python_int_keys():
    with Context("local[2]") as ctx:
        rdd = ctx.parallelize([(np.int64(5), 1), (5, 1)], 2)
        assert rdd.reduceByKey(operator.add, 4).collect() == [(5, 2)]
