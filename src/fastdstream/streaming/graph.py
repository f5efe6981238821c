"""DStreamGraph: the input and output streams of a StreamingContext."""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastdstream.streaming.dstream.dstream import DStream
    from fastdstream.streaming.dstream.foreach_dstream import ForEachDStream
    from fastdstream.streaming.dstream.input_dstream import InputDStream

log = logging.getLogger(__name__)


def _reraise(exc: Exception) -> None:
    """The job of an output whose generation failed: it fails with that error."""
    raise exc


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

    def validate(self, checkpoint_dir: str | None = None) -> None:
        if not self.output_streams:
            raise ValueError("No output operations registered, so nothing to execute")
        for stream in self.streams():
            stream._validate_at_start(checkpoint_dir)

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
        jobs: list[tuple[int, str, Callable[[], None]]] = []
        for index, out in enumerate(self.output_streams):
            try:
                job = out.generate_job(time_ms)
            except Exception as exc:
                # A stream that fails to compute this batch (a function given to transform,
                # say) fails its output's job, which reports it with the batch time; the
                # batch's other outputs still run. (Spark generates no jobs for the batch
                # at all; issue 7 asks for the other outputs to run.)
                log.warning("output operation %d (%s) failed to generate its job for "
                            "batch %d ms: %r", index, out.name, time_ms, exc)
                job = partial(_reraise, exc)
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

    # --- checkpoint data ----------------------------------------------------------------

    def streams(self) -> list[DStream]:
        """Every stream of the graph once, by id: the outputs, what they read from, and
        the input streams (also one no output reads)."""
        found: dict[int, DStream] = {}
        pending: list[DStream] = [*self.output_streams, *self.input_streams]
        while pending:
            stream = pending.pop()
            if stream._id not in found:
                found[stream._id] = stream
                pending.extend(stream._dependencies)
        return [found[i] for i in sorted(found)]

    def update_checkpoint_data(self, time_ms: int) -> None:
        """Have every stream collect what it saves in the checkpoint of ``time_ms``."""
        with self._lock:
            for stream in self.streams():
                stream._checkpoint_data.update(time_ms)
                stream._checkpoint_data.update_files(time_ms)

    def clear_checkpoint_data(self, time_ms: int) -> None:
        """Have every stream forget what the checkpoint of ``time_ms`` no longer needs."""
        with self._lock:
            for stream in self.streams():
                stream._checkpoint_data.cleanup(time_ms)
                stream._checkpoint_data.cleanup_files(time_ms)

    def checkpoint_data(self) -> dict[int, dict[int, Any]]:
        """What the streams collected at the last update: stream id -> batch time -> data.

        Streams that save nothing are left out. This is what a streaming checkpoint
        holds for the streams (streaming/checkpoint.py writes it).
        """
        with self._lock:
            collected = {s._id: s._checkpoint_data.snapshot() for s in self.streams()}
        return {stream_id: data for stream_id, data in collected.items() if data}

    def checkpoint_files(self) -> dict[int, dict[int, str]]:
        """The checkpointed RDDs' directories at the last update: stream id -> batch time
        -> directory (streams with none are left out)."""
        with self._lock:
            collected = {s._id: dict(s._checkpoint_data.files) for s in self.streams()}
        return {stream_id: files for stream_id, files in collected.items() if files}

    def stream_kinds(self) -> dict[int, str]:
        """Each stream's kind (class name) by id: a checkpoint keeps it to tell a graph
        that no longer matches."""
        return {s._id: type(s).__name__ for s in self.streams()}

    def restore_checkpoint_data(self, saved: Mapping[int, Mapping[int, Any]],
                                files: Mapping[int, Mapping[int, str]] | None = None,
                                kinds: Mapping[int, str] | None = None) -> None:
        """Rebuild the streams' state from a checkpoint's data, by stream id.

        Parameters
        ----------
        saved : mapping
            Stream id -> batch time -> data, as :meth:`checkpoint_data` gave it.
        files : mapping, optional
            Stream id -> batch time -> directory of a checkpointed RDD, as
            :meth:`checkpoint_files` gave it; those RDDs are read back.
        kinds : mapping, optional
            Stream id -> kind when the checkpoint was taken: a stream with something
            to restore must still be of that kind.

        Raises
        ------
        ValueError
            If the checkpoint has data for a stream id this graph does not have, or
            for a stream that saves none: the setup function no longer builds the
            graph the checkpoint was taken of.
        RuntimeError
            If the graph has started: restored batches must be in place before the
            first batch is generated.
        """
        with self._lock:
            if self.zero_time is not None:
                raise RuntimeError("checkpoint data is restored before the StreamingContext "
                                   "starts, not after")
            files = files or {}
            streams = {s._id: s for s in self.streams()}
            unknown = sorted((set(saved) | set(files)) - set(streams))
            if unknown:
                raise ValueError(
                    f"checkpoint has data for stream(s) {unknown}, which this graph does not "
                    f"have (its streams are 0 to {max(streams, default=-1)}): the setup "
                    "function no longer builds the graph the checkpoint was taken of"
                )
            for stream_id in sorted(set(saved) | set(files)):
                was = (kinds or {}).get(stream_id)
                now = type(streams[stream_id]).__name__
                if was is not None and was != now:
                    raise ValueError(
                        f"checkpoint has data for stream {stream_id}, a {was} when the "
                        f"checkpoint was taken, but stream {stream_id} is now a {now}: the "
                        "setup function no longer builds the graph the checkpoint was taken of"
                    )
            for stream_id, data in saved.items():
                stream = streams[stream_id]
                stream._checkpoint_data.data = dict(data)
                stream._checkpoint_data.restore()
                log.info("restored checkpoint data of %r for %d batch(es)", stream, len(data))
            for stream_id, stream_files in files.items():
                streams[stream_id]._checkpoint_data.restore_files(dict(stream_files))
