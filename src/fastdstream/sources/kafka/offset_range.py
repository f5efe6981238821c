"""OffsetRange and TopicAndPartition: what a batch read from Kafka, exactly."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TopicAndPartition:
    """One partition of a Kafka topic (PySpark's ``TopicAndPartition``).

    Examples
    --------
    >>> TopicAndPartition("events", 0) == TopicAndPartition("events", 0)
    True
    """

    topic: str
    partition: int

    def __str__(self) -> str:
        return f"{self.topic}-{self.partition}"


@dataclass(frozen=True)
class OffsetRange:
    """Offsets ``[fromOffset, untilOffset)`` of one Kafka partition.

    Examples
    --------
    >>> r = OffsetRange("events", 0, 10, 25)
    >>> r.count(), str(r)
    (15, 'OffsetRange(topic: events, partition: 0, range: [10 -> 25])')
    """

    topic: str
    partition: int
    fromOffset: int
    untilOffset: int

    def __post_init__(self) -> None:
        if self.fromOffset < 0 or self.untilOffset < self.fromOffset:
            raise ValueError(
                f"invalid offset range for {self.topic}-{self.partition}: "
                f"[{self.fromOffset} -> {self.untilOffset})"
            )

    def count(self) -> int:
        """The number of offsets in the range: ``untilOffset - fromOffset``."""
        return self.untilOffset - self.fromOffset

    def topicAndPartition(self) -> TopicAndPartition:
        """The range's topic and partition, as a :class:`TopicAndPartition`."""
        return TopicAndPartition(self.topic, self.partition)

    def __str__(self) -> str:
        return (f"OffsetRange(topic: {self.topic}, partition: {self.partition}, "
                f"range: [{self.fromOffset} -> {self.untilOffset}])")
