"""DStreamGraph: the input and output streams of a StreamingContext."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastdstream.streaming.dstream.foreach_dstream import ForEachDStream
    from fastdstream.streaming.dstream.input_dstream import InputDStream


class DStreamGraph:
    def __init__(self, batch_duration_ms: int):
        if batch_duration_ms <= 0:
            raise ValueError(f"batch duration must be positive, got {batch_duration_ms} ms")
        self.batch_duration_ms = batch_duration_ms
        self.input_streams: list[InputDStream] = []
        self.output_streams: list[ForEachDStream] = []
        self.remember_ms: int | None = None
        self.zero_time: int | None = None
        self._ids = itertools.count()
        self._lock = threading.Lock()

    def next_stream_id(self) -> int:
        # Ids follow creation order, so a job rebuilt by the same setup code gets the
        # same ids -- which is what lets a checkpoint find its streams again.
        return next(self._ids)

    def add_input_stream(self, stream: InputDStream) -> None:
        with self._lock:
            self._check_not_started()
            self.input_streams.append(stream)

    def add_output_stream(self, stream: ForEachDStream) -> None:
        with self._lock:
            self._check_not_started()
            self.output_streams.append(stream)

    def _check_not_started(self) -> None:
        if self.zero_time is not None:
            raise RuntimeError(
                "cannot add new inputs, transformations or output operations after the "
                "StreamingContext has started"
            )

    def remember(self, duration_ms: int) -> None:
        self.remember_ms = duration_ms

    def validate(self) -> None:
        if not self.output_streams:
            raise ValueError("No output operations registered, so nothing to execute")

    def start(self, zero_time: int) -> None:
        self.zero_time = zero_time
        for out in self.output_streams:
            out._initialize(zero_time)
        for stream in self.input_streams:
            stream._initialize(zero_time)
            stream.start()

    def stop(self) -> None:
        for stream in self.input_streams:
            stream.stop()

    def generate_jobs(self, time_ms: int) -> list[tuple[int, str, Callable[[], None]]]:
        jobs = []
        for index, out in enumerate(self.output_streams):
            job = out.generate_job(time_ms)
            if job is not None:
                jobs.append((index, out.name, job))
        return jobs

    def max_input_stream_remember_ms(self) -> int:
        """The longest time an input stream remembers its batches (one batch at least)."""
        return max((s._remember_ms for s in self.input_streams if s._remember_ms is not None),
                   default=self.batch_duration_ms)

    def clear_metadata(self, time_ms: int) -> None:
        for out in self.output_streams:
            out._clear_metadata(time_ms)
