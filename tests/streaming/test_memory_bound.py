"""The bound on the bytes a receiver holds unprocessed."""

from __future__ import annotations

import threading

import pyarrow as pa
import pytest

from fastdstream.streaming.receiver.memory_bound import (
    MemoryBound,
    default_max_buffered_bytes,
    estimate_bytes,
)
from fastdstream.testing import wait_until


def test_default_is_a_fraction_of_memory_at_most_one_gib() -> None:
    assert 0 < default_max_buffered_bytes() <= 1 << 30


def test_sizes_of_tables_lists_and_records() -> None:
    table = pa.table({"x": pa.array(range(100), pa.int64())})
    assert estimate_bytes(table) == 800
    assert estimate_bytes(table.to_batches()[0]) == 800
    small, large = estimate_bytes(["a"] * 10), estimate_bytes(["a" * 1000] * 10)
    assert 10 * 50 < small < large and large > 10_000
    assert estimate_bytes(("k", 1.5)) > estimate_bytes(1)


def test_stores_under_the_bound_do_not_wait() -> None:
    bound = MemoryBound(1000, "r")
    never = threading.Event()
    for _ in range(4):
        bound.acquire(250, never)
    assert bound.held == 1000 and bound.waits == 0


def test_a_store_over_the_bound_waits_until_blocks_are_released() -> None:
    bound = MemoryBound(1000, "r")
    never = threading.Event()
    bound.acquire(600, never)
    waiter = threading.Thread(target=bound.acquire, args=(600, never))
    waiter.start()
    wait_until(lambda: bound.waits == 1, what="the store to wait")
    bound.release(100)  # 500 + 600 is still over
    assert waiter.is_alive() and bound.held == 500
    bound.release(500)
    waiter.join(5)
    assert not waiter.is_alive() and bound.held == 600


def test_a_store_larger_than_the_bound_passes_once_nothing_is_held() -> None:
    bound = MemoryBound(100, "r")
    never = threading.Event()
    bound.acquire(5000, never)  # nothing held: it would never fit, so it passes
    waiter = threading.Thread(target=bound.acquire, args=(5000, never))
    waiter.start()
    wait_until(lambda: bound.waits == 1, what="the second store to wait")
    bound.release(5000)
    waiter.join(5)
    assert bound.held == 5000


def test_an_interrupt_lets_a_waiting_store_through() -> None:
    bound = MemoryBound(100, "r")
    interrupt = threading.Event()
    bound.acquire(100, interrupt)
    waiter = threading.Thread(target=bound.acquire, args=(1, interrupt))
    waiter.start()
    wait_until(lambda: bound.waits == 1, what="the store to wait")
    interrupt.set()
    bound.wake()
    waiter.join(5)
    assert not waiter.is_alive() and bound.held == 101


def test_the_bound_must_be_positive() -> None:
    with pytest.raises(ValueError, match="receiver 3: the memory bound must be positive"):
        MemoryBound(0, "receiver 3")
