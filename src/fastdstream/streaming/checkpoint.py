"""Streaming checkpoints: what a job needs to go on after its driver is gone.

Spark's Checkpoint, CheckpointWriter and CheckpointReader. A checkpoint of batch
time ``t`` holds the master and app name, the batch duration, the zero time, the
checkpoint directory, the batch times generated and not completed (pending), and
for every stream, by its deterministic id, its kind, what it saves (Kafka offset
ranges, file lists, receiver block ids in the write-ahead log) and the directories
of its checkpointed RDDs by batch time.

It never holds code: the body is JSON (plain values only; anything else is an
error when it is taken), so recovery always rebuilds the job with the user's setup
function and restores by stream id -- a job recovers after its code changed, and a
graph that no longer matches is a clear error.

A file ``checkpoint-<time ms>`` is ``MAGIC``, a header (format version, CRC-32 and
length of the body) and the body, written atomically (temp file, fsync, rename,
fsync of the directory) on the writer thread, off the batch path. The newest
``CHECKPOINTS_KEPT`` files are kept. Reading takes the newest valid one; a corrupt
or truncated one is skipped with a warning saying why; files there but none valid
is an error naming the directory, never a silent fresh start.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import struct
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastdstream.clock import batch_time_text
from fastdstream.errors import FastDStreamError
from fastdstream.files import FrameError, frame, unframe, write_atomically
from fastdstream.streaming.dstream.checkpoint_data import CHECKPOINTS_KEPT

if TYPE_CHECKING:
    from fastdstream.streaming.streaming_context import StreamingContext

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MAGIC = b"FDSSTCP\n"
_HEADER = struct.Struct("<IIQ")  # format version, crc32 of the body, its length
PREFIX = "checkpoint-"


class CheckpointError(FastDStreamError):
    """A streaming checkpoint cannot be written, read or used; the message says which."""


@dataclass(frozen=True)
class StreamCheckpoint:
    """What one stream saved: its kind, its data and its RDD files, by batch time (ms)."""

    kind: str
    data: Mapping[int, Any] = field(default_factory=dict)
    rdd_files: Mapping[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Checkpoint:
    """A streaming checkpoint of batch time ``checkpoint_time`` (ms), as plain data."""

    checkpoint_time: int
    master: str
    app_name: str
    batch_duration_ms: int
    zero_time: int
    checkpoint_dir: str
    pending_times: tuple[int, ...]
    streams: Mapping[int, StreamCheckpoint]

    @classmethod
    def of(cls, ssc: StreamingContext, time_ms: int, pending_times: list[int]) -> Checkpoint:
        """Take a checkpoint of ``ssc`` at ``time_ms`` (its streams' data must have been
        collected by ``DStreamGraph.update_checkpoint_data`` just before)."""
        graph = ssc._graph
        assert graph.zero_time is not None and ssc._checkpoint_dir is not None
        data = graph.checkpoint_data()
        files = graph.checkpoint_files()
        kinds = graph.stream_kinds()
        streams = {sid: StreamCheckpoint(kinds[sid], data.get(sid, {}), files.get(sid, {}))
                   for sid in sorted(set(data) | set(files))}
        return cls(time_ms, ssc.sparkContext.master, ssc.sparkContext.appName,
                   graph.batch_duration_ms, graph.zero_time, ssc._checkpoint_dir,
                   tuple(sorted(pending_times)), streams)

    # --- format -------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "checkpointTime": self.checkpoint_time,
            "master": self.master,
            "appName": self.app_name,
            "batchDurationMs": self.batch_duration_ms,
            "zeroTime": self.zero_time,
            "checkpointDir": self.checkpoint_dir,
            "pendingTimes": list(self.pending_times),
            # JSON keys are strings: times and ids go as [key, value] pairs.
            "streams": [
                {"id": sid, "kind": s.kind,
                 "data": [[t, v] for t, v in sorted(s.data.items())],
                 "rddFiles": [[t, p] for t, p in sorted(s.rdd_files.items())]}
                for sid, s in sorted(self.streams.items())
            ],
        }

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Checkpoint:
        streams = {
            int(s["id"]): StreamCheckpoint(
                str(s["kind"]), {int(t): v for t, v in s["data"]},
                {int(t): str(p) for t, p in s["rddFiles"]})
            for s in body["streams"]
        }
        return cls(int(body["checkpointTime"]), str(body["master"]), str(body["appName"]),
                   int(body["batchDurationMs"]), int(body["zeroTime"]),
                   str(body["checkpointDir"]),
                   tuple(int(t) for t in body["pendingTimes"]), streams)

    def serialize(self) -> bytes:
        """The file's bytes: magic, header, JSON body.

        Raises
        ------
        CheckpointError
            If a stream saved something that is not plain data (a checkpoint holds no
            code and no pickled objects).
        """
        try:
            body = json.dumps(self.to_json(), allow_nan=False, separators=(",", ":")).encode()
        except (TypeError, ValueError) as exc:
            culprit = "a stream"
            for sid, stream in sorted(self.streams.items()):
                try:
                    json.dumps([list(stream.data.items()), list(stream.rdd_files.items())],
                               allow_nan=False)
                except (TypeError, ValueError):
                    culprit = f"stream {sid} (a {stream.kind})"
                    break
            raise CheckpointError(
                f"checkpoint of {self.checkpoint_time} ms: {culprit} saved something that is "
                f"not plain data ({exc}); checkpoints hold lists, strings and numbers only"
            ) from exc
        return frame(MAGIC, _HEADER, body, FORMAT_VERSION) + body

    @classmethod
    def deserialize(cls, raw: bytes, path: str) -> Checkpoint:
        """Read and verify a checkpoint file's bytes.

        Raises
        ------
        CheckpointError
            Naming ``path`` and what is wrong: not a checkpoint, another format
            version, truncated, checksum mismatch, unreadable body.
        """
        try:
            body = unframe(raw, MAGIC, _HEADER, FORMAT_VERSION)
        except FrameError as exc:
            raise CheckpointError(f"checkpoint file {path}: {exc}") from None
        try:
            return cls.from_json(json.loads(bytes(body)))
        except (ValueError, KeyError, TypeError, AttributeError, OverflowError,
                RecursionError) as exc:
            # Whatever shape a body that passed the checksum has (a foreign or future
            # writer's, or nested past the parser's depth): refused, naming the file.
            raise CheckpointError(f"checkpoint file {path}: unreadable body "
                                  f"({type(exc).__name__}: {exc})") from exc


def checkpoint_path(directory: str, time_ms: int) -> str:
    return os.path.join(directory, f"{PREFIX}{time_ms}")


def checkpoint_files(directory: str) -> list[tuple[int, str]]:
    """The checkpoint files in ``directory`` as (time, path), newest first (temp files of
    unfinished writes are not checkpoints)."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    found = [(int(n[len(PREFIX):]), os.path.join(directory, n)) for n in names
             if n.startswith(PREFIX) and n[len(PREFIX):].isdigit()]
    return sorted(found, reverse=True)


