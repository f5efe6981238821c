"""The receivers' rate limiter (Spark's RateLimiter: Guava's smoothed token bucket) on a
manual clock."""

from __future__ import annotations

import threading

import pytest

from fastdstream.clock import ManualClock
from fastdstream.streaming.receiver.rate_limiter import RateLimiter
from fastdstream.testing import wait_until


def test_unlimited_never_waits() -> None:
    limiter = RateLimiter(ManualClock(0))
    assert limiter.rate is None
    assert [limiter.reserve(10**9) for _ in range(3)] == [0.0, 0.0, 0.0]


def test_each_store_pays_for_the_one_before() -> None:
    clock = ManualClock(0)
    limiter = RateLimiter(clock, rate=100)
    assert limiter.reserve(50) == 0.0  # 50 records at 100/s: free again at 500 ms
    assert limiter.reserve(10) == 500.0  # waits for those, then owes 100 ms more
    clock.advance(600)
    assert limiter.reserve(10) == 0.0
    assert limiter.reserve(1) == 100.0


def test_idle_time_saves_at_most_one_second_of_permits() -> None:
    clock = ManualClock(0)
    limiter = RateLimiter(clock, rate=100)
    clock.advance(10_000)  # idle for 10 s: only 1 s worth (100 permits) is kept
    assert limiter.reserve(100) == 0.0  # from the saved permits
    assert limiter.reserve(100) == 0.0  # owed, paid by the next store
    assert limiter.reserve(1) == 1000.0


def test_a_new_rate_applies_to_later_permits() -> None:
    clock = ManualClock(0)
    limiter = RateLimiter(clock, rate=100)
    limiter.reserve(100)  # owes 1 s at 100/s
    limiter.set_rate(1000)
    assert limiter.reserve(100) == 1000.0  # the debt stands; these 100 take 100 ms
    assert limiter.reserve(1) == 1100.0
    limiter.set_rate(None)
    assert limiter.reserve(10**6) == 0.0 and limiter.rate is None


@pytest.mark.parametrize("rate", [0, -5, float("nan")])
def test_a_rate_must_be_positive(rate: float) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        RateLimiter(ManualClock(0), rate)


def test_acquire_waits_on_the_clock_until_the_rate_allows() -> None:
    clock = ManualClock(0)
    limiter = RateLimiter(clock, rate=10)
    never = threading.Event()
    limiter.acquire(10, never)  # pays later: passes at once
    done = threading.Event()
    waiter = threading.Thread(target=lambda: (limiter.acquire(1, never), done.set()))
    waiter.start()
    wait_until(lambda: limiter.waits == 1, what="the second store to wait")
    assert not done.is_set()
    clock.advance(999)
    assert not done.wait(0.1)  # 10 records at 10/s: not before 1000 ms
    clock.advance(1)
    waiter.join(5)
    assert done.is_set()


def test_an_interrupt_ends_the_wait() -> None:
    limiter = RateLimiter(ManualClock(0), rate=1)
    interrupt = threading.Event()
    limiter.acquire(1000, interrupt)
    waiter = threading.Thread(target=limiter.acquire, args=(1, interrupt))
    waiter.start()
    wait_until(lambda: limiter.waits == 1, what="the store to wait")
    interrupt.set()
    waiter.join(5)
    assert not waiter.is_alive()
