"""The rest of PySpark's RDD methods: toLocalIterator, pipe, pickle files, the approximate
actions (exact here), names, storage levels, and what raises NotImplementedError."""

from __future__ import annotations

import os
import sys

import pytest

from fastdstream import StorageLevel


@pytest.fixture(scope="module")
def sc(module_sc):
    return module_sc


def test_to_local_iterator_runs_one_job_per_partition(sc) -> None:
    rdd = sc.parallelize(range(7), 3)
    iterator = rdd.toLocalIterator()
    assert next(iterator) == 0
    assert list(iterator) == list(range(1, 7))
    assert list(sc.emptyRDD().toLocalIterator()) == []


def test_pipe(sc) -> None:
    assert sc.parallelize(["1", "2", "", "3"]).pipe("cat").collect() == ["1", "2", "", "3"]
    script = "import sys; [print(int(l) * 2) for l in sys.stdin]"
    doubled = sc.parallelize([1, 2, 3], 2).pipe(f"{sys.executable} -c '{script}'")
    assert doubled.collect() == ["2", "4", "6"]
    failing = sc.parallelize([1]).pipe(f"{sys.executable} -c 'import sys; sys.exit(3)'",
                                       checkCode=True)
    with pytest.raises(Exception, match="exited with error code 3"):
        failing.collect()
    env = sc.parallelize(["x"], 1).pipe(
        f"{sys.executable} -c 'import os; print(os.environ.get(\"FOO\"))'", env={"FOO": "bar"})
    assert env.collect() == ["bar"]


def test_pickle_file_round_trip(sc, tmp_path) -> None:
    import pyarrow as pa

    path = str(tmp_path / "objects")
    sc.parallelize([1, 2, "spark", ("a", None)], 2).saveAsPickleFile(path)
    assert sc.pickleFile(path).collect() == [1, 2, "spark", ("a", None)]
    tables = str(tmp_path / "tables")
    sc.parallelize(pa.table({"v": [1, 2, 3]}), 2).saveAsPickleFile(tables)
    assert sc.pickleFile(tables).toArrow().column("v").to_pylist() == [1, 2, 3]
    with pytest.raises(FileExistsError):
        sc.parallelize([1]).saveAsPickleFile(path)


def test_approximate_actions_are_exact(sc) -> None:
    rdd = sc.parallelize(range(1000), 10)
    assert rdd.countApprox(1000, 1.0) == 1000
    total = rdd.sumApprox(1000)
    assert total == 499500.0 and total.low == total.high == 499500.0
    assert rdd.meanApprox(1000) == 499.5
    assert sc.parallelize([1, 1, 2, 3]).countApproxDistinct() == 3
    with pytest.raises(ValueError, match="relativeSD"):
        rdd.countApproxDistinct(0.00000001)


def test_names_ids_and_storage_levels(sc) -> None:
    rdd = sc.parallelize([1])
    assert rdd.name() is None and rdd.setName("numbers") is rdd and rdd.name() == "numbers"
    assert isinstance(rdd.id(), int) and rdd.id() != sc.parallelize([1]).id()
    assert not rdd.getStorageLevel().useMemory
    assert rdd.cache().getStorageLevel().useMemory
    assert rdd.persist(StorageLevel.MEMORY_AND_DISK).getStorageLevel().useDisk
    assert not rdd.is_checkpointed and rdd.getResourceProfile() is None
    rdd.unpersist()


def test_clean_shuffle_dependencies_recomputes_later(sc) -> None:
    counts = sc.parallelize([("a", 1), ("b", 1), ("a", 1)], 2).reduceByKey(lambda a, b: a + b)
    assert sorted(counts.collect()) == [("a", 2), ("b", 1)]
    counts.cleanShuffleDependencies()
    assert not any(b[0] == "shuffle" for _, b in sc._backend.block_ids())
    assert sorted(counts.collect()) == [("a", 2), ("b", 1)]


def test_map_partitions_with_split_is_deprecated(sc) -> None:
    with pytest.warns(FutureWarning):
        rdd = sc.parallelize([1, 2], 2).mapPartitionsWithSplit(lambda i, it: [i])
    assert rdd.collect() == [0, 1]


@pytest.mark.parametrize("name", ["saveAsSequenceFile", "saveAsHadoopFile",
                                  "saveAsNewAPIHadoopFile", "saveAsHadoopDataset",
                                  "saveAsNewAPIHadoopDataset", "barrier", "withResources",
                                  "toDF"])
def test_what_has_no_meaning_here_says_why(sc, name) -> None:
    with pytest.raises(NotImplementedError, match=f"RDD.{name} is not supported by "
                                                  "fastdstream: .{20,}"):
        getattr(sc.parallelize([1]), name)("x")


def test_save_as_text_file_refuses_hadoop_codecs(sc, tmp_path) -> None:
    with pytest.raises(NotImplementedError, match="codec"):
        sc.parallelize([1]).saveAsTextFile(str(tmp_path / "x"), "org.apache.GzipCodec")
    assert not os.path.exists(tmp_path / "x")
