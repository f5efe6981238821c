"""Kafka streams: ``from fastdstream.kafka import KafkaUtils, OffsetRange, ...``.

The names of PySpark 2.x's ``pyspark.streaming.kafka``, plus kafka-0-10's
consumer and location strategies; the code lives in ``fastdstream.sources.kafka``.
"""

from fastdstream.sources.kafka import *  # noqa: F403
from fastdstream.sources.kafka import __all__  # noqa: F401
