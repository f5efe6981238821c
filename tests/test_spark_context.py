"""SparkContext: PySpark's constructor, its master resolution, and what it refuses."""

from __future__ import annotations

import importlib
import inspect
import sys
import textwrap
import uuid
import zipfile
from pathlib import Path

import pytest

import fastdstream
import fastdstream.streaming
from fastdstream import Context, SparkConf, SparkContext, StreamingContext

PYSPARK_PARAMETERS = ["master", "appName", "sparkHome", "pyFiles", "environment",
                      "batchSize", "serializer", "conf", "gateway", "jsc", "profiler_cls",
                      "udf_profiler_cls", "memory_profiler_cls"]
"""PySpark's SparkContext.__init__ parameters, in order (PySpark 3.5 / 4.x)."""


@pytest.fixture(autouse=True)
def _no_master_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MASTER", raising=False)


def test_the_constructor_takes_pysparks_parameters_in_order() -> None:
    assert list(inspect.signature(SparkContext).parameters) == PYSPARK_PARAMETERS
    assert fastdstream.SparkContext is SparkContext and issubclass(SparkContext, Context)


def test_positional_arguments_mean_what_they_mean_in_pyspark() -> None:
    with SparkContext("local[2]", "app", "/opt/spark") as sc:  # the third is sparkHome
        assert (sc.master, sc.appName, sc.sparkHome) == ("local[2]", "app", "/opt/spark")
        assert sc.getConf().get("spark.home") == "/opt/spark"
        assert sc.parallelize([1, 2, 3]).map(lambda x: x * 2).collect() == [2, 4, 6]
        assert repr(sc) == "<SparkContext master=local[2] appName=app>"


def test_master_and_app_name_come_from_the_conf_which_is_copied() -> None:
    conf = SparkConf().setMaster("local[2]").setAppName("from-conf").set("spark.x", "1")
    sc = SparkContext(conf=conf)
    try:
        conf.set("spark.x", "2").setMaster("local[1]")
        assert (sc.master, sc.appName) == ("local[2]", "from-conf")
        assert sc.getConf().get("spark.x") == "1"  # a later change to conf changes nothing
        assert sc.getConf() is not conf
    finally:
        sc.stop()
    with SparkContext("local[1]", conf=SparkConf().setMaster("local[2]")) as sc:
        assert sc.master == "local[1]"  # the argument wins over the conf
    with SparkContext(conf={"spark.master": "local[2]"}) as sc:
        assert sc.master == "local[2]"


def test_master_from_the_environment_then_local_star(monkeypatch: pytest.MonkeyPatch) -> None:
    with SparkContext(appName="a") as sc:
        assert sc.master == "local[*]" and sc.appName == "a"
    monkeypatch.setenv("SPARK_MASTER", "spark://elsewhere:7077")  # not read, as by PySpark
    with SparkContext() as sc:
        assert sc.master == "local[*]" and sc.appName == "fastdstream"
    monkeypatch.setenv("MASTER", "local[3]")  # what spark-submit reads for PySpark
    with SparkContext() as sc:
        assert sc.master == "local[3]" and sc.defaultParallelism == 3
    with SparkContext(conf=SparkConf().setMaster("local[2]")) as sc:
        assert sc.master == "local[2]"  # the conf wins over MASTER
    with SparkContext("local[1]") as sc:
        assert sc.master == "local[1]"


@pytest.mark.parametrize("kwargs", [{"gateway": object()}, {"jsc": object()}])
def test_a_jvm_handle_is_refused(kwargs) -> None:
    with pytest.raises(NotImplementedError, match="no JVM"):
        SparkContext("local[1]", **kwargs)
    assert Context._active is None or Context._active._stopped


def test_executor_environment_is_refused_saying_how_to_set_it() -> None:
    with pytest.raises(NotImplementedError, match=r"\(TZ\).*os\.environ"):
        SparkContext("local[1]", environment={"TZ": "UTC"})
    with pytest.raises(NotImplementedError, match=r"\(VAR\)"):
        SparkContext("local[1]", conf=SparkConf().setExecutorEnv("VAR", "1"))
    with SparkContext("local[1]", environment={}) as sc:  # nothing asked, nothing refused
        assert sc.parallelize([1]).count() == 1


