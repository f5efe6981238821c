"""The map-side combine of the lambda path: one dict, one user call per record, the
partition of each key computed once and equal to portable_hash's."""

from __future__ import annotations

import operator
from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastdstream import Context, _core
from fastdstream import _reference as ref
from fastdstream.engine import tasks
from fastdstream.engine.partitioner import HashPartitioner, portable_hash

keys = st.one_of(
    st.none(),
    st.text(max_size=12),  # includes lone surrogates, which the core leaves to portable_hash
    st.binary(max_size=12),
    st.integers(min_value=-(2**70), max_value=2**70),  # beyond int64 too
    st.booleans(),
    st.floats(allow_nan=False),
    st.tuples(st.integers(), st.text(max_size=3)),
)


@given(st.dictionaries(keys, st.integers(), max_size=40), st.integers(1, 9))
@settings(max_examples=200, deadline=None)
def test_partition_items_agrees_with_portable_hash(combiners: dict[Any, int], n: int) -> None:
    parts = _core.partition_items(combiners, n, portable_hash)
    assert parts == ref.partition_items(combiners, n, portable_hash)
    assert len(parts) == n
    for p, pairs in enumerate(parts):
        for k, c in pairs:
            assert portable_hash(k) % n == p and combiners[k] == c
    assert sum(map(len, parts)) == len(combiners)


def test_partition_items_rejects_bad_partition_counts() -> None:
    with pytest.raises(ValueError, match="num_partitions"):
        _core.partition_items({}, 0, portable_hash)


rows = st.lists(st.tuples(st.sampled_from("abcde"), st.integers(-5, 5)), max_size=60)


@given(rows)
def test_combine_rows_matches_reference(pairs: list[tuple[str, int]]) -> None:
    ours: dict[str, Any] = {"a": [100]}  # a combiner already there is merged into
    expected: dict[str, Any] = {"a": [100]}

    def create(v: int) -> list[int]:
        return [v]

    def merge(c: list[int], v: int) -> list[int]:
        return [*c, v]

    assert _core.combine_rows(iter(pairs), create, merge, ours) == len(pairs)
    assert ref.combine_rows(iter(pairs), create, merge, expected) == len(pairs)
    assert ours == expected
    assert list(ours) == list(expected)  # first-appearance order


@given(rows)
def test_combine_rows_add_and_first_value(pairs: list[tuple[str, int]]) -> None:
    ours: dict[str, int] = {}
    _core.combine_rows(pairs, None, operator.add, ours)
    expected: Counter[str] = Counter()
    for k, v in pairs:
        expected[k] += v
    assert ours == dict(expected)


numbers = st.one_of(
    st.integers(-5, 5),
    st.integers(-(2**70), 2**70),
    st.integers(2**63 - 3, 2**63 + 3),  # at the edge of the int64 sums
    st.integers(-(2**63) - 3, -(2**63) + 3),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
)


@given(st.lists(st.tuples(st.sampled_from("abc"), numbers), max_size=40))
@settings(max_examples=300, deadline=None)
def test_combine_rows_add_is_python_s_plus(pairs: list[tuple[str, Any]]) -> None:
    """reduceByKey(add) into an empty dict sums ints in int64 slots: every combiner
    must still be exactly ``combiner + value`` (type included), in first-seen order,
    whatever the values and however large the sums."""
    ours: dict[str, Any] = {}
    assert _core.combine_rows(iter(pairs), None, operator.add, ours) == len(pairs)
    expected: dict[str, Any] = {}
    for k, v in pairs:
        expected[k] = expected[k] + v if k in expected else v
    assert list(ours.items()) == list(expected.items())
    assert [type(c) for c in ours.values()] == [type(c) for c in expected.values()]


def test_combine_rows_errors_are_python_s() -> None:
    with pytest.raises(ValueError, match="unpack"):
        _core.combine_rows([("a", 1, 2)], None, operator.add, {})
    with pytest.raises(TypeError, match="unhashable"):
        _core.combine_rows([([1], 1)], None, operator.add, {})
    with pytest.raises(TypeError, match="unsupported operand"):
        _core.combine_rows([("a", 1), ("a", "x")], None, operator.add, {})
    with pytest.raises(TypeError, match="unsupported operand"):  # None + 1
        _core.combine_rows([("a", None), ("a", 1)], None, operator.add, {})
    with pytest.raises(TypeError, match="unsupported operand"):  # 1 + None
        _core.combine_rows([("a", 1), ("a", None)], None, operator.add, {})

    def bad_merge(c: int, v: int) -> int:
        raise RuntimeError("from the user's function")

    with pytest.raises(RuntimeError, match="user's function"):
        _core.combine_rows([("a", 1), ("a", 2)], None, bad_merge, {})


