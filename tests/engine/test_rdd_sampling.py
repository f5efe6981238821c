"""sample, randomSplit, takeSample, sampleByKey: deterministic per seed, the same on
Python rows and on Arrow partitions, with PySpark's validation."""

from __future__ import annotations

import pyarrow as pa
import pytest


@pytest.fixture(scope="module")
def sc(module_sc):
    return module_sc


def test_sample_is_deterministic_and_near_its_fraction(sc) -> None:
    rdd = sc.parallelize(range(2000), 4)
    first = rdd.sample(False, 0.25, 7).collect()
    assert first == rdd.sample(False, 0.25, 7).collect()
    assert 350 < len(first) < 650 and first == sorted(set(first))
    assert rdd.sample(False, 0.25, 8).collect() != first
    assert rdd.sample(False, 0.0, 1).count() == 0
    assert rdd.sample(False, 1.0, 1).count() == 2000
    repeated = rdd.sample(True, 2.0, 3).collect()
    assert 3500 < len(repeated) < 4500 and set(repeated) <= set(range(2000))


def test_rows_and_tables_give_the_same_sample(sc) -> None:
    values = list(range(300))
    rows = sc.parallelize(values, 3)
    table = sc.parallelize(pa.table({"v": values}), 3)
    for with_replacement, fraction in ((False, 0.3), (True, 1.5)):
        assert rows.sample(with_replacement, fraction, 11).collect() == \
            table.sample(with_replacement, fraction, 11).collect()
    assert isinstance(table.sample(False, 0.5, 1).toArrow(), pa.Table)  # still columnar


def test_sample_validates_the_fraction(sc) -> None:
    with pytest.raises(ValueError, match="Negative fraction"):
        sc.parallelize([1]).sample(False, -0.1)
    with pytest.raises(ValueError, match="at most 1"):
        sc.parallelize([1]).sample(False, 1.5)


def test_random_split_is_disjoint_and_complete(sc) -> None:
    for source in (list(range(500)), pa.table({"v": list(range(500))})):
        parts = sc.parallelize(source, 3).randomSplit([1.0, 2.0, 1.0], 17)
        collected = [p.collect() for p in parts]
        assert sorted(x for c in collected for x in c) == list(range(500))
        assert 60 < len(collected[0]) < 190 and 180 < len(collected[1]) < 320
    with pytest.raises(ValueError, match="nonnegative"):
        sc.parallelize([1]).randomSplit([1, -1])
    with pytest.raises(ValueError, match="positive"):
        sc.parallelize([1]).randomSplit([0, 0])


def test_take_sample(sc) -> None:
    rdd = sc.parallelize(range(10), 2)
    assert len(rdd.takeSample(True, 20, 1)) == 20
    without = rdd.takeSample(False, 5, 2)
    assert len(without) == 5 and len(set(without)) == 5
    assert sorted(rdd.takeSample(False, 15, 3)) == list(range(10))
    assert rdd.takeSample(False, 5, 2) == without  # the same seed, the same sample
    assert rdd.takeSample(False, 0) == [] and sc.parallelize([], 2).takeSample(True, 3) == []
    with pytest.raises(ValueError, match="negative"):
        rdd.takeSample(False, -1)


def test_sample_by_key(sc) -> None:
    pairs = sc.parallelize([(k, i) for k in "ab" for i in range(400)], 3)
    sample = pairs.sampleByKey(False, {"a": 0.1, "b": 0.6}, 5).collect()
    a = sum(1 for k, _ in sample if k == "a")
    b = sum(1 for k, _ in sample if k == "b")
    assert 15 < a < 70 and 190 < b < 290
    assert sample == pairs.sampleByKey(False, {"a": 0.1, "b": 0.6}, 5).collect()
    with pytest.raises(ValueError, match="Negative"):
        pairs.sampleByKey(False, {"a": -1.0})


def test_explain_says_how_sampling_runs(sc) -> None:
    rdd = sc.parallelize(pa.table({"v": [1, 2, 3]}), 2).sample(False, 0.5, 1)
    assert "sample columnar on tables: a NumPy draw per row, kept by an Arrow filter" in \
        rdd.explain()
    assert "sample rows: its input is Python rows" in sc.parallelize([1]).sample(
        False, 0.5).explain()
