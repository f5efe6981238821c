"""StatCounter, under PySpark's module name (``pyspark.statcounter``)."""

from fastdstream.engine.stat_counter import StatCounter

__all__ = ["StatCounter"]
