"""File sources: new files in a directory become the next batch.

As in Spark, files already in the directory when the stream starts are ignored
(``newFilesOnly``); each batch takes the files that appeared since the previous
one. Files must be moved into the directory atomically; names starting with
``.`` or ``_`` (temporary files) are skipped. Each file is read on an executor
as one partition.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

import pyarrow as pa

from fastdstream.engine.rdd import RDD
from fastdstream.sources.lines import LineSplitter
from fastdstream.streaming.dstream.input_dstream import InputDStream
from fastdstream.streaming.scheduler.listener import StreamInputInfo

if TYPE_CHECKING:
    from fastdstream.streaming.streaming_context import StreamingContext

Reader = Callable[[str], pa.Table]


class FileInputDStream(InputDStream):
    def __init__(self, ssc: StreamingContext, directory: str, reader: Reader):
        super().__init__(ssc)
        self.directory = directory
        self._reader = reader
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        if not os.path.isdir(self.directory):
            raise FileNotFoundError(f"file stream directory {self.directory} does not exist")
        self._seen = set(self._list())

    def _list(self) -> list[str]:
        try:
            names = os.listdir(self.directory)
        except OSError as exc:
            raise OSError(f"cannot list file stream directory {self.directory}: {exc}") from exc
        return sorted(
            os.path.join(self.directory, n) for n in names
            if not n.startswith((".", "_")) and os.path.isfile(os.path.join(self.directory, n))
        )

    def _compute(self, time_ms: int) -> RDD | None:
        with self._lock:
            new = [p for p in self._list() if p not in self._seen]
            self._seen.update(new)
        # Records are not known until the files are read on executors: 0, as in Spark.
        self._report_input_info(time_ms, 0, {
            "files": new, StreamInputInfo.METADATA_KEY_DESCRIPTION: "\n".join(new)})
        if not new:
            return self._sc.emptyRDD()
        return self._sc.parallelize(new, len(new))._map_raw(partial(_read_files, self._reader))


def _read_files(reader: Reader, _: int, paths: list[str]) -> pa.Table:
    tables = [reader(p) for p in paths]
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)


def read_text_file(path: str, errors: str = "strict") -> pa.Table:
    splitter = LineSplitter(f"file {path}", errors)
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
