"""File sources: files that appear in a directory become the batches of a stream.

As in Spark's FileInputDStream, a batch at time T takes the files whose
modification time is at most T and newer than the *ignore threshold*: the later
of the stream's start (``newFilesOnly``: files already there are ignored) and
T minus the remember window (``spark.streaming.fileStream.minRememberDuration``,
60 s, rounded up to whole batches). Files selected by a batch still remembered
are not selected again, so a file that becomes visible a little after its
modification time is still read, once, by the next batch. The files of each
batch are remembered per batch time (computing a batch again gives the same
files, and the checkpoint saves them); batches older than the window are
forgotten, so memory stays bounded however many files pass through.

Files must be moved into the directory atomically; names starting with ``.`` or
``_`` (temporary files) are skipped. Each file is read on an executor as one
partition. A file written in place instead is read as it was when its batch read
it, and what is written later is not read; so a selected file whose size or
modification time changes while it is remembered is logged as a warning naming
it. ``fastdstream.fileStream.minFileAge`` (default 0: off) makes a batch skip the
files modified less than that long before its time: a later batch takes them
once they are quiet (the remember window is widened to at least that age plus a
batch, so they are not then ignored as too old).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

import pyarrow as pa

from fastdstream.clock import batch_time_text
from fastdstream.conf import (
    FILE_STREAM_MIN_FILE_AGE,
    FILE_STREAM_MIN_REMEMBER_DURATION,
    MIN_REMEMBER_DURATION,
)
from fastdstream.engine.rdd import RDD
from fastdstream.sources.lines import DEFAULT_MAX_LINE_BYTES, LineSplitter
from fastdstream.streaming.dstream.checkpoint_data import DStreamCheckpointData
from fastdstream.streaming.dstream.input_dstream import InputDStream
from fastdstream.streaming.scheduler.listener import StreamInputInfo

if TYPE_CHECKING:
    from fastdstream.streaming.streaming_context import StreamingContext

log = logging.getLogger(__name__)

Reader = Callable[[str], pa.Table]

DEFAULT_MIN_REMEMBER_MS = 60_000


class FileInputDStream(InputDStream):
    """New files of a directory, batch by batch (``textFileStream``, ``binaryRecordsStream``).

    See the module documentation for how a batch chooses its files.
    """

    def __init__(self, ssc: StreamingContext, directory: str, reader: Reader,
                 new_files_only: bool = True):
        super().__init__(ssc)
        self.directory = directory
        self._reader = reader
        self._new_files_only = new_files_only
        self._clock = ssc._clock
        conf = ssc.sparkContext.getConf()
        min_remember_ms = conf.get_duration_ms(
            FILE_STREAM_MIN_REMEMBER_DURATION,
            conf.get_duration_ms(MIN_REMEMBER_DURATION, DEFAULT_MIN_REMEMBER_MS))
        self._min_file_age_ms = conf.get_duration_ms(FILE_STREAM_MIN_FILE_AGE, 0)
        if self._min_file_age_ms < 0:
            raise ValueError(f"{FILE_STREAM_MIN_FILE_AGE}={self._min_file_age_ms} ms: "
                             "must not be negative")
        slide = self.slideDuration
        # A file skipped as too young is taken by the first batch at least minFileAge
        # after its modification, less than minFileAge + one batch later: the window
        # must still hold its time then, or it would be ignored as too old.
        if self._min_file_age_ms:
            min_remember_ms = max(min_remember_ms, self._min_file_age_ms + slide)
        # Whole batches, at least one: the window must cover the batch being chosen.
        self._duration_to_remember_ms = slide * max(1, -(-min_remember_ms // slide))
        # The stream's RDDs (and so its batch-to-files map, cleared with them) are kept
        # for the window at least, or files selected in it would be selected again.
        self._remember(self._duration_to_remember_ms)
        self._initial_ignore_threshold_ms = 0
        self._restored = False
        self._batch_time_to_selected_files: dict[int, list[str]] = {}
        self._recently_selected_files: set[str] = set()
        # (size, mtime ns) of each remembered selected file when it was selected, to
        # notice one still being written; a file is warned about once.
        self._selected_stats: dict[str, tuple[int, int]] = {}
        self._changed_warned: set[str] = set()
        self._lock = threading.Lock()
        self._checkpoint_data = FileInputDStreamCheckpointData(self)

    def start(self) -> None:
        if not os.path.isdir(self.directory):
            raise FileNotFoundError(f"file stream directory {self.directory} does not exist")
        # newFilesOnly: what is modified up to now predates the stream and is ignored --
        # unless the stream was restored from a checkpoint: then it started long ago
        # (Spark keeps the first start's threshold in the checkpointed stream), and files
        # that came while the job was down are the down-time batches' to read.
        if not self._new_files_only:
            self._initial_ignore_threshold_ms = 0
        elif self._restored and self._zero_time is not None:
            self._initial_ignore_threshold_ms = self._zero_time
        else:
            self._initial_ignore_threshold_ms = self._clock.get_time_ms()

    def _compute(self, time_ms: int) -> RDD | None:
        with self._lock:
            files = self._batch_time_to_selected_files.get(time_ms)
            computed_before = files is not None
            if files is None:
                files = self._find_new_files(time_ms)
                self._batch_time_to_selected_files[time_ms] = files
                self._recently_selected_files.update(files)
        if not computed_before:  # a batch computed again was reported the first time
            log.debug("new files at time %d ms: %s", time_ms, files)
            # Records are not known until the files are read on executors: 0, as in Spark.
            self._report_input_info(time_ms, 0, {
                "files": list(files), StreamInputInfo.METADATA_KEY_DESCRIPTION: "\n".join(files)})
        return self._files_to_rdd(files)

    def _find_new_files(self, current_ms: int) -> list[str]:
        """The files for the batch of ``current_ms``; the caller holds the lock."""
        threshold = max(self._initial_ignore_threshold_ms,
                        current_ms - self._duration_to_remember_ms)
        began = time.monotonic()
        try:
            entries = list(os.scandir(self.directory))
        except OSError as exc:
            raise OSError(f"cannot list file stream directory {self.directory}: {exc}") from exc
        selected = []
        for entry in entries:
            if entry.name.startswith((".", "_")):
                continue
            try:
                if not entry.is_file():
                    continue
                stat = entry.stat()
            except FileNotFoundError:
                continue  # removed since the listing: it was never this batch's to read
            mod_ms = stat.st_mtime_ns // 1_000_000
            if entry.path in self._recently_selected_files:
                self._warn_if_changed(entry.path, stat.st_size, stat.st_mtime_ns)
                continue
            # <= (not <): a file at the threshold was seen by the batch that set it
            # (SPARK-4518); older ones were selected then, or predate the stream.
            if mod_ms <= threshold:
                continue
            # Newer than the batch: it is a later batch's, even if this batch is computed
            # late (recovery, a batch computed ahead); taking it now could let it be
            # selected again once this batch is forgotten.
            if mod_ms > current_ms:
                continue
            # Still being written, maybe: a later batch takes it once it is quiet.
            if mod_ms > current_ms - self._min_file_age_ms:
                continue
            selected.append(entry.path)
            self._selected_stats[entry.path] = (stat.st_size, stat.st_mtime_ns)
        took_ms = (time.monotonic() - began) * 1000
        if took_ms > self.slideDuration:
            log.warning("finding new files in %s took %.0f ms, longer than the batch interval; "
                        "use a longer batch interval or fewer files in the directory",
                        self.directory, took_ms)
        return sorted(selected)

    def _warn_if_changed(self, path: str, size: int, mtime_ns: int) -> None:
        before = self._selected_stats.get(path)
        if before is None or before == (size, mtime_ns) or path in self._changed_warned:
            return
        self._changed_warned.add(path)
        log.warning(
            "file %s changed after a batch selected it (size %d -> %d bytes, modified "
            "%d -> %d ms): what was written later is not read. Move finished files into "
            "%s instead of writing them there, or set %s to wait until files are quiet",
            path, before[0], size, before[1] // 1_000_000, mtime_ns // 1_000_000,
            self.directory, FILE_STREAM_MIN_FILE_AGE)

    def _files_to_rdd(self, files: list[str]) -> RDD:
        if not files:
            return self._sc.emptyRDD()
        return self._sc.parallelize(files, len(files))._map_raw(partial(_read_files, self._reader))

    def _clear_metadata(self, time_ms: int) -> None:
        super()._clear_metadata(time_ms)
        assert self._remember_ms is not None
        with self._lock:
            old = [t for t in self._batch_time_to_selected_files
                   if t < time_ms - self._remember_ms]
            for t in old:
                forgotten = self._batch_time_to_selected_files.pop(t)
                self._recently_selected_files.difference_update(forgotten)
                for path in forgotten:
                    self._selected_stats.pop(path, None)
                    self._changed_warned.discard(path)
        if old:
            log.debug("forgot the files of batches %s", old)


class FileInputDStreamCheckpointData(DStreamCheckpointData):
    """A file stream saves, per remembered batch time, the files the batch reads."""

    def __init__(self, stream: FileInputDStream):
        super().__init__(stream)
        self._file_stream = stream

    def update(self, time_ms: int) -> None:
        stream = self._file_stream
        with stream._lock:
            # The remembered batches only: clear_metadata has dropped the older ones.
            self.data = {t: list(files)
                         for t, files in stream._batch_time_to_selected_files.items()}

    def restore(self) -> None:
        stream = self._file_stream
        stream._restored = True
        for t, files in sorted(self.data.items()):
            if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
                raise ValueError(
                    f"checkpoint data of stream {self.stream_id} (a file stream on "
                    f"{stream.directory}) for batch {t} ms is not a list of files: the setup "
                    "function no longer builds the graph the checkpoint was taken of"
                )
            log.info("restoring the files of batch %s: %s", batch_time_text(t), files)
            with stream._lock:
                stream._batch_time_to_selected_files[t] = list(files)
                stream._recently_selected_files.update(files)
            # The batch reads the files it read before the restart, not a new listing.
            with stream._generated_lock:
                stream._generated[t] = stream._files_to_rdd(list(files))


def _read_files(reader: Reader, _: int, paths: list[str]) -> pa.Table:
    tables = [reader(p) for p in paths]
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)


def read_text_file(path: str, errors: str = "strict",
                   max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> pa.Table:
    # A file is read whole as one partition: a bad line fails the task, and so the
    # batch, naming file, line and offset (no partial partition is delivered).
    splitter = LineSplitter(f"file {path}", errors, max_line_bytes)
    with open(path, "rb") as f:
        data = f.read()
    parts = [t for t in (splitter.feed(data), splitter.flush()) if t is not None]
    if not parts:
        return pa.table({"value": pa.array([], pa.string())})
    return parts[0] if len(parts) == 1 else pa.concat_tables(parts)


def read_binary_records(record_length: int, path: str) -> pa.Table:
    with open(path, "rb") as f:
        data = f.read()
    if len(data) % record_length:
        raise ValueError(
            f"file {path}: size {len(data)} bytes is not a multiple of the record length "
            f"{record_length} (last record has {len(data) % record_length} bytes)"
        )
    fixed = pa.Array.from_buffers(pa.binary(record_length), len(data) // record_length,
                                  [None, pa.py_buffer(data)])
    return pa.table({"value": fixed.cast(pa.binary())})
