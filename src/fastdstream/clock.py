"""Clocks and the recurring timer that drives batches and blocks.

Everything time-dependent in the engine reads a :class:`Clock`, so tests use a
:class:`ManualClock` and advance it explicitly instead of sleeping.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

log = logging.getLogger(__name__)


def to_datetime(time_ms: int) -> datetime:
    """A batch time as PySpark hands it to user functions (local time)."""
    return datetime.fromtimestamp(time_ms / 1000.0)


def batch_time_text(time_ms: int) -> str:
    """A batch time as logs and errors show it: local time, then the milliseconds.

    Examples
    --------
    >>> batch_time_text(0).endswith(" (0 ms)")
    True
    """
    return f"{to_datetime(time_ms)} ({time_ms} ms)"


def to_ms(t: datetime | int | float) -> int:
    """Milliseconds since the epoch of a datetime (or a number taken as milliseconds)."""
    if isinstance(t, datetime):
        return round(t.timestamp() * 1000)
    return int(t)


class Clock:
    def get_time_ms(self) -> int:
        raise NotImplementedError

    def wait_till_time(self, target_ms: int, stop: threading.Event) -> int:
        """Block until the clock reads ``target_ms`` (or ``stop`` is set); return the time."""
        raise NotImplementedError


class SystemClock(Clock):
    def get_time_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def wait_till_time(self, target_ms: int, stop: threading.Event) -> int:
        while True:
            now = time.time_ns() / 1_000_000
            remaining = target_ms - now
            if remaining <= 0 or stop.is_set():
                return int(now)
            stop.wait(remaining / 1000.0)


class ManualClock(Clock):
    """A clock that moves only when told to (``advance``/``set_time``).

    Examples
    --------
    >>> clock = ManualClock(1000)
    >>> clock.advance(500)
    >>> clock.get_time_ms()
    1500
    """

    def __init__(self, start_ms: int = 0):
        self._time = start_ms
        self._cond = threading.Condition()

    def get_time_ms(self) -> int:
        with self._cond:
            return self._time

    def set_time(self, time_ms: int) -> None:
        with self._cond:
            self._time = time_ms
            self._cond.notify_all()

    def advance(self, ms: int) -> None:
        with self._cond:
            self._time += ms
            self._cond.notify_all()

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def wait_till_time(self, target_ms: int, stop: threading.Event) -> int:
        with self._cond:
            while self._time < target_ms and not stop.is_set():
                # Bounded wait so a stop that does not notify still ends the wait.
                self._cond.wait(0.05)
            return self._time


def create_clock(name: str | None) -> Clock:
    if name is None or name.lower() in ("system", "systemclock"):
        return SystemClock()
    if name.lower() in ("manual", "manualclock"):
        return ManualClock()
    raise ValueError(f"spark.streaming.clock={name!r}: expected 'system' or 'manual'")


class RecurringTimer:
    """Calls ``callback(time_ms)`` at every multiple of ``period_ms`` on ``clock``."""

    def __init__(self, clock: Clock, period_ms: int, callback: Callable[[int], None], name: str):
        if period_ms <= 0:
            raise ValueError(f"{name}: period must be positive, got {period_ms} ms")
        self.clock = clock
        self.period_ms = period_ms
        self.callback = callback
        self.name = name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.next_time = -1
        self.prev_time = -1

    def get_start_time(self) -> int:
        """The next multiple of the period after now (Spark's ``getStartTime``)."""
        return (self.clock.get_time_ms() // self.period_ms + 1) * self.period_ms

    def start(self, start_ms: int | None = None) -> int:
        self.next_time = self.get_start_time() if start_ms is None else start_ms
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()
        return self.next_time

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.clock.wait_till_time(self.next_time, self._stop)
            if self._stop.is_set():
                break
            try:
                self.callback(self.next_time)
            except Exception:
                log.exception("%s: callback for time %s failed", self.name,
                              batch_time_text(self.next_time))
            self.prev_time = self.next_time
            self.next_time += self.period_ms

    def is_current_thread(self) -> bool:
        """Whether the caller runs on this timer's thread (in its callback)."""
        return self._thread is not None and self._thread is threading.current_thread()

    def stop(self) -> int:
        """Stop the timer; return the last time it fired (-1 if never)."""
        self._stop.set()
        if isinstance(self.clock, ManualClock):
            self.clock.wake()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        return self.prev_time
