"""fastdstream: Spark Streaming's DStream model for Python, with a compiled Arrow core.

A PySpark Streaming program ports by changing its imports::

    from fastdstream import Context as SparkContext, StreamingContext
"""

from fastdstream.clock import ManualClock, SystemClock
from fastdstream.conf import Conf, SparkConf
from fastdstream.engine.backend.task_context import TaskContext
from fastdstream.engine.columnar.registry import register_kernel
from fastdstream.engine.context import Context
from fastdstream.engine.partitioner import portable_hash
from fastdstream.engine.rdd import RDD
from fastdstream.errors import (
    DecodeError,
    FastDStreamError,
    StreamingJobError,
    TaskNotSerializableError,
)
from fastdstream.storage_level import StorageLevel
from fastdstream.streaming.dstream.dstream import DStream
from fastdstream.streaming.receiver.receiver import Receiver
from fastdstream.streaming.scheduler.listener import BatchInfo, StreamingListener
from fastdstream.streaming.streaming_context import StreamingContext

# PySpark's names, so `from pyspark import SparkContext, SparkConf` ports by import alone.
SparkContext = Context

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
    "TaskContext",
    "TaskNotSerializableError",
    "portable_hash",
    "register_kernel",
]
