"""Kafka kernel benchmarks against plain Python/numpy peers, on the same data in the same run.

Run: ``python -m pytest bench/test_bench_kafka_kernels.py --benchmark-only``. Timings are
reported, never asserted; each benchmark checks once that ours and the peer agree.

The messages are real ``confluent_kafka.Message`` objects (the client lets tests build
them), so every field read costs what it costs on consumed records.
``FASTDSTREAM_BENCH_ROWS`` shrinks the data as in ``bench/conftest.py``: a tenth of it
is the message count (default 1,000,000).
"""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pytest
from confluent_kafka import TIMESTAMP_CREATE_TIME, Message

from fastdstream.sources.kafka import kafka_kernels

NUM_PARTITIONS = 10_000
SEED = 20240229


def _num_messages() -> int:
    return max(1, int(os.environ.get("FASTDSTREAM_BENCH_ROWS", "10000000")) // 10)


@pytest.fixture(scope="module")
def messages() -> list[Message]:
    """Small records like a word-count topic: short keys (some null), 10-60 byte values."""
    n = _num_messages()
    rng = np.random.default_rng(SEED)
    lengths = rng.integers(10, 61, size=n).tolist()
    base = 1_700_000_000_000
    payload = b"the quick brown fox jumps over the lazy dog, again and again"
    return [
        Message(
            topic="events",
            partition=i % 8,
            offset=i // 8,
            key=None if i % 10 == 0 else b"user-%d" % (i % 1000),
            value=payload[: lengths[i]],
            timestamp=(TIMESTAMP_CREATE_TIME, base + i),
        )
        for i in range(n)
    ]


def _python_loop(msgs: list[Message]) -> pa.Table:
    """Peer: list comprehensions over the same accessors, then ``pa.table`` from lists."""
    for i, m in enumerate(msgs):
        if m.error() is not None:
            raise ValueError(f"message {i} is an error event: {m.error()}")
    timestamps = [m.timestamp() for m in msgs]
    return pa.table(
        {
            "key": pa.array([m.key() for m in msgs], pa.binary()),
            "value": pa.array([m.value() for m in msgs], pa.binary()),
            "topic": pa.array([m.topic() for m in msgs], pa.string()).dictionary_encode(),
            "partition": pa.array([m.partition() for m in msgs], pa.int32()),
            "offset": pa.array([m.offset() for m in msgs], pa.int64()),
            "timestamp": pa.array(
                [ts if kind else None for kind, ts in timestamps], pa.timestamp("ms")
            ),
        }
    )


def _assert_same_table(ours: pa.Table, peer: pa.Table) -> None:
    assert ours.column_names == peer.column_names
    for name in ours.column_names:
        assert ours.column(name).equals(peer.column(name)), name


@pytest.mark.benchmark(group="messages_to_arrow")
def test_messages_to_arrow_ours(benchmark, messages: list[Message]) -> None:
    table = benchmark(kafka_kernels.messages_to_arrow, messages)
    assert table.num_rows == len(messages)
    _assert_same_table(table, _python_loop(messages))


@pytest.mark.benchmark(group="messages_to_arrow")
def test_messages_to_arrow_python_loop(benchmark, messages: list[Message]) -> None:
    """Peer: ``[m.value() for m in msgs]`` etc. and ``pa.table`` from the lists."""
    table = benchmark(_python_loop, messages)
    _assert_same_table(kafka_kernels.messages_to_arrow(messages), table)


# -- plan_offset_ranges --------------------------------------------------------------------


@pytest.fixture(scope="module")
def offset_state() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """10k partitions: from offsets, latest offsets (a few truncated), per-partition caps."""
    rng = np.random.default_rng(SEED)
    frm = rng.integers(0, 10**12, size=NUM_PARTITIONS, dtype=np.int64)
    latest = frm + rng.integers(0, 100_000, size=NUM_PARTITIONS, dtype=np.int64)
    latest[::997] = frm[::997] - 1  # truncated topics: out of range
    caps = rng.integers(0, 50_000, size=NUM_PARTITIONS, dtype=np.int64)
    return frm, latest, caps


def _numpy_plan(
    frm: np.ndarray, latest: np.ndarray, caps: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Peer: the same plan as numpy expressions, with the same validation."""
    if (frm < 0).any() or (latest < 0).any() or (caps < 0).any():
        raise ValueError("negative offset or cap")
    out_of_range = frm > latest
    # latest - frm cannot overflow for in-range partitions; frm + cap can near int64 max.
    until = np.where(out_of_range, frm, frm + np.minimum(caps, latest - frm))
    return until, out_of_range


@pytest.mark.benchmark(group="plan_offset_ranges")
def test_plan_offset_ranges_ours(benchmark, offset_state) -> None:
    frm, latest, caps = offset_state
    until, oor = benchmark(kafka_kernels.plan_offset_ranges, frm, latest, caps)
    peer_until, peer_oor = _numpy_plan(frm, latest, caps)
    assert np.array_equal(until, peer_until) and np.array_equal(oor, peer_oor)
    assert oor.sum() == len(range(0, NUM_PARTITIONS, 997))


@pytest.mark.benchmark(group="plan_offset_ranges")
def test_plan_offset_ranges_numpy(benchmark, offset_state) -> None:
    """Peer: ``np.where(frm > latest, frm, frm + np.minimum(caps, latest - frm))``."""
    frm, latest, caps = offset_state
    until, oor = benchmark(_numpy_plan, frm, latest, caps)
    ours_until, ours_oor = kafka_kernels.plan_offset_ranges(frm, latest, caps)
    assert np.array_equal(until, ours_until) and np.array_equal(oor, ours_oor)


# -- a consume() chunk with and without the cyclic GC --------------------------------------

CHUNK = 20_000


@pytest.fixture(scope="module")
def live_heap() -> list[dict[str, int]]:
    """What a running job keeps alive (state, cached objects): the GC's older
    generations, which full collections walk."""
    return [{"k": i} for i in range(1_000_000)]


def _consume_and_convert(payloads: list[bytes]) -> pa.Table:
    # A consume() call allocates one tracked Message per record, then the read converts
    # them up to the range's end.
    msgs = [Message(topic="events", partition=0, offset=i, value=v,
                    timestamp=(TIMESTAMP_CREATE_TIME, i)) for i, v in enumerate(payloads)]
    table, _ = kafka_kernels.messages_until(msgs, len(msgs))
    return table


def _chunks(payloads: list[bytes], paused: bool) -> int:
    from fastdstream.sources.kafka.kafka_rdd import _gc_paused

    rows = 0
    for _ in range(10):
        if paused:
            with _gc_paused():
                rows += _consume_and_convert(payloads).num_rows
        else:
            rows += _consume_and_convert(payloads).num_rows
    return rows


@pytest.mark.benchmark(group="kafka-chunk-gc")
@pytest.mark.parametrize("paused", [True, False], ids=["gc-paused", "gc-enabled"])
def test_consume_chunks_gc(benchmark, live_heap, paused: bool) -> None:
    """Ten chunks of 20k records allocated and converted, with the GC paused around
    them (what a range read does) and, the peer, with the GC on."""
    payloads = [b"the quick brown fox jumps over the lazy dog %d" % i for i in range(CHUNK)]
    assert benchmark(_chunks, payloads, paused) == 10 * CHUNK
    assert live_heap
