"""Consumer strategies: which partitions a direct stream reads (kafka-0-10's names).

``Subscribe`` takes topics and follows their partitions as they grow;
``SubscribePattern`` takes every topic whose name matches a regular expression;
``Assign`` takes a fixed list of partitions. Each may carry starting offsets.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastdstream.sources.kafka.offset_range import TopicAndPartition


def _as_offsets(offsets: Mapping[Any, int] | None) -> dict[TopicAndPartition, int]:
    result: dict[TopicAndPartition, int] = {}
    for tp, offset in (offsets or {}).items():
        key = tp if isinstance(tp, TopicAndPartition) else TopicAndPartition(*tp)
        result[key] = int(offset)
    return result


@dataclass
class ConsumerStrategy:
    offsets: dict[TopicAndPartition, int] = field(default_factory=dict)

    def partitions(self, metadata_topics: Mapping[str, Iterable[int]]) -> list[TopicAndPartition]:
        """The partitions to read, given the cluster's topics and their partition ids."""
        raise NotImplementedError

    def topics_to_describe(self) -> list[str] | None:
        """Topics whose metadata is needed (None: all topics)."""
        raise NotImplementedError

    def missing(self, metadata_topics: Mapping[str, Iterable[int]]) -> list[str]:
        """What the strategy names that the cluster does not have, for people to read
        (``topic 'x'``); empty when everything it reads exists."""
        named = self.topics_to_describe() or []
        return [f"topic {t!r}" for t in named if t not in metadata_topics]


@dataclass
class Subscribe(ConsumerStrategy):
    topics: list[str] = field(default_factory=list)

    def partitions(self, metadata_topics: Mapping[str, Iterable[int]]) -> list[TopicAndPartition]:
        return sorted(
            (TopicAndPartition(t, p) for t in self.topics for p in metadata_topics.get(t, ())),
            key=lambda tp: (tp.topic, tp.partition),
        )

    def topics_to_describe(self) -> list[str] | None:
        return list(self.topics)


@dataclass
class SubscribePattern(ConsumerStrategy):
    pattern: str = ""

    def partitions(self, metadata_topics: Mapping[str, Iterable[int]]) -> list[TopicAndPartition]:
        regex = re.compile(self.pattern)
        return sorted(
            (TopicAndPartition(t, p) for t, ps in metadata_topics.items()
             if regex.fullmatch(t) and not t.startswith("__") for p in ps),
            key=lambda tp: (tp.topic, tp.partition),
        )

    def topics_to_describe(self) -> list[str] | None:
        return None

    def missing(self, metadata_topics: Mapping[str, Iterable[int]]) -> list[str]:
        if self.partitions(metadata_topics):
            return []
        return [f"any topic matching {self.pattern!r}"]


@dataclass
class Assign(ConsumerStrategy):
    assigned: list[TopicAndPartition] = field(default_factory=list)

    def partitions(self, metadata_topics: Mapping[str, Iterable[int]]) -> list[TopicAndPartition]:
        return list(self.assigned)

    def topics_to_describe(self) -> list[str] | None:
        return sorted({tp.topic for tp in self.assigned})


class ConsumerStrategies:
    """Factories with Spark's names (``ConsumerStrategies.Subscribe(...)``)."""

    @staticmethod
    def Subscribe(topics: Iterable[str],
                  offsets: Mapping[Any, int] | None = None) -> ConsumerStrategy:
        return Subscribe(offsets=_as_offsets(offsets), topics=list(topics))

    @staticmethod
    def SubscribePattern(pattern: str,
                         offsets: Mapping[Any, int] | None = None) -> ConsumerStrategy:
        re.compile(pattern)  # a bad pattern fails here, not at the first batch
        return SubscribePattern(offsets=_as_offsets(offsets), pattern=pattern)

    @staticmethod
    def Assign(partitions: Iterable[Any],
               offsets: Mapping[Any, int] | None = None) -> ConsumerStrategy:
        assigned = [tp if isinstance(tp, TopicAndPartition) else TopicAndPartition(*tp)
                    for tp in partitions]
        return Assign(offsets=_as_offsets(offsets), assigned=assigned)