def test_combine_map_side_calls_each_function_once_per_record() -> None:
    created: list[int] = []
    merged: list[int] = []

    def create(v: int) -> list[int]:
        created.append(v)
        return [v]

    def merge(c: list[int], v: int) -> list[int]:
        merged.append(v)
        c.append(v)
        return c

    data = [("a", 1), ("b", 2), ("a", 3), (7, 4), ("a", 5), (7, 6)]
    partitioner = HashPartitioner(3)
    buckets = tasks.combine_map_side(create, merge, partitioner, 0, data)
    assert sorted(created) == [1, 2, 4] and sorted(merged) == [3, 5, 6]
    for p, bucket in enumerate(buckets):
        assert all(partitioner(k) == p for k, _ in bucket)
    assert sorted((str(k), c) for b in buckets for k, c in b) == [
        ("7", [4, 6]), ("a", [1, 3, 5]), ("b", [2])]


def test_combine_map_side_custom_partitioner_is_called_once_per_key() -> None:
    calls: list[Any] = []

    def by_length(key: str) -> int:
        calls.append(key)
        return len(key)

    data = [("aa", 1), ("b", 1), ("aa", 1), ("ccc", 1), ("b", 1)]
    buckets = tasks.combine_map_side(None, operator.add, HashPartitioner(2, by_length), 0, data)
    assert sorted(calls) == ["aa", "b", "ccc"]
    assert buckets == [[("aa", 2)], [("b", 2), ("ccc", 1)]]


def test_combine_by_key_calls_user_functions_once_per_record(sc: Context) -> None:
    creates, merges, combines = sc.accumulator(0), sc.accumulator(0), sc.accumulator(0)

    def create(v: int) -> list[int]:
        creates.add(1)
        return [v]

    def merge(c: list[int], v: int) -> list[int]:
        merges.add(1)
        return [*c, v]

    def combine(a: list[int], b: list[int]) -> list[int]:
        combines.add(1)
        return a + b

    words = [f"w{i % 7}" for i in range(200)]
    pairs = sc.parallelize([(w, i) for i, w in enumerate(words)], 4)
    result = dict(pairs.combineByKey(create, merge, combine, 3).collect())
    assert {k: sorted(v) for k, v in result.items()} == {
        w: [i for i, x in enumerate(words) if x == w] for w in set(words)}
    # Per partition, one create per distinct key and one merge per other record.
    per_partition = [{w for w in words[i * 50:(i + 1) * 50]} for i in range(4)]
    assert creates.value == sum(map(len, per_partition))
    assert creates.value + merges.value == len(words)
    assert combines.value == creates.value - len(set(words))


def test_reduce_by_key_lambda_path_agrees_with_counter(sc: Context) -> None:
    lines = [f"a b w{i % 13} {'é' * (i % 3)} {i % 5}" for i in range(300)]
    counts = sc.parallelize(lines, 4).flatMap(lambda line: line.split()).map(
        lambda w: (w, 1)).reduceByKey(lambda a, b: a + b, 3)
    expected = Counter(w for line in lines for w in line.split())
    assert dict(counts.collect()) == dict(expected)
    for split, part in enumerate(counts.glom().collect()):
        assert all(portable_hash(k) % 3 == split for k, _ in part)


def test_rdd_row_steps_ship_by_name_not_by_value(sc) -> None:
    # A stage's closure is pickled once per stage, every batch of a stream: the row
    # functions of map/filter/... must pickle by name (no code object of a lambda).
    import cloudpickle

    from fastdstream.engine.backend import serde

    rdd = sc.parallelize([("a", 1), ("b", 2)], 2)
    derived = [rdd.map(str), rdd.filter(bool), rdd.mapPartitions(list), rdd.glom(),
               rdd.mapValues(str), rdd.flatMapValues(str), rdd.values()]
    by_value: list[str] = []
    original = cloudpickle.cloudpickle.Pickler._dynamic_function_reduce

    def record(pickler, func):  # type: ignore[no-untyped-def]
        by_value.append(func.__qualname__)
        return original(pickler, func)

    cloudpickle.cloudpickle.Pickler._dynamic_function_reduce = record
    try:
        for each in derived:
            serde.dumps_function(each._steps[-1])
    finally:
        cloudpickle.cloudpickle.Pickler._dynamic_function_reduce = original
    assert by_value == []
    assert derived[-1].collect() == [1, 2]
