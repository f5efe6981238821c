"""``pyspark.streaming`` mapped onto :mod:`fastdstream.streaming`."""

from fastdstream.streaming import DStream, StreamingContext, StreamingListener

__all__ = ["DStream", "StreamingContext", "StreamingListener"]
