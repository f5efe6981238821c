"""Conf: SparkConf's get/set API, booleans and durations."""

from __future__ import annotations

import pytest

from fastdstream import Conf, SparkConf
from fastdstream.conf import BLOCK_INTERVAL, MAX_LINE_BYTES, parse_duration_ms, parse_size_bytes


def test_set_get_chain():
    conf = Conf().setMaster("local[2]").setAppName("demo").set("spark.x", 1)
    assert conf.get("spark.master") == "local[2]"
    assert conf.get("spark.app.name") == "demo"
    assert conf.get("spark.x") == "1"  # values are stored as strings, as in SparkConf
    assert conf.get("missing") is None
    assert conf.get("missing", "d") == "d"
    assert conf.contains("spark.x")
    assert not conf.contains("missing")


PYSPARK_CONF_METHODS = ["contains", "get", "getAll", "set", "setAll", "setAppName",
                        "setExecutorEnv", "setIfMissing", "setMaster", "setSparkHome",
                        "toDebugString"]
"""PySpark's public SparkConf methods."""


@pytest.mark.parametrize("name", PYSPARK_CONF_METHODS)
def test_spark_conf_has_every_pyspark_method(name):
    assert callable(getattr(SparkConf(), name))


def test_spark_conf_takes_pysparks_constructor():
    for conf in (SparkConf(), SparkConf(False), SparkConf(loadDefaults=False)):
        assert isinstance(conf, Conf) and conf.getAll() == []
    chained = SparkConf().setMaster("local[2]").setAppName("app").set("spark.x", 1)
    assert isinstance(chained, SparkConf)
    assert chained.getAll() == [("spark.master", "local[2]"), ("spark.app.name", "app"),
                                ("spark.x", "1")]
    assert repr(chained).startswith("SparkConf(")


@pytest.mark.parametrize("handle", ["_jvm", "_jconf"])
def test_spark_conf_refuses_a_jvm_handle(handle):
    with pytest.raises(NotImplementedError, match="no JVM"):
        SparkConf(**{handle: object()})


def test_spark_home_and_executor_env():
    conf = SparkConf().setSparkHome("/opt/spark")
    conf.setExecutorEnv("VAR1", "value1")
    conf.setExecutorEnv(pairs=[("VAR3", "value3"), ("VAR4", 4)])
    assert conf.get("spark.home") == "/opt/spark"
    assert conf.get("spark.executorEnv.VAR1") == "value1"
    assert conf.get("spark.executorEnv.VAR4") == "4"
    with pytest.raises(RuntimeError, match="Either pass one key-value pair or a list"):
        conf.setExecutorEnv()
    with pytest.raises(RuntimeError, match="Either pass one key-value pair or a list"):
        conf.setExecutorEnv("A", "1", pairs=[("B", "2")])


def test_to_debug_string_is_sorted_and_redacts_secrets():
    conf = Conf({"spark.b": "2", "spark.a": "1", "kafka.sasl.password": "hunter2",
                 "spark.ssl.keyStore": "/k", "x.url": "user:Token@h"})
    assert conf.toDebugString().splitlines() == [
        "kafka.sasl.password=*********(redacted)",  # the key matches
        "spark.a=1",
        "spark.b=2",
        "spark.ssl.keyStore=/k",
        "x.url=*********(redacted)",  # the value matches
    ]
    conf.set("spark.redaction.regex", "keyStore")
    assert "spark.ssl.keyStore=*********(redacted)" in conf.toDebugString()
    assert "kafka.sasl.password=hunter2" in conf.toDebugString()
    assert Conf().toDebugString() == ""


def test_init_from_mapping_and_pairs():
    assert Conf({"a": 1, "b": True}).getAll() == [("a", "1"), ("b", "True")]
    assert Conf([("a", "x"), ("a", "y")]).get("a") == "y"
    assert Conf().getAll() == []


def test_set_if_missing_and_set_all():
    conf = Conf({"a": "1"})
    conf.setIfMissing("a", "2").setIfMissing("b", "3")
    assert conf.get("a") == "1"
    assert conf.get("b") == "3"
    conf.setAll([("a", 9), ("c", "z")])
    assert dict(conf.getAll()) == {"a": "9", "b": "3", "c": "z"}


def test_copies_are_independent():
    base = {"a": "1"}
    conf = Conf(base)
    conf.set("a", "2")
    assert base == {"a": "1"}


@pytest.mark.parametrize(("raw", "expected"), [
    ("true", True), ("TRUE", True), (" True ", True), ("1", True), ("yes", True),
    ("false", False), ("False", False), ("0", False), ("no", False),
])
def test_get_bool(raw, expected):
    assert Conf({"k": raw}).get_bool("k", not expected) is expected


def test_get_bool_default_and_bad_value():
    assert Conf().get_bool("k", True) is True
    assert Conf().get_bool("k", False) is False
    assert Conf().set("k", True).get_bool("k", False) is True
    with pytest.raises(ValueError, match=r"k='maybe'.*not a boolean"):
        Conf({"k": "maybe"}).get_bool("k", True)


@pytest.mark.parametrize(("raw", "ms"), [
    ("200ms", 200), ("2s", 2000), ("1.5s", 1500), (".5s", 500), ("3m", 180_000),
    ("5min", 300_000), ("100", 100), ("0", 0), ("  2S ", 2000), ("10MS", 10), ("0.25", 0),
])
def test_parse_duration(raw, ms):
    assert parse_duration_ms(raw) == ms


@pytest.mark.parametrize("raw", ["", "abc", "ms", "-1s", "2 s", "1.2.3s", "1e3", "s2", "2x",
                                 "2sec", "1..5s"])
def test_parse_duration_rejects_bad_values(raw):
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration_ms(raw, "spark.some.key")


def test_get_duration_ms():
    conf = Conf({BLOCK_INTERVAL: "50ms"})
    assert conf.get_duration_ms(BLOCK_INTERVAL, 200) == 50
    assert Conf().get_duration_ms(BLOCK_INTERVAL, 200) == 200
    with pytest.raises(ValueError) as info:
        Conf({BLOCK_INTERVAL: "soon"}).get_duration_ms(BLOCK_INTERVAL, 200)
    assert BLOCK_INTERVAL in str(info.value)
    assert "'soon'" in str(info.value)


def test_repr_shows_values():
    assert repr(Conf({"a": "1"})) == "Conf({'a': '1'})"


@pytest.mark.parametrize(("raw", "size"), [("64m", 64 << 20), ("512k", 512 << 10),
                                           ("1g", 1 << 30), ("100", 100), ("7b", 7),
                                           (" 2MB ", 2 << 20)])
def test_parse_size(raw, size):
    assert parse_size_bytes(raw) == size


@pytest.mark.parametrize("raw", ["", "m", "1.5m", "-1", "10 parsecs"])
def test_parse_size_rejects_bad_values(raw):
    with pytest.raises(ValueError, match=r"fastdstream\.text\.maxLineBytes=.* is not a size"):
        Conf({MAX_LINE_BYTES: raw}).get_size_bytes(MAX_LINE_BYTES, 1)
    assert Conf().get_size_bytes(MAX_LINE_BYTES, 1) == 1
