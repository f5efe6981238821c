"""Broadcast variables, under PySpark's module name (``pyspark.broadcast``)."""

from fastdstream.engine.broadcast import Broadcast

__all__ = ["Broadcast"]
