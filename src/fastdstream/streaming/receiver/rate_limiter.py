"""RateLimiter: how many records per second a receiver may store (Spark's ``RateLimiter``).

Spark's receivers wait in Guava's ``RateLimiter.acquire`` before each record is
added to the block generator; this is the same smoothed token bucket, read off a
:class:`~fastdstream.clock.Clock` so that tests drive it with a manual clock. A
store of ``n`` records takes ``n`` permits and, as Guava does, pays for them
afterwards: it waits for the permits the stores before it took, so one large
store passes at once and the next one waits until the rate allows both.
Permits not used while idle are saved for up to one second's worth (Guava's
``SmoothBursty`` with ``maxBurstSeconds = 1``).
"""

from __future__ import annotations

import math
import threading

from fastdstream.clock import Clock

_MAX_BURST_SECONDS = 1.0


class RateLimiter:
    """A token bucket of ``rate`` records per second; ``rate=None`` does not limit.

    Parameters
    ----------
    clock : Clock
        The clock the limiter waits on (a manual one in tests).
    rate : float, optional
        Records per second; None (or ``inf``) lets every store pass at once.

    Examples
    --------
    >>> from fastdstream.clock import ManualClock
    >>> clock = ManualClock(0)
    >>> limiter = RateLimiter(clock, rate=100)
    >>> limiter.reserve(50)     # permits are paid afterwards: no wait for the first store
    0.0
    >>> limiter.reserve(10)     # the 50 taken last time need 500 ms at 100 per second
    500.0
    """

    def __init__(self, clock: Clock, rate: float | None = None):
        self._clock = clock
        self._lock = threading.Lock()
        self._rate: float | None = None
        self._stored = 0.0  # permits saved while idle
        self._next_free_ms = float(clock.get_time_ms())
        self.waits = 0  # how many stores had to wait (for tests and the log)
        self.set_rate(rate)

    @property
    def rate(self) -> float | None:
        """Records per second now, or None when unlimited."""
        with self._lock:
            return self._rate

    def set_rate(self, rate: float | None) -> None:
        """Change the rate; None or ``inf`` removes the limit."""
        if rate is not None and not rate > 0:
            raise ValueError(f"rate limit must be positive records per second, got {rate}")
        with self._lock:
            now = float(self._clock.get_time_ms())
            self._resync(now)
            old = self._rate
            self._rate = None if rate is None or math.isinf(rate) else float(rate)
            if self._rate is None:
                self._stored = 0.0
                self._next_free_ms = now
            elif old is None:
                # Guava: a limiter made or un-limited now starts with nothing saved.
                self._stored = 0.0
            else:
                # Saved permits keep their share of the (new) one-second burst.
                self._stored = self._stored * self._rate / old

    def _resync(self, now_ms: float) -> None:
        if self._rate is not None and now_ms > self._next_free_ms:
            fresh = (now_ms - self._next_free_ms) * self._rate / 1000.0
            self._stored = min(self._rate * _MAX_BURST_SECONDS, self._stored + fresh)
            self._next_free_ms = now_ms

    def reserve(self, permits: int) -> float:
        """Take ``permits``; return how many ms from now the caller must wait (Guava's
        ``reserve``: the wait pays for the permits taken before)."""
        with self._lock:
            now = float(self._clock.get_time_ms())
            if self._rate is None:
                return 0.0
            self._resync(now)
            wait_ms = max(0.0, self._next_free_ms - now)
            from_stored = min(float(permits), self._stored)
            self._stored -= from_stored
            self._next_free_ms += (permits - from_stored) * 1000.0 / self._rate
            return wait_ms

    def acquire(self, permits: int, interrupt: threading.Event) -> None:
        """Take ``permits``, waiting on the clock as long as the rate asks (or until
        ``interrupt`` is set: a receiver being stopped does not wait)."""
        if self._rate is None:  # unlimited (a racy read: a new rate applies next store)
            return
        wait_ms = self.reserve(permits)
        if wait_ms > 0 and not interrupt.is_set():
            with self._lock:
                self.waits += 1
            target = math.ceil(self._clock.get_time_ms() + wait_ms)
            self._clock.wait_till_time(target, interrupt)
