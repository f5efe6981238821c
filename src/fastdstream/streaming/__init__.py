"""Streams over the batch engine: StreamingContext, DStreams, scheduling, receivers."""
