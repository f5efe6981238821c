"""stats/mean/variance/stdev and histogram, against Python's statistics and PySpark's
documented results, on Python rows and on numeric Arrow columns."""

from __future__ import annotations

import math
import statistics

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastdstream import StatCounter

PROPERTY = settings(max_examples=15, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def sc(module_sc):
    return module_sc


@PROPERTY
@given(values=st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=50),
       slices=st.integers(1, 4), columnar=st.booleans())
def test_stats_match_python(sc, values, slices, columnar) -> None:
    source = pa.table({"v": values}) if columnar else values
    stats = sc.parallelize(source, slices).stats()
    assert stats.count() == len(values)
    assert stats.mean() == pytest.approx(statistics.fmean(values), rel=1e-9, abs=1e-6)
    assert stats.variance() == pytest.approx(statistics.pvariance(values), rel=1e-6, abs=1e-3)
    assert (stats.min(), stats.max()) == (min(values), max(values))
    if len(values) > 1:
        assert stats.sampleVariance() == pytest.approx(statistics.variance(values),
                                                       rel=1e-6, abs=1e-3)


def test_pyspark_examples(sc) -> None:
    rdd = sc.parallelize([1, 2, 3])
    assert rdd.mean() == 2.0
    assert rdd.variance() == pytest.approx(0.6666666666666666)
    assert rdd.stdev() == pytest.approx(0.816496580927726)
    assert rdd.sampleVariance() == 1.0 and rdd.sampleStdev() == 1.0
    assert repr(rdd.stats()) == (
        "(count: 3, mean: 2.0, stdev: 0.816496580927726, max: 3, min: 1)")
    ints = sc.parallelize(pa.table({"v": [1, 2, 3]}), 2).stats()
    assert (ints.count(), ints.mean(), ints.max(), ints.min()) == (3, 2.0, 3, 1)
    assert rdd.stats().asDict()["sum"] == 6.0


def test_stats_of_empty_partitions_and_rdds(sc) -> None:
    stats = sc.parallelize([], 3).stats()
    assert stats.count() == 0 and math.isnan(stats.variance())
    with pytest.raises(ValueError):
        sc.emptyRDD().stats()


def test_stat_counter_merges_as_one_pass() -> None:
    a, b = StatCounter([1.0, 2.0]), StatCounter([3.0, 4.0, 10.0])
    merged = a.copy().mergeStats(b)
    whole = StatCounter([1.0, 2.0, 3.0, 4.0, 10.0])
    assert merged.count() == whole.count() and merged.mean() == pytest.approx(whole.mean())
    assert merged.variance() == pytest.approx(whole.variance())
    assert a.mergeStats(a).count() == 4
    with pytest.raises(TypeError):
        a.mergeStats([1])  # type: ignore[arg-type]


def test_histogram_as_pyspark(sc) -> None:
    rdd = sc.parallelize(range(51))
    assert rdd.histogram(2) == ([0, 25, 50], [25, 26])
    assert rdd.histogram([0, 5, 25, 50]) == ([0, 5, 25, 50], [5, 20, 26])
    assert rdd.histogram([0, 15, 30, 45, 60]) == ([0, 15, 30, 45, 60], [15, 15, 15, 6])
    assert sc.parallelize(["ab", "ac", "b", "bd", "ef"]).histogram(("a", "b", "c")) == (
        ("a", "b", "c"), [2, 2])
    floats = sc.parallelize([1.0, 2.0, float("nan"), None, 3.5], 2)
    bounds, counts = floats.histogram(2)
    assert bounds == [1.0, 2.25, 3.5] and counts == [2, 1]
    assert sc.parallelize([7, 7, 7]).histogram(3) == ([7, 7], [3])
    with pytest.raises(ValueError, match="empty RDD"):
        sc.parallelize([], 2).histogram(2)
    with pytest.raises(ValueError, match="sorted"):
        rdd.histogram([5, 1])
    with pytest.raises(ValueError, match="more than one"):
        rdd.histogram([1])
    with pytest.raises(TypeError):
        rdd.histogram("x")  # type: ignore[arg-type]


@PROPERTY
@given(values=st.lists(st.integers(-100, 100), min_size=1, max_size=40),
       buckets=st.integers(1, 6))
def test_histogram_counts_everything_once(sc, values, buckets) -> None:
    bounds, counts = sc.parallelize(values, 2).histogram(buckets)
    assert sum(counts) == len(values)
    assert bounds[0] == min(values) and bounds[-1] == max(values)
