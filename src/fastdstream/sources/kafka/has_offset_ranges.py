"""HasOffsetRanges: the Kafka offset ranges an RDD was computed from.

Spark offers ``offsetRanges()`` on the direct stream's own RDDs only; here any
RDD derived from them (by map, reduceByKey, union, ...) answers too, so a
pipeline can commit what it consumed after any transformation. The engine knows
nothing of Kafka: importing the Kafka sources adds the method to every RDD,
the way an accessor extends a class from outside.
"""

from __future__ import annotations

from fastdstream.engine.rdd import RDD
from fastdstream.sources.kafka.kafka_rdd import KafkaRDD
from fastdstream.sources.kafka.offset_range import OffsetRange


def offset_ranges(rdd: RDD) -> list[OffsetRange]:
    """The Kafka offset ranges ``rdd`` was computed from, in lineage order.

    Raises
    ------
    TypeError
        If no RDD in its lineage read from Kafka.
    """
    kafka = [node for node in rdd._lineage() if isinstance(node, KafkaRDD)]
    if not kafka:
        raise TypeError(f"{rdd!r} is not derived from a Kafka direct stream's RDD")
    return [r for node in kafka for r in node.offsetRanges()]


def install() -> None:
    """Give every RDD ``offsetRanges()`` (idempotent)."""
    if getattr(RDD, "offsetRanges", None) is not _offset_ranges_method:
        RDD.offsetRanges = _offset_ranges_method  # type: ignore[attr-defined]


def _offset_ranges_method(self: RDD) -> list[OffsetRange]:
    return offset_ranges(self)


_offset_ranges_method.__name__ = "offsetRanges"
_offset_ranges_method.__doc__ = offset_ranges.__doc__
