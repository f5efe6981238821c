"""StatCounter: count, mean, variance, min and max of numbers, mergeable across partitions.

PySpark's ``pyspark.statcounter.StatCounter`` (a port of Spark's): Welford's
running mean and sum of squared deviations, and Chan's formula to merge two
counters, so each partition is summarised where it is and only the summaries
travel. A partition that is one numeric Arrow column is summarised by Arrow
(:meth:`StatCounter.of_column`) without a Python object per value.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["StatCounter"]


class StatCounter:
    """Running statistics of a set of numbers (PySpark's ``StatCounter``).

    Parameters
    ----------
    values : iterable of numbers, optional
        Merged in, one after another.

    Examples
    --------
    >>> s = StatCounter([1.0, 2.0, 3.0, 4.0])
    >>> s.count(), s.mean(), s.variance(), s.max()
    (4, 2.5, 1.25, 4.0)
    """

    def __init__(self, values: Iterable[Any] | None = None):
        self.n = 0  # running count of our values
        self.mu = 0.0  # running mean of our values
        self.m2 = 0.0  # running variance numerator (sum of (x - mean)^2)
        self.maxValue: Any = float("-inf")
        self.minValue: Any = float("inf")
        for v in values or ():
            self.merge(v)

    @classmethod
    def of_column(cls, column: pa.ChunkedArray) -> StatCounter:
        """The statistics of a numeric Arrow column without nulls, computed by Arrow."""
        counter = cls()
        n = len(column)
        if n == 0:
            return counter
        counter.n = n
        counter.mu = float(pc.mean(column).as_py())
        counter.m2 = float(pc.variance(column, ddof=0).as_py()) * n
        bounds = pc.min_max(column).as_py()
        counter.minValue, counter.maxValue = bounds["min"], bounds["max"]
        return counter

    def merge(self, value: Any) -> StatCounter:
        """Add a value into this StatCounter, updating the statistics; returns it."""
        delta = value - self.mu
        self.n += 1
        self.mu += delta / self.n
        self.m2 += delta * (value - self.mu)
        self.maxValue = max(self.maxValue, value)
        self.minValue = min(self.minValue, value)
        return self

    def mergeStats(self, other: StatCounter) -> StatCounter:
        """Merge another StatCounter into this one, adding up the statistics; returns it."""
        if not isinstance(other, StatCounter):
            raise TypeError(f"Can only merge StatCounter, not {type(other).__name__}")
        if other is self:  # merge a copy: the fields would be overwritten while read
            return self.mergeStats(other.copy())
        if self.n == 0:
            self.mu, self.m2, self.n = other.mu, other.m2, other.n
            self.maxValue, self.minValue = other.maxValue, other.minValue
        elif other.n != 0:
            delta = other.mu - self.mu
            if other.n * 10 < self.n:
                self.mu = self.mu + (delta * other.n) / (self.n + other.n)
            elif self.n * 10 < other.n:
                self.mu = other.mu - (delta * self.n) / (self.n + other.n)
            else:
                self.mu = (self.mu * self.n + other.mu * other.n) / (self.n + other.n)
            self.maxValue = max(self.maxValue, other.maxValue)
            self.minValue = min(self.minValue, other.minValue)
            self.m2 += other.m2 + (delta * delta * self.n * other.n) / (self.n + other.n)
            self.n += other.n
        return self

    def copy(self) -> StatCounter:
        """A deep copy of this StatCounter."""
        return copy.deepcopy(self)

    def count(self) -> int:
        """The number of values."""
        return self.n

    def mean(self) -> float:
        """The mean of the values (0.0 when there are none)."""
        return self.mu

    def sum(self) -> float:
        """The sum of the values, as count times mean."""
        return self.n * self.mu

    def min(self) -> Any:
        """The smallest value (``inf`` when there are none)."""
        return self.minValue

    def max(self) -> Any:
        """The largest value (``-inf`` when there are none)."""
        return self.maxValue

    def variance(self) -> float:
        """The population variance of the values (NaN when there are none)."""
        return float("nan") if self.n == 0 else self.m2 / self.n

    def sampleVariance(self) -> float:
        """The sample variance, dividing by N-1 instead of N (NaN for fewer than two)."""
        return float("nan") if self.n <= 1 else self.m2 / (self.n - 1)

    def stdev(self) -> float:
        """The population standard deviation of the values."""
        return math.sqrt(self.variance())

    def sampleStdev(self) -> float:
        """The sample standard deviation, dividing by N-1 instead of N."""
        return math.sqrt(self.sampleVariance())

    def asDict(self, sample: bool = False) -> dict[str, Any]:
        """The statistics as a dict; ``sample`` uses the sample standard deviation and
        variance.

        Examples
        --------
        >>> StatCounter([1.0, 3.0]).asDict()["mean"]
        2.0
        """
        return {
            "count": self.count(),
            "mean": self.mean(),
            "sum": self.sum(),
            "min": self.min(),
            "max": self.max(),
            "stdev": self.stdev() if not sample else self.sampleStdev(),
            "variance": self.variance() if not sample else self.sampleVariance(),
        }

    def __repr__(self) -> str:
        return (f"(count: {self.count()}, mean: {self.mean()}, stdev: {self.stdev()}, "
                f"max: {self.max()}, min: {self.min()})")
