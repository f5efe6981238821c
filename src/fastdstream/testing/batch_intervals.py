"""How a streaming job fares at a batch interval: the ``batch_interval_benchmark`` fixture's
measurement, usable without pytest too.

The same records arrive at the same rate whatever the interval, so a longer interval
means bigger batches: fewer per-batch costs per record, but a longer wait for each
record. Batches run on a manual clock, one after another as fast as they complete,
and each batch's latency is the wall time from its batch time to its completion. A
real-time run is then replayed on paper: batch ``i`` is due at ``i * interval`` and
starts when it is due or when the batch before it ends, whichever is later. The job
*kept up* when no batch had to wait a whole interval for the one before it (processing
time under the interval, give or take a slow batch that the next ones catch up on).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from fastdstream.streaming.dstream.dstream import DStream

Job = Callable[[DStream], "DStream | None"]
"""A user's job: takes the input stream, returns a stream to output (its records are
counted, which computes it) or None when it registered its outputs itself."""


@dataclass(frozen=True)
class IntervalResult:
    """What one run of a job at one batch interval measured.

    Attributes
    ----------
    interval : float
        The batch interval, seconds.
    batches : int
        Batches the input made at this interval.
    records : int
        Input records, all batches.
    records_per_second : float
        Input records over the time the batches took, one after another.
    p50_ms, p99_ms, max_ms : float
        Per-batch latency (batch time to completion), milliseconds.
    max_scheduling_delay_ms : float
        The longest a batch would have waited for the one before it, in a real-time run.
    kept_up : bool
        Whether that wait stayed under one interval.
    """

    interval: float
    batches: int
    records: int
    records_per_second: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    max_scheduling_delay_ms: float
    kept_up: bool

    def summary(self) -> str:
        """One line for a report.

        Returns
        -------
        str
        """
        return (f"{self.interval:g} s: {self.batches} batches, "
                f"{self.records_per_second:,.0f} records/s, p50 {self.p50_ms:.1f} ms, "
                f"p99 {self.p99_ms:.1f} ms, {'kept up' if self.kept_up else 'FELL BEHIND'}")


def split_batches(records: Sequence[Any] | pa.Table, rate: float, interval: float
                  ) -> list[Any]:
    """Cut ``records``, arriving at ``rate`` records per second, into batches of
    ``interval`` seconds.

    Parameters
    ----------
    records : sequence or pyarrow.Table
    rate : float
        Records per second.
    interval : float
        Seconds.

    Returns
    -------
    list
        Slices of ``records``, the last one possibly shorter.

    Examples
    --------
    >>> [len(b) for b in split_batches(list(range(10)), rate=20, interval=0.2)]
    [4, 4, 2]
    """
    if rate <= 0 or interval <= 0:
        raise ValueError(f"rate and interval must be positive, got {rate} and {interval}")
    size = max(1, round(rate * interval))
    return [records[i:i + size] for i in range(0, len(records), size)]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, nearest rank.

    Examples
    --------
    >>> percentile([4.0, 1.0, 3.0, 2.0], 50), percentile([4.0, 1.0, 3.0, 2.0], 99)
    (2.0, 4.0)
    """
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def replay(latencies: Sequence[float], interval: float) -> float:
    """The longest wait of a batch for the one before it, had batches come every
    ``interval`` seconds and taken ``latencies`` each (seconds)."""
    end = 0.0
    worst = 0.0
    for i, took in enumerate(latencies):
        due = i * interval
        start = max(due, end)
        worst = max(worst, start - due)
        end = start + took
    return worst


class IntervalRun:
    """One job over one input at one interval: set up, run every batch, stop.

    Parameters
    ----------
    job : callable
        See :data:`Job`.
    records : sequence or pyarrow.Table
        The fixed input.
    rate : float
        Records per second the input arrives at.
    interval : float
        The batch interval, seconds.
    master : str
    conf : dict, optional
    numSlices : int, optional
        Partitions per batch.
    """

    def __init__(self, job: Job, records: Sequence[Any] | pa.Table, rate: float,
                 interval: float, master: str = "local[2]",
                 conf: dict[str, str] | None = None, numSlices: int | None = None):
        from fastdstream.testing import ManualStreaming

        self.interval = interval
        self.records = len(records)
        self._streaming = ManualStreaming(interval, master, conf)
        try:
            batches = split_batches(records, rate, interval)
            stream = self._streaming.input(batches, numSlices)
            out = job(stream)
            if out is not None:
                out.foreachRDD(_count)
            self._streaming.start()
        except BaseException:
            self._streaming.stop()
            raise
        self.batches = len(batches)
        self.latencies: list[float] = []

    def run(self) -> None:
        """Run every batch, one after another, recording each one's latency."""
        for _ in range(self.batches):
            began = time.perf_counter()
            self._streaming.run_batches(1, timeout=max(60.0, 100 * self.interval))
            self.latencies.append(time.perf_counter() - began)

    def stop(self) -> None:
        """Stop the run's StreamingContext and Context."""
        self._streaming.stop()

    def result(self, latencies: Sequence[float] | None = None) -> IntervalResult:
        """The figures, from this run's latencies or those given (several runs')."""
        taken = list(self.latencies if latencies is None else latencies)
        if not taken:
            raise ValueError("no batch ran: call run() first")
        runs = len(taken) / self.batches
        wait = max(replay(taken[i:i + self.batches], self.interval)
                   for i in range(0, len(taken), self.batches))
        return IntervalResult(
            interval=self.interval, batches=self.batches, records=self.records,
            records_per_second=self.records * runs / sum(taken),
            p50_ms=percentile(taken, 50) * 1e3, p99_ms=percentile(taken, 99) * 1e3,
            max_ms=max(taken) * 1e3, max_scheduling_delay_ms=wait * 1e3,
            kept_up=wait < self.interval)


def _count(rdd: Any) -> None:
    rdd.count()
