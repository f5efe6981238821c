"""Exceptions that are part of the public API."""

from __future__ import annotations

from typing import Any


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
    """Input bytes could not be decoded, or a line is longer than
    ``fastdstream.text.maxLineBytes``; the message names where they came from.

    ``lines_before`` holds the complete lines that came before the bad one in the
    same input and were not returned yet (a ``value`` table, or None): a source
    stores them before it stops, so nothing before the error is lost.
    """

    def __init__(self, message: str, lines_before: Any = None):
        super().__init__(message)
        self.lines_before = lines_before
