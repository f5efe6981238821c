"""A ``pyspark`` that is fastdstream: only the names Spark's streaming tests import.

Used by ``tools/run_spark_streaming_tests.py`` to run Apache Spark's own PySpark
streaming test files, unmodified, against fastdstream. It maps names and nothing
else: no behaviour is added here, so what the tests see is fastdstream's.
"""

from fastdstream import RDD, SparkConf, SparkContext, StorageLevel

__all__ = ["RDD", "SparkConf", "SparkContext", "StorageLevel"]
