"""Streams over the batch engine: StreamingContext, DStreams, scheduling, receivers.

Exports what ``pyspark.streaming`` does, so ``from pyspark.streaming import
StreamingContext`` ports by changing the package name.
"""

from fastdstream.streaming.dstream.dstream import DStream
from fastdstream.streaming.scheduler.listener import StreamingListener
from fastdstream.streaming.state import State, StateSpec
from fastdstream.streaming.streaming_context import StreamingContext

__all__ = ["DStream", "State", "StateSpec", "StreamingContext", "StreamingListener"]
