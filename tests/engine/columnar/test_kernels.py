"""The compiled kernels agree with the pure-Python reference, on edge cases and at random."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastdstream import _reference as ref
from fastdstream.engine.columnar import kernels

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BINARY_TYPES = [pa.string(), pa.large_string(), pa.binary(), pa.large_binary()]
OPS = ["sum", "count", "min", "max"]

# Small alphabets make repeated keys (real groups) likely; the unicode one exercises
# multi-byte UTF-8 and lengths around the 8-byte word boundary.
texts = st.text(alphabet="ab\u00e9\u4e2d\U0001f600", max_size=12)
int_keys = st.integers(min_value=-(2**63), max_value=2**63 - 1) | st.integers(-3, 3)


def as_py_key(k: Any, t: pa.DataType) -> Any:
    if k is not None and pa.types.is_binary(t) | pa.types.is_large_binary(t):
        return k if isinstance(k, bytes) else k.encode()
    return k


def key_array(keys: list[Any], t: pa.DataType) -> pa.Array:
    return pa.array([as_py_key(k, t) for k in keys], type=t)


def assert_same_groups(got: pa.Table, expected: list[tuple[Any, Any]]) -> None:
    assert got.column_names == ["key", "value"]
    got_pairs = list(
        zip(got.column("key").to_pylist(), got.column("value").to_pylist(), strict=True)
    )
    assert [k for k, _ in got_pairs] == [k for k, _ in expected]
    for (_, gv), (_, ev) in zip(got_pairs, expected, strict=True):
        if isinstance(ev, float) and math.isnan(ev):
            assert isinstance(gv, float) and math.isnan(gv)
        elif isinstance(ev, float):
            assert gv == pytest.approx(ev, rel=1e-12, abs=1e-9)
        else:
            assert gv == ev


# -- hashing ---------------------------------------------------------------------------


def test_hash_value_is_pinned_and_matches_reference() -> None:
    # Constants computed once by _reference: if either implementation changes, data
    # already partitioned by an older build would land in other partitions.
    assert kernels.hash_value("hello") == 0x7962273121DF70F4
    assert kernels.hash_value(-42) == 0x2785535A58AE2BAE
    assert kernels.hash_value("") == 0x9353DFC8A195F3E2
    assert kernels.hash_value(None) == ref.NULL_HASH
    for v in ["hello", "", "a" * 100, "h\u00e9llo \u2713", b"\x00", 0, -1, 2**63 - 1, None]:
        assert kernels.hash_value(v) == ref.hash_value(v)


def test_hash_value_is_independent_of_the_process() -> None:
    code = "from fastdstream.engine.columnar.kernels import hash_value; print(hash_value('hello'))"
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed},
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert outs == {str(0x7962273121DF70F4)}


def test_hash_value_str_equals_utf8_bytes() -> None:
    assert kernels.hash_value("\u4e2d\u6587") == kernels.hash_value("\u4e2d\u6587".encode())


@pytest.mark.parametrize("bad", [1.5, (1, 2), True, 2**63, -(2**63) - 1, ["a"]])
def test_hash_value_rejects_other_types(bad: Any) -> None:
    with pytest.raises(TypeError):
        kernels.hash_value(bad)


# -- hash_partition / partition_table ----------------------------------------------------


@SETTINGS
@given(
    keys=st.lists(st.none() | texts, max_size=40),
    t=st.sampled_from(BINARY_TYPES),
    n=st.sampled_from([1, 2, 3, 8, 1000]),
)
def test_hash_partition_binary_matches_reference(keys: list[Any], t: pa.DataType, n: int) -> None:
    arr = key_array(keys, t)
    got = kernels.hash_partition(arr, n)
    assert got.dtype == np.int32
    expected = ref.hash_partition([as_py_key(k, t) for k in keys], n)
    assert got.tolist() == expected
    # The Python-object path partitions with hash_value(k) % n and must agree.
    assert got.tolist() == [kernels.hash_value(as_py_key(k, t)) % n for k in keys]


@SETTINGS
@given(keys=st.lists(st.none() | int_keys, max_size=40), n=st.sampled_from([1, 2, 7, 64]))
def test_hash_partition_int64_matches_reference(keys: list[Any], n: int) -> None:
    got = kernels.hash_partition(pa.array(keys, type=pa.int64()), n)
    assert got.tolist() == ref.hash_partition(keys, n)


def test_hash_partition_narrow_ints_hash_like_int64() -> None:
    vals = [1, -5, None, 127]
    a = kernels.hash_partition(pa.array(vals, type=pa.int8()), 16)
    b = kernels.hash_partition(pa.array(vals, type=pa.int64()), 16)
    assert a.tolist() == b.tolist()


@pytest.mark.parametrize("t", [*BINARY_TYPES, pa.int64()])
def test_hash_partition_sliced_and_chunked(t: pa.DataType) -> None:
    base = [f"key{i}" if i % 5 else None for i in range(30)]
    keys = [i * 7 - 50 if k is not None else None for i, k in enumerate(base)]
    if t != pa.int64():
        keys = base
    arr = key_array(keys, t)
    sliced = arr.slice(3, 10)
    expected = ref.hash_partition([as_py_key(k, t) for k in keys[3:13]], 5)
    assert kernels.hash_partition(sliced, 5).tolist() == expected
    chunked = pa.chunked_array([arr.slice(0, 4), arr.slice(4, 0), arr.slice(4, 26)])
    expected_all = ref.hash_partition([as_py_key(k, t) for k in keys], 5)
    assert kernels.hash_partition(chunked, 5).tolist() == expected_all


def test_hash_partition_empty_and_long_strings() -> None:
    assert kernels.hash_partition(pa.array([], pa.string()), 4).tolist() == []
    assert kernels.hash_partition(pa.chunked_array([], pa.string()), 4).tolist() == []
    long = ["x" * 100_000, "\u00e9" * 50_000 + "z", "x" * 99_999]
    assert kernels.hash_partition(pa.array(long), 97).tolist() == ref.hash_partition(long, 97)


@pytest.mark.parametrize("n", [0, -1])
def test_hash_partition_rejects_bad_num_partitions(n: int) -> None:
    with pytest.raises(ValueError, match="num_partitions"):
        kernels.hash_partition(pa.array(["a"]), n)


def test_unsupported_key_type_names_the_type() -> None:
    with pytest.raises(TypeError, match="double"):
        kernels.hash_partition(pa.array([1.5]), 2)
    with pytest.raises(TypeError, match="bool"):
        kernels.reduce_by_key(pa.array([True]), pa.array([1]), "sum")


@SETTINGS
@given(
    keys=st.lists(st.none() | st.sampled_from(["a", "b", "c", "dd", "\u00e9\u00e9"]), max_size=30),
    n=st.sampled_from([1, 2, 5]),
)
def test_partition_table_matches_reference(keys: list[Any], n: int) -> None:
    table = pa.table({"k": pa.array(keys, pa.string()), "i": pa.array(range(len(keys)))})
    parts = kernels.partition_table(table, "k", n)
    assert len(parts) == n
    expected = ref.partition_rows(keys, n)
    for part, rows in zip(parts, expected, strict=True):
        assert part.schema == table.schema
        assert part.column("i").to_pylist() == rows


def test_partition_table_accepts_record_batch_and_index() -> None:
    batch = pa.record_batch({"v": [1, 2, 3], "k": [10, 20, 10]})
    parts = kernels.partition_table(batch, 1, 4)
    assert all(isinstance(p, pa.Table) for p in parts)
    assert sorted(v for p in parts for v in p.column("v").to_pylist()) == [1, 2, 3]


# -- reduce_by_key / merge_partials ------------------------------------------------------


@SETTINGS
@given(
    rows=st.lists(
        st.tuples(st.none() | texts, st.none() | st.integers(-(2**62), 2**62)), max_size=40
    ),
    t=st.sampled_from(BINARY_TYPES),
    op=st.sampled_from(OPS),
)
def test_reduce_binary_int_values_matches_reference(
    rows: list[tuple[Any, Any]], t: pa.DataType, op: str
) -> None:
    keys = [k for k, _ in rows]
    values = [v for _, v in rows]
    # Forty values of up to 2**62 can overflow: compare wrap-around with the reference.
    got = kernels.reduce_by_key(key_array(keys, t), pa.array(values, pa.int64()), op, wrap=True)
    assert got.schema.field("key").type == t
    expected = ref.reduce_by_key([as_py_key(k, t) for k in keys], values, op)
    assert_same_groups(got, expected)


floats = st.none() | st.floats(allow_nan=True, allow_infinity=False, width=64)


@SETTINGS
@given(
    rows=st.lists(st.tuples(st.none() | int_keys, floats), max_size=40),
    op=st.sampled_from(OPS),
)
def test_reduce_int_keys_float_values_matches_reference(
    rows: list[tuple[Any, Any]], op: str
) -> None:
    keys = [k for k, _ in rows]
    values = [v for _, v in rows]
    got = kernels.reduce_by_key(pa.array(keys, pa.int64()), pa.array(values, pa.float64()), op)
    expected_type = pa.int64() if op == "count" else pa.float64()
    assert got.schema.field("value").type == expected_type
    assert_same_groups(got, ref.reduce_by_key(keys, values, op))


@SETTINGS
@given(
    rows=st.lists(st.tuples(st.none() | st.sampled_from("abcde"), st.none() | st.integers(-9, 9))),
    cuts=st.lists(st.integers(0, 40), max_size=4),
    vcuts=st.lists(st.integers(0, 40), max_size=4),
    op=st.sampled_from(OPS),
)
def test_reduce_chunked_unaligned_matches_reference(
    rows: list[tuple[Any, Any]], cuts: list[int], vcuts: list[int], op: str
) -> None:
    keys = [k for k, _ in rows]
    values = [v for _, v in rows]

    def chunked(xs: list[Any], at: list[int], t: pa.DataType) -> pa.ChunkedArray:
        bounds = sorted({0, len(xs), *(min(c, len(xs)) for c in at)})
        return pa.chunked_array([pa.array(xs[a:b], t) for a, b in itertools.pairwise(bounds)], t)

    got = kernels.reduce_by_key(
        chunked(keys, cuts, pa.string()), chunked(values, vcuts, pa.int64()), op
    )
    assert_same_groups(got, ref.reduce_by_key(keys, values, op))


def test_reduce_sliced_arrays_with_nulls() -> None:
    keys = ["a", None, "b", "a", "ccccccccccc", None, "b", "a", "ccccccccccc", "d", "a", "e", "f"]
    values = [1, 2, None, 4, 5, 6, None, 8, 9, 10, None, 12, 13]
    ka = pa.array(keys).slice(3, 10)
    va = pa.array(values).slice(3, 10)
    for op in OPS:
        assert_same_groups(
            kernels.reduce_by_key(ka, va, op), ref.reduce_by_key(keys[3:13], values[3:13], op)
        )


def test_reduce_count_rows_without_values() -> None:
    got = kernels.reduce_by_key(pa.array([3, None, 3, -1]), None, "count")
    assert got.to_pydict() == {"key": [3, None, -1], "value": [2, 1, 1]}
    with pytest.raises(ValueError, match="needs values"):
        kernels.reduce_by_key(pa.array([1]), None, "sum")


def test_reduce_empty_and_all_null() -> None:
    empty = kernels.reduce_by_key(pa.array([], pa.string()), pa.array([], pa.int64()), "sum")
    assert empty.num_rows == 0
    assert empty.schema.field("key").type == pa.string()
    assert empty.schema.field("value").type == pa.int64()
    nulls = kernels.reduce_by_key(
        pa.array([None, None], pa.string()), pa.array([None, None], pa.int64()), "max"
    )
    assert nulls.to_pydict() == {"key": [None], "value": [None]}
    counted = kernels.reduce_by_key(pa.array(["a", "a"]), pa.nulls(2), "count")
    assert counted.to_pydict() == {"key": ["a"], "value": [0]}


def test_null_typed_keys_form_one_null_group() -> None:
    keys = pa.array([None, None, None])
    assert keys.type == pa.null()
    got = kernels.reduce_by_key(keys, pa.array([1, None, 2]), "sum")
    assert got.schema.field("key").type == pa.null()
    assert got.to_pydict() == {"key": [None], "value": [3]}
    expected = kernels.hash_value(None) % 5
    assert kernels.hash_partition(keys, 5).tolist() == [expected] * 3


def test_reduce_long_and_unicode_keys() -> None:
    long_a = "\u00e9" * 50_000  # 100 KB of UTF-8
    long_b = long_a[:-1] + "f"  # same length, differs only in the last byte
    keys = [long_a, "\U0001f600", long_b, long_a, "", "\U0001f600"]
    values = [1, 2, 3, 4, 5, 6]
    got = kernels.reduce_by_key(pa.array(keys, pa.large_string()), pa.array(values), "sum")
    assert_same_groups(got, ref.reduce_by_key(keys, values, "sum"))


def test_reduce_many_groups_grows_the_table() -> None:
    rng = np.random.default_rng(7)
    keys = [f"k{int(x)}" for x in rng.integers(0, 20_000, 60_000)]
    values = [int(x) for x in rng.integers(-1000, 1000, 60_000)]
    got = kernels.reduce_by_key(pa.array(keys), pa.array(values), "sum")
    assert_same_groups(got, ref.reduce_by_key(keys, values, "sum"))
    ints = [int(x) - 10_000 for x in rng.integers(0, 20_000, 60_000)]
    got = kernels.reduce_by_key(pa.array(ints), pa.array(values), "min")
    assert_same_groups(got, ref.reduce_by_key(ints, values, "min"))


def test_reduce_value_types() -> None:
    keys = pa.array(["a", "b", "a"])
    got = kernels.reduce_by_key(keys, pa.array([1, 2, 3], pa.int32()), "min")
    assert got.schema.field("value").type == pa.int32()
    got = kernels.reduce_by_key(keys, pa.array([1, 2, 3], pa.int32()), "sum")
    assert got.schema.field("value").type == pa.int64()
    got = kernels.reduce_by_key(keys, pa.array([1.5, 2, 3], pa.float32()), "max")
    assert got.to_pydict() == {"key": ["a", "b"], "value": [3.0, 2.0]}
    assert got.schema.field("value").type == pa.float32()
    got = kernels.reduce_by_key(pa.array([1, 2, 1], pa.int16()), pa.array([1, 2, 3]), "sum")
    assert got.schema.field("key").type == pa.int16()
    assert got.to_pydict() == {"key": [1, 2], "value": [4, 2]}
    with pytest.raises(TypeError, match="string"):
        kernels.reduce_by_key(keys, pa.array(["x", "y", "z"]), "sum")


@pytest.mark.parametrize(
    "t",
    [pa.dictionary(pa.int32(), pa.string()), pa.string_view(), pa.binary_view()],
)
def test_reduce_and_partition_keep_encoded_key_types(t: pa.DataType) -> None:
    raw = ["x", None, "y", "x"]
    plain = pa.array([k.encode() if k and "binary" in str(t) else k for k in raw])
    keys = plain.cast(t)
    got = kernels.reduce_by_key(keys, pa.array([1, 2, 3, 4]), "sum")
    assert got.schema.field("key").type == t
    assert got.column("key").cast(plain.type).to_pylist() == [
        plain[0].as_py(),
        None,
        plain[2].as_py(),
    ]
    assert got.column("value").to_pylist() == [5, 2, 3]
    assert kernels.hash_partition(keys, 7).tolist() == kernels.hash_partition(plain, 7).tolist()


@SETTINGS
@given(
    rows=st.lists(
        st.tuples(st.sampled_from("ab"), st.none() | st.integers(-(2**63), 2**63 - 1)),
        max_size=6,
    )
)
def test_reduce_int64_sum_raises_instead_of_wrapping(rows: list[tuple[str, Any]]) -> None:
    keys = [k for k, _ in rows]
    values = [v for _, v in rows]
    running: dict[str, int] = {}
    overflows = False
    for k, v in rows:
        if v is not None:
            running[k] = running.get(k, 0) + v
            overflows |= not -(2**63) <= running[k] < 2**63
    if overflows:
        with pytest.raises(OverflowError, match="int64 sum overflows for key"):
            kernels.reduce_by_key(pa.array(keys, pa.string()), pa.array(values, pa.int64()), "sum")
    else:
        got = kernels.reduce_by_key(
            pa.array(keys, pa.string()), pa.array(values, pa.int64()), "sum"
        )
        assert_same_groups(got, ref.reduce_by_key(keys, values, "sum"))


def test_merge_partials_overflow() -> None:
    a = kernels.reduce_by_key(pa.array(["k"]), pa.array([2**62]), "sum")
    b = kernels.reduce_by_key(pa.array(["k"]), pa.array([2**62]), "sum")
    with pytest.raises(OverflowError, match="'k'"):
        kernels.merge_partials([a, b], "sum")
    assert kernels.merge_partials([a, b], "sum", wrap=True).column("value").to_pylist() == [
        -(2**63)
    ]


def test_reduce_int64_sum_wraps_like_pyarrow() -> None:
    keys = pa.array([1, 1])
    values = pa.array([2**63 - 1, 1])
    ours = kernels.reduce_by_key(keys, values, "sum", wrap=True).column("value").to_pylist()
    theirs = pa.table({"k": keys, "v": values}).group_by("k").aggregate([("v", "sum")])
    assert ours == theirs.column("v_sum").to_pylist() == [-(2**63)]


@pytest.mark.parametrize("op", OPS)
def test_reduce_agrees_with_pyarrow_group_by(op: str) -> None:
    rng = np.random.default_rng(3)
    keys = pa.array([None if x == 0 else f"w{x}" for x in rng.integers(0, 50, 2000)])
    values = pa.array(rng.integers(-100, 100, 2000), mask=rng.random(2000) < 0.2)
    ours = kernels.reduce_by_key(keys, values, op)
    theirs = (
        pa.table({"k": keys, "v": values}).group_by("k", use_threads=False).aggregate([("v", op)])
    )
    assert dict(zip(*ours.to_pydict().values(), strict=True)) == dict(
        zip(*theirs.to_pydict().values(), strict=False)
    )


def test_bad_op() -> None:
    with pytest.raises(ValueError, match="unknown op 'avg'"):
        kernels.reduce_by_key(pa.array(["a"]), pa.array([1]), "avg")
    with pytest.raises(ValueError, match="unknown op"):
        kernels.merge_partials([], "median")


def test_length_mismatch() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        kernels.reduce_by_key(pa.array(["a", "b"]), pa.array([1]), "sum")


@SETTINGS
@given(
    batches=st.lists(
        st.lists(st.tuples(st.none() | st.sampled_from("abcd"), st.none() | st.integers(-9, 9))),
        min_size=1,
        max_size=4,
    ),
    op=st.sampled_from(OPS),
)
def test_merge_partials_equals_reduce_of_everything(
    batches: list[list[tuple[Any, Any]]], op: str
) -> None:
    partials = [
        kernels.reduce_by_key(
            pa.array([k for k, _ in b], pa.string()), pa.array([v for _, v in b], pa.int64()), op
        )
        for b in batches
    ]
    merged = kernels.merge_partials(partials, op)
    rows = [r for b in batches for r in b]
    expected = ref.reduce_by_key([k for k, _ in rows], [v for _, v in rows], op)
    assert merged.schema == partials[0].schema
    assert_same_groups(merged, expected)


def test_merge_partials_rejects_empty_and_mismatched() -> None:
    with pytest.raises(ValueError, match="at least one"):
        kernels.merge_partials([], "sum")
    a = kernels.reduce_by_key(pa.array(["a"]), pa.array([1]), "sum")
    b = kernels.reduce_by_key(pa.array([1]), pa.array([1]), "sum")
    with pytest.raises(TypeError, match="schema"):
        kernels.merge_partials([a, b], "sum")


# -- slicing ---------------------------------------------------------------------------


@SETTINGS
@given(
    deltas=st.lists(st.integers(0, 500), max_size=50),
    first=st.integers(-1000, 1000),
    start=st.integers(-1000, 1000),
    interval=st.integers(1, 300),
)
def test_block_boundaries_matches_reference(
    deltas: list[int], first: int, start: int, interval: int
) -> None:
    ts = list(np.cumsum([first, *deltas]))[: len(deltas)]
    idx, bounds = kernels.block_boundaries(np.array(ts, dtype=np.int64), start, interval)
    assert idx.dtype == np.int64 and bounds.dtype == np.int64
    exp_idx, exp_bounds = ref.block_boundaries([int(t) for t in ts], start, interval)
    assert idx.tolist() == exp_idx
    assert bounds.tolist() == exp_bounds


def test_block_boundaries_arrow_inputs() -> None:
    arr = pa.array([5, 10, 10, 250, 900], pa.int64())
    idx, bounds = kernels.block_boundaries(arr.slice(1), 0, 200)
    assert (idx.tolist(), bounds.tolist()) == ([0, 1, 4], [0, 2, 3, 4])
    stamps = pa.array([0, 1500, 2100], pa.timestamp("ms"))
    idx, bounds = kernels.block_boundaries(stamps, 0, 1000)
    assert (idx.tolist(), bounds.tolist()) == ([0, 1, 2], [0, 1, 2, 3])
    idx, bounds = kernels.block_boundaries(np.array([], np.int64), 0, 10)
    assert (idx.tolist(), bounds.tolist()) == ([], [0])


def test_block_boundaries_errors_name_the_row() -> None:
    with pytest.raises(ValueError, match="row 3"):
        kernels.block_boundaries(np.array([1, 2, 3, 2]), 0, 10)
    with pytest.raises(ValueError, match="row 1 is null"):
        kernels.block_boundaries(pa.array([1, None]), 0, 10)
    with pytest.raises(ValueError, match="interval_ms"):
        kernels.block_boundaries(np.array([1]), 0, 0)


@pytest.mark.parametrize(("rows", "max_rows"), [(0, 1), (1, 1), (10, 3), (9, 3), (5, 100)])
def test_count_boundaries(rows: int, max_rows: int) -> None:
    assert kernels.count_boundaries(rows, max_rows).tolist() == ref.count_boundaries(rows, max_rows)


def test_count_boundaries_errors() -> None:
    with pytest.raises(ValueError, match="max_rows"):
        kernels.count_boundaries(3, 0)
    with pytest.raises(ValueError, match="num_rows"):
        kernels.count_boundaries(-1, 2)


def test_reduce_sum_over_many_windows_with_nulls_matches_reference() -> None:
    # More rows than one core window (64K), sliced, with null keys and null values.
    rng = np.random.default_rng(7)
    n = 150_000
    words = [None if i % 97 == 0 else f"k{x}" for i, x in enumerate(rng.integers(0, 5000, n))]
    vals = [None if i % 89 == 0 else int(x) for i, x in enumerate(rng.integers(-9, 9, n))]
    keys, values = pa.array(words).slice(3), pa.array(vals).slice(3)
    got = kernels.reduce_by_key(keys, values, "sum")
    expected = ref.reduce_by_key(words[3:], vals[3:], "sum")
    assert list(zip(got["key"].to_pylist(), got["value"].to_pylist(), strict=True)) == expected
    int_keys = [int(x) for x in rng.integers(0, 3000, n - 3)]
    floats = values.cast(pa.float64())
    got = kernels.reduce_by_key(pa.array(int_keys), floats, "sum")
    expected = ref.reduce_by_key(int_keys, floats.to_pylist(), "sum")
    assert list(zip(got["key"].to_pylist(), got["value"].to_pylist(), strict=True)) == expected


def test_group_sum_needs_room_for_every_row() -> None:
    from fastdstream import _core

    grouper = _core.Grouper("int64")
    keys = np.arange(10, dtype=np.int64)
    with pytest.raises(ValueError, match="room"):
        _core.group_sum_int64(grouper, keys, None, 0, keys, None, 0, 10,
                              np.zeros(5, dtype=np.int64), None)
    with pytest.raises(TypeError, match="int64 keys"):
        _core.group_sum_binary(grouper, np.zeros(11, dtype=np.int32), None, None, 0, keys,
                               None, 0, 10, np.zeros(10, dtype=np.int64), None)
