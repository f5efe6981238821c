"""``pyspark.testing``: the package Spark's test base (``streamingutils.py``) lives in."""
