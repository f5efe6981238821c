"""Exceptions that are part of the public API."""

from __future__ import annotations


class FastDStreamError(Exception):
    """Base class of fastdstream's own errors."""


class TaskNotSerializableError(FastDStreamError):
    """A task closure could not be serialized for shipping to executors."""


class StreamingJobError(FastDStreamError):
    """A batch's job failed; raised from ``awaitTermination``.

    The message carries the batch time, the output operation and the original
    traceback text; ``__cause__`` is the original exception.
    """

    def __init__(self, message: str, batch_time_ms: int | None = None):
        super().__init__(message)
        self.batch_time_ms = batch_time_ms


class DecodeError(FastDStreamError, ValueError):
    """Input bytes could not be decoded; the message names where they came from."""
