"""DStreams, one module per kind of stream (Spark's ``dstream/`` package)."""
