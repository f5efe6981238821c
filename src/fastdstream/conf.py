"""Configuration: the ``SparkConf`` analogue, plus the keys the engine reads."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


class Conf:
    """Key/value configuration, as :class:`pyspark.SparkConf`.

    Parameters
    ----------
    values : mapping, optional
        Initial settings.

    Examples
    --------
    >>> conf = Conf().setMaster("local[2]").setAppName("demo").set("spark.x", "1")
    >>> conf.get("spark.master"), conf.get("spark.x"), conf.get("missing", "d")
    ('local[2]', '1', 'd')
    """

    def __init__(self, values: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None):
        self._values: dict[str, str] = {}
        if values is not None:
            items = values.items() if isinstance(values, Mapping) else values
            for key, value in items:
                self.set(key, value)

    def set(self, key: str, value: Any) -> Conf:
        self._values[str(key)] = str(value)
        return self

    def setIfMissing(self, key: str, value: Any) -> Conf:
        if key not in self._values:
            self.set(key, value)
        return self

    def setMaster(self, value: str) -> Conf:
        return self.set("spark.master", value)

    def setAppName(self, value: str) -> Conf:
        return self.set("spark.app.name", value)

    def setAll(self, pairs: Iterable[tuple[str, Any]]) -> Conf:
        for key, value in pairs:
            self.set(key, value)
        return self

    def get(self, key: str, defaultValue: str | None = None) -> str | None:
        return self._values.get(key, defaultValue)

    def getAll(self) -> list[tuple[str, str]]:
        return list(self._values.items())

    def contains(self, key: str) -> bool:
        return key in self._values

    def get_bool(self, key: str, default: bool) -> bool:
        raw = self._values.get(key)
        if raw is None:
            return default
        lowered = raw.strip().lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        raise ValueError(f"configuration {key}={raw!r} is not a boolean")

    def get_duration_ms(self, key: str, default_ms: int) -> int:
        """Read a duration such as ``200ms``, ``2s`` or a bare number of milliseconds."""
        raw = self._values.get(key)
        if raw is None:
            return default_ms
        return parse_duration_ms(raw, key)

    def __repr__(self) -> str:
        return f"Conf({self._values!r})"


def parse_duration_ms(raw: str, key: str = "duration") -> int:
    text = raw.strip().lower()
    for suffix, factor in (("ms", 1), ("s", 1000), ("m", 60_000), ("min", 60_000)):
        if text.endswith(suffix) and text[: -len(suffix)].replace(".", "", 1).isdigit():
            return round(float(text[: -len(suffix)]) * factor)
    if text.replace(".", "", 1).isdigit():
        return round(float(text))
    raise ValueError(f"configuration {key}={raw!r} is not a duration (e.g. '200ms', '2s')")


# Keys read by the engine, with Spark's names where Spark has one.
BLOCK_INTERVAL = "spark.streaming.blockInterval"
CONCURRENT_JOBS = "spark.streaming.concurrentJobs"
CLOCK = "spark.streaming.clock"
SERIALIZE_CLOSURES = "fastdstream.task.serializeClosures"
DECODE_ERRORS = "fastdstream.text.decodeErrors"
RECEIVER_RESTART_DELAY = "fastdstream.receiver.restartDelay"
RECEIVER_WAL = "spark.streaming.receiver.writeAheadLog.enable"
MIN_REMEMBER_DURATION = "spark.streaming.minRememberDuration"
FILE_STREAM_MIN_REMEMBER_DURATION = "spark.streaming.fileStream.minRememberDuration"
CLEAN_CHECKPOINTS = "spark.cleaner.referenceTracking.cleanCheckpoints"
