"""fastdstream: Spark Streaming's DStream model for Python."""

__version__ = "0.1.0"
