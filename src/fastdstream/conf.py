"""Configuration: the ``SparkConf`` analogue, plus the keys the engine reads."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

EXECUTOR_ENV_PREFIX = "spark.executorEnv."
REDACTION_REGEX = "spark.redaction.regex"
DEFAULT_REDACTION_REGEX = r"(?i)secret|password|token|access[.]?key"
REDACTED = "*********(redacted)"

SUBMIT_CONF_ENV = "FASTDSTREAM_SUBMIT_CONF"
"""The environment variable ``fastdstream submit`` passes ``--master``/``--conf`` in
(a JSON object of strings), as spark-submit passes them to PySpark as JVM system
properties: :class:`SparkConf` loads them, and code that sets a key itself wins."""


def submitted_settings() -> dict[str, str]:
    """The settings ``fastdstream submit`` gave this program (empty when run directly).

    Returns
    -------
    dict of str to str

    Raises
    ------
    ValueError
        If the environment variable holds something other than a JSON object.
    """
    raw = os.environ.get(SUBMIT_CONF_ENV)
    if not raw:
        return {}
    try:
        values = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{SUBMIT_CONF_ENV} is not JSON: {exc}") from None
    if not isinstance(values, dict):
        raise ValueError(f"{SUBMIT_CONF_ENV} must be a JSON object, got {raw[:80]!r}")
    return {str(k): str(v) for k, v in values.items()}


class Conf:
    """Key/value configuration, as :class:`pyspark.SparkConf`; values are kept as text.

    Parameters
    ----------
    values : mapping or iterable of pairs, optional
        Initial settings.

    Examples
    --------
    >>> conf = Conf().setMaster("local[2]").setAppName("demo").set("spark.x", "1")
    >>> conf.get("spark.master"), conf.get("spark.x"), conf.get("missing", "d")
    ('local[2]', '1', 'd')
    """

    # Whether a Context made with this conf adds what ``fastdstream submit`` set, under
    # the keys the conf leaves unset (SparkConf(loadDefaults=False) opts out).
    _load_defaults = True

    def __init__(self, values: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None):
        self._values: dict[str, str] = {}
        if values is not None:
            items = values.items() if isinstance(values, Mapping) else values
            for key, value in items:
                self.set(key, value)

    def set(self, key: str, value: Any) -> Conf:
        """Set a configuration property.

        Parameters
        ----------
        key : str
        value : object
            Stored as ``str(value)``, as SparkConf stores it.

        Returns
        -------
        Conf
            This conf, for chaining.
        """
        self._values[str(key)] = str(value)
        return self

    def setIfMissing(self, key: str, value: Any) -> Conf:
        """Set a configuration property if it is not set yet.

        Parameters
        ----------
        key : str
        value : object

        Returns
        -------
        Conf
            This conf, for chaining.
        """
        if key not in self._values:
            self.set(key, value)
        return self

    def setMaster(self, value: str) -> Conf:
        """Set the master: ``local``, ``local[N]``, ``local[*]`` or ``local-cluster[N,C,M]``.

        Parameters
        ----------
        value : str

        Returns
        -------
        Conf
            This conf, for chaining.
        """
        return self.set("spark.master", value)

    def setAppName(self, value: str) -> Conf:
        """Set the application name.

        Parameters
        ----------
        value : str

        Returns
        -------
        Conf
            This conf, for chaining.
        """
        return self.set("spark.app.name", value)

    def setSparkHome(self, value: str) -> Conf:
        """Set ``spark.home``, where Spark is installed on the workers (not used here).

        Parameters
        ----------
        value : str

        Returns
        -------
        Conf
            This conf, for chaining.
        """
        return self.set("spark.home", value)

    def setExecutorEnv(self, key: str | None = None, value: str | None = None,
                       pairs: Iterable[tuple[str, Any]] | None = None) -> Conf:
        """Set environment variables for the executors (``spark.executorEnv.<name>``).

        A :class:`~fastdstream.SparkContext` refuses a conf with these: its executors
        are threads of the driver or processes started with the driver's environment.

        Parameters
        ----------
        key, value : str, optional
            One variable.
        pairs : iterable of (str, object), optional
            Several variables; give either ``key`` or ``pairs``.

        Returns
        -------
        Conf
            This conf, for chaining.

        Raises
        ------
        RuntimeError
            If both or neither of ``key`` and ``pairs`` are given, as SparkConf.

        Examples
        --------
        >>> Conf().setExecutorEnv("TZ", "UTC").get("spark.executorEnv.TZ")
        'UTC'
        """
        if (key is None) == (pairs is None):
            raise RuntimeError("Either pass one key-value pair or a list of pairs")
        for name, setting in [(key, value)] if key is not None else list(pairs or ()):
            self.set(EXECUTOR_ENV_PREFIX + name, setting)
        return self

    def setAll(self, pairs: Iterable[tuple[str, Any]]) -> Conf:
        """Set several configuration properties.

        Parameters
        ----------
        pairs : iterable of (str, object)

        Returns
        -------
        Conf
            This conf, for chaining.
        """
        for key, value in pairs:
            self.set(key, value)
        return self

    def get(self, key: str, defaultValue: str | None = None) -> str | None:
        """The value of a configuration property.

        Parameters
        ----------
        key : str
        defaultValue : str, optional
            What to return if ``key`` is not set.

        Returns
        -------
        str or None
        """
        return self._values.get(key, defaultValue)

    def getAll(self) -> list[tuple[str, str]]:
        """All configuration properties.

        Returns
        -------
        list of (str, str)
            In the order they were first set.
        """
        return list(self._values.items())

    def contains(self, key: str) -> bool:
        """Whether a configuration property is set.

        Parameters
        ----------
        key : str

        Returns
        -------
        bool
        """
        return key in self._values

    def toDebugString(self) -> str:
        """The properties as ``key=value`` lines, sorted, secrets redacted (as Spark's).

        A value is redacted when its key or the value matches ``spark.redaction.regex``
        (Spark's default: ``(?i)secret|password|token|access[.]?key``).

        Returns
        -------
        str

        Examples
        --------
        >>> print(Conf({"spark.b": 1, "spark.a": 2, "sasl.password": "x"}).toDebugString())
        sasl.password=*********(redacted)
        spark.a=2
        spark.b=1
        """
        pattern = re.compile(self._values.get(REDACTION_REGEX, DEFAULT_REDACTION_REGEX))
        return "\n".join(
            f"{key}={REDACTED if pattern.search(key) or pattern.search(value) else value}"
            for key, value in sorted(self._values.items())
        )

    def get_bool(self, key: str, default: bool) -> bool:
        """Read a boolean (``true``/``false``, ``1``/``0``, ``yes``/``no``).

        Parameters
        ----------
        key : str
        default : bool
            What to return if ``key`` is not set.

        Returns
        -------
        bool

        Raises
        ------
        ValueError
            If the value is not one of those.
        """
        raw = self._values.get(key)
        if raw is None:
            return default
        lowered = raw.strip().lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        raise ValueError(f"configuration {key}={raw!r} is not a boolean")

    def get_size_bytes(self, key: str, default: int) -> int:
        """Read a size such as ``64m``, ``512k``, ``1g`` or a bare number of bytes.

        Parameters
        ----------
        key : str
        default : int
            What to return if ``key`` is not set.

        Returns
        -------
        int

        Raises
        ------
        ValueError
            If the value is not a size.
        """
        raw = self._values.get(key)
        return default if raw is None else parse_size_bytes(raw, key)

    def get_duration_ms(self, key: str, default_ms: int) -> int:
        """Read a duration such as ``200ms``, ``2s`` or a bare number of milliseconds.

        Parameters
        ----------
        key : str
        default_ms : int
            What to return if ``key`` is not set.

        Returns
        -------
        int
            Milliseconds.
        """
        raw = self._values.get(key)
        if raw is None:
            return default_ms
        return parse_duration_ms(raw, key)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._values!r})"


class SparkConf(Conf):
    """PySpark's ``SparkConf``, constructor included: a :class:`Conf`.

    Parameters
    ----------
    loadDefaults : bool, default True
        Load the settings ``fastdstream submit`` gave the program (``--master``,
        ``--name``, ``--conf``), as PySpark loads the ``spark.*`` Java system
        properties spark-submit set. What the program sets afterwards wins.
    _jvm, _jconf : None
        PySpark's internal handles on the JVM. There is no JVM here: giving one raises
        NotImplementedError.

    Examples
    --------
    >>> conf = SparkConf(loadDefaults=False).setSparkHome("/path")
    >>> conf = conf.setExecutorEnv(pairs=[("VAR3", "value3"), ("VAR4", "value4")])
    >>> print(conf.toDebugString())
    spark.executorEnv.VAR3=value3
    spark.executorEnv.VAR4=value4
    spark.home=/path
    """

    def __init__(self, loadDefaults: bool = True, _jvm: Any = None, _jconf: Any = None):
        if _jvm is not None or _jconf is not None:
            raise NotImplementedError(
                "SparkConf(_jvm=..., _jconf=...) wraps a JVM SparkConf; fastdstream runs no "
                "JVM. Create SparkConf() and set its properties instead."
            )
        super().__init__()
        self._load_defaults = loadDefaults
        if loadDefaults:
            self.setAll(submitted_settings().items())


def parse_duration_ms(raw: str, key: str = "duration") -> int:
    text = raw.strip().lower()
    for suffix, factor in (("ms", 1), ("s", 1000), ("m", 60_000), ("min", 60_000)):
        if text.endswith(suffix) and text[: -len(suffix)].replace(".", "", 1).isdigit():
            return round(float(text[: -len(suffix)]) * factor)
    if text.replace(".", "", 1).isdigit():
        return round(float(text))
    raise ValueError(f"configuration {key}={raw!r} is not a duration (e.g. '200ms', '2s')")


_SIZE_FACTORS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "m": 1 << 20, "mb": 1 << 20,
                 "g": 1 << 30, "gb": 1 << 30, "t": 1 << 40, "tb": 1 << 40}


def parse_size_bytes(raw: str, key: str = "size") -> int:
    """Spark's byte strings: a whole number with an optional binary unit (``64m``)."""
    text = raw.strip().lower()
    digits = len(text) - len(text.lstrip("0123456789"))
    number, unit = text[:digits], text[digits:].strip()
    if not number or unit not in _SIZE_FACTORS:
        raise ValueError(f"configuration {key}={raw!r} is not a size (e.g. '64m', '512k')")
    return int(number) * _SIZE_FACTORS[unit]


# Keys read by the engine, with Spark's names where Spark has one.
BLOCK_INTERVAL = "spark.streaming.blockInterval"
CONCURRENT_JOBS = "spark.streaming.concurrentJobs"
CLOCK = "spark.streaming.clock"
SERIALIZE_CLOSURES = "fastdstream.task.serializeClosures"
DECODE_ERRORS = "fastdstream.text.decodeErrors"
# Longest line a text source accepts; a longer one is an error naming source and offset.
MAX_LINE_BYTES = "fastdstream.text.maxLineBytes"
RECEIVER_RESTART_DELAY = "fastdstream.receiver.restartDelay"
RECEIVER_WAL = "spark.streaming.receiver.writeAheadLog.enable"
# Where receivers run: "auto" (on executors where the back end runs long tasks in
# processes of their own, unless the clock is manual), "true" or "false" (the driver).
RECEIVER_ON_EXECUTORS = "fastdstream.receiver.onExecutors"
# Records per second each receiver may store at most (also bounds backpressure's rate).
RECEIVER_MAX_RATE = "spark.streaming.receiver.maxRate"
# Bytes a receiver may hold that no batch has finished with (buffer, blocks waiting for
# or read by a running batch); at the bound store() waits. Default min(1 GiB, RAM / 8).
RECEIVER_MAX_BUFFERED_BYTES = "fastdstream.receiver.maxBufferedBytes"
STOP_GRACEFULLY_ON_SHUTDOWN = "spark.streaming.stopGracefullyOnShutdown"
# Whether a starting StreamingContext puts the objects there are then (modules, the
# graph) out of the cyclic GC's walks (gc.freeze) until it stops. Each full collection
# otherwise walks them all: 10-20 ms with pyarrow and the Kafka client loaded, a pause
# that at 10 ms batches delays two batches (issue 8, the latency p99).
GC_FREEZE = "fastdstream.streaming.gcFreeze"
MIN_REMEMBER_DURATION = "spark.streaming.minRememberDuration"
FILE_STREAM_MIN_REMEMBER_DURATION = "spark.streaming.fileStream.minRememberDuration"
# A file modified less than this long before the batch time waits for a later batch
# (files written in place rather than moved in); 0 is off.
FILE_STREAM_MIN_FILE_AGE = "fastdstream.fileStream.minFileAge"
CLEAN_CHECKPOINTS = "spark.cleaner.referenceTracking.cleanCheckpoints"
# The most bytes (records as Arrow columns) one batch of a direct Kafka stream reads; a
# backlog is read over several batches within it. 0 is no budget.
MAX_BYTES_PER_BATCH = "fastdstream.kafka.maxBytesPerBatch"
DEFAULT_MAX_BYTES_PER_BATCH = 64 * 1024 * 1024
