"""fastdstream: Spark Streaming's DStream model for Python, with a compiled Arrow core.

A PySpark Streaming program ports by changing its imports::

    from fastdstream import SparkContext              # from pyspark import SparkContext
    from fastdstream.streaming import StreamingContext  # from pyspark.streaming import ...
"""

from fastdstream.clock import ManualClock, SystemClock
from fastdstream.conf import Conf, SparkConf
from fastdstream.context import SparkContext
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
from fastdstream.streaming.state import State, StateSpec
from fastdstream.streaming.streaming_context import StreamingContext

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
    "State",
    "StateSpec",
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