def test_profiling_is_refused_and_profiler_classes_are_ignored() -> None:
    for key in ("spark.python.profile", "spark.python.profile.memory"):
        with pytest.raises(NotImplementedError, match="no Python worker profiler"):
            SparkContext("local[1]", conf=SparkConf().set(key, "true"))
    with SparkContext("local[1]", profiler_cls=object, udf_profiler_cls=object,
                      memory_profiler_cls=object) as sc:
        assert sc.parallelize([1, 2]).count() == 2


def test_batch_size_and_serializer_are_accepted_and_change_nothing() -> None:
    for batch_size in (0, 1, -1, 1024):
        with SparkContext("local[2]", batchSize=batch_size, serializer=object()) as sc:
            assert sorted(sc.parallelize(range(10), 3).map(lambda x: (x % 2, x))
                          .reduceByKey(lambda a, b: a + b).collect()) == [(0, 20), (1, 25)]


def _module(directory: Path, name: str, factor: int) -> Path:
    path = directory / f"{name}.py"
    path.write_text(textwrap.dedent(f"""
        def scale(x):
            return x * {factor}
    """))
    return path


def test_py_files_are_importable_by_tasks_on_every_back_end(master: str, tmp_path: Path) -> None:
    plain, zipped = f"h6_plain_{uuid.uuid4().hex}", f"h6_zipped_{uuid.uuid4().hex}"
    source = tmp_path / "src"
    source.mkdir()
    module_file = _module(source, plain, 10)
    archive = tmp_path / "deps.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(_module(source, zipped, 100), f"{zipped}.py")
    before = list(sys.path)
    sc = SparkContext(master, "pyfiles", pyFiles=[str(module_file), f"file://{archive}"])
    try:
        # Functions of these modules are pickled by reference: the executors import them.
        first = importlib.import_module(plain)
        second = importlib.import_module(zipped)
        rdd = sc.parallelize([1, 2, 3], 3)
        assert rdd.map(first.scale).collect() == [10, 20, 30]
        assert rdd.map(second.scale).collect() == [100, 200, 300]
    finally:
        sc.stop()
        sys.modules.pop(plain, None)
        sys.modules.pop(zipped, None)
    assert sys.path == before  # stop() takes back what the context added


def test_py_files_that_cannot_be_added_are_refused_and_leave_nothing(tmp_path: Path) -> None:
    before = list(sys.path)
    good = _module(tmp_path, f"h6_ok_{uuid.uuid4().hex}", 1)
    with pytest.raises(FileNotFoundError, match=r"missing\.py"):
        SparkContext("local[1]", pyFiles=[str(good), str(tmp_path / "missing.py")])
    with pytest.raises(NotImplementedError, match="is a URL"):
        SparkContext("local[1]", pyFiles=["hdfs://namenode/deps.zip"])
    assert sys.path == before


def test_get_or_create_and_streaming_work_on_a_spark_context() -> None:
    sc = SparkContext.getOrCreate(SparkConf().setMaster("local[2]").setAppName("g"))
    try:
        assert isinstance(sc, SparkContext) and SparkContext.getOrCreate() is sc
        ssc = StreamingContext(sc, 1)
        assert ssc.sparkContext is sc
    finally:
        sc.stop()


def test_context_keeps_its_own_signature() -> None:
    with Context("local[2]", "ctx", {"spark.x": "1"}) as sc:  # the third is conf
        assert (sc.master, sc.appName, sc.getConf().get("spark.x")) == ("local[2]", "ctx", "1")


def test_pyspark_streaming_names_are_exported() -> None:
    from fastdstream.streaming import DStream, StreamingContext, StreamingListener
    # PySpark's three, and mapWithState's State and StateSpec (Spark's Scala API).
    assert fastdstream.streaming.__all__ == ["DStream", "State", "StateSpec",
                                             "StreamingContext", "StreamingListener"]
    assert (DStream, StreamingContext, StreamingListener) == (
        fastdstream.DStream, fastdstream.StreamingContext, fastdstream.StreamingListener)
