"""Kafka sources, one concept per module as in Spark's kafka-0-10 package."""

from fastdstream.sources.kafka.consumer_strategy import ConsumerStrategies, ConsumerStrategy
from fastdstream.sources.kafka.direct_stream import (
    DirectKafkaInputDStream,
    KafkaError,
    OffsetOutOfRangeError,
)
from fastdstream.sources.kafka.has_offset_ranges import install as _install_offset_ranges
from fastdstream.sources.kafka.kafka_rdd import (
    KafkaMessageAndMetadata,
    KafkaRDD,
    KafkaReadError,
    utf8_decoder,
)
from fastdstream.sources.kafka.kafka_utils import KafkaUtils
from fastdstream.sources.kafka.location_strategy import LocationStrategies
from fastdstream.sources.kafka.offset_range import OffsetRange, TopicAndPartition

_install_offset_ranges()

__all__ = [
    "ConsumerStrategies",
    "ConsumerStrategy",
    "DirectKafkaInputDStream",
    "KafkaError",
    "KafkaMessageAndMetadata",
    "KafkaRDD",
    "KafkaReadError",
    "KafkaUtils",
    "LocationStrategies",
    "OffsetOutOfRangeError",
    "OffsetRange",
    "TopicAndPartition",
    "utf8_decoder",
]
