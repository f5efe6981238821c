"""fastdstream: Spark Streaming's DStream model for Python, with a compiled Arrow core.

A PySpark Streaming program ports by changing its imports::

    from fastdstream import Context as SparkContext, StreamingContext
"""

from fastdstream.clock import ManualClock, SystemClock
from fastdstream.conf import Conf
from fastdstream.context import Context
from fastdstream.dstream import DStream
from fastdstream.errors import (
    DecodeError,
    FastDStreamError,
    StreamingJobError,
    TaskNotSerializableError,
)
from fastdstream.listener import BatchInfo, StreamingListener
from fastdstream.partitioner import portable_hash
from fastdstream.rdd import RDD
from fastdstream.receiver import Receiver
from fastdstream.storage_level import StorageLevel
from fastdstream.streaming_context import StreamingContext

# PySpark's names, so `from pyspark import SparkContext, SparkConf` ports by import alone.
SparkContext = Context
SparkConf = Conf

__version__ = "0.1.0"

__all__ = [
    "RDD",
    "BatchInfo",
    "Conf",
    "Context",
    "DStream",
    "DecodeError",
    "FastDStreamError",
    "ManualClock",
    "Receiver",
    "SparkConf",
    "SparkContext",
    "StorageLevel",
    "StreamingContext",
    "StreamingJobError",
    "StreamingListener",
    "SystemClock",
    "TaskNotSerializableError",
    "portable_hash",
]