def read_checkpoint(directory: str) -> Checkpoint | None:
    """The newest valid checkpoint in ``directory``; None if it holds no checkpoint file.

    Spark's ``CheckpointReader.read``: an unreadable newest file (corrupt, truncated)
    is skipped with a warning saying why, and the one before it is used.

    Raises
    ------
    CheckpointError
        If checkpoint files are there but none is valid: the message names the
        directory and what is wrong with each file (a job does not silently start
        from scratch over a checkpoint it cannot read).
    """
    files = checkpoint_files(directory)
    problems = []
    for _, path in files:
        try:
            with open(path, "rb") as f:
                raw = f.read()
            checkpoint = Checkpoint.deserialize(raw, path)
        except (OSError, CheckpointError) as exc:
            problem = str(exc) if isinstance(exc, CheckpointError) else f"{path}: {exc}"
            log.warning("skipping a checkpoint: %s", problem)
            problems.append(problem)
            continue
        if problems:
            log.warning("recovering from the older checkpoint %s: the %d newer one(s) could "
                        "not be read", path, len(problems))
        return checkpoint
    if problems:
        raise CheckpointError(
            f"no valid checkpoint in {directory}: {len(problems)} checkpoint file(s), none "
            "readable:\n  " + "\n  ".join(problems)
            + "\n(delete the directory to start afresh)"
        )
    return None


class CheckpointWriter:
    """Writes checkpoints on its own thread, in order, off the batch path; keeps the
    newest ``keep`` files (Spark's CheckpointWriter).

    Parameters
    ----------
    directory : str
        Where the checkpoint files go.
    keep : int
        How many checkpoint files to keep.
    """

    def __init__(self, directory: str, keep: int = CHECKPOINTS_KEPT):
        self.directory = directory
        self.keep = keep
        self.last_written_time = -1
        self._queue: queue.Queue[tuple[int, bytes, Callable[[], None] | None] | None] = (
            queue.Queue())
        self._thread = threading.Thread(target=self._loop, name="checkpoint-writer",
                                        daemon=True)
        self._thread.start()

    def write(self, checkpoint: Checkpoint, on_written: Callable[[], None] | None = None
              ) -> None:
        """Serialize ``checkpoint`` now (a stream that saved something other than plain
        data fails here, on the caller's thread) and queue the write; ``on_written`` is
        called on the writer thread once the file is on disk (not if the write failed).

        Raises
        ------
        CheckpointError
            If the checkpoint holds something that is not plain data.
        """
        self._queue.put((checkpoint.checkpoint_time, checkpoint.serialize(), on_written))

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                time_ms, raw, on_written = item
                try:
                    self._write_file(time_ms, raw)
                except Exception:
                    log.exception("could not write the checkpoint of %d ms to %s",
                                  time_ms, self.directory)
                    continue
                if on_written is not None:
                    try:
                        on_written()
                    except Exception:
                        log.exception("after writing the checkpoint of batch %s",
                                      batch_time_text(time_ms))
            finally:
                self._queue.task_done()

    def write_now(self, checkpoint: Checkpoint) -> str:
        """Write ``checkpoint`` on this thread; return its file."""
        return self._write_file(checkpoint.checkpoint_time, checkpoint.serialize())

    def _write_file(self, time_ms: int, raw: bytes) -> str:
        os.makedirs(self.directory, exist_ok=True)
        path = checkpoint_path(self.directory, time_ms)
        write_atomically(path, (raw,))
        self.last_written_time = time_ms
        log.debug("wrote the checkpoint of batch %s (%d bytes) to %s",
                  batch_time_text(time_ms), len(raw), path)
        for _, old in checkpoint_files(self.directory)[self.keep:]:
            with contextlib.suppress(FileNotFoundError):
                os.remove(old)
        return path

    def flush(self) -> None:
        """Wait until every queued checkpoint has been written (or failed)."""
        self._queue.join()

    def stop(self) -> None:
        """Write what is queued, then end the thread."""
        self._queue.put(None)
        self._thread.join()
