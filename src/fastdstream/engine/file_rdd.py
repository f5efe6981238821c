"""FileRDD: RDDs read from local files (``textFile``, ``wholeTextFiles``, ``binaryFiles``,
``binaryRecords``, ``pickleFile``).

The driver lists the files and cuts them into splits; each task reads its split
on its executor (executors share the driver's file system here). Text comes out
as an Arrow table of one ``value`` column, as the socket and file streams give
it, so a word count from files stays columnar.

A text file is cut as Hadoop's ``TextInputFormat`` cuts it: splits of about
``total size / minPartitions`` bytes (at most 32 MB), a split owns the lines that
start in it, and the last split of a file may be up to 10 % larger. Lines end at
``\\n``; a ``\\r`` before it is dropped.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from fastdstream.engine.backend import serde
from fastdstream.engine.backend.task_context import TaskContext
from fastdstream.engine.columnar.partition import PartitionData
from fastdstream.engine.explain import TABLES, Form
from fastdstream.engine.rdd import RDD
from fastdstream.engine.tasks import PartitionFn
from fastdstream.errors import DecodeError

if TYPE_CHECKING:
    from fastdstream.engine.context import Context

BLOCK_SIZE = 32 * 1024 * 1024  # Hadoop's local file system block size
SPLIT_SLOP = 1.1  # Hadoop's FileInputFormat: the last split may be 10 % larger

__all__ = ["FileRDD", "FileSplit", "list_files"]


@dataclass(frozen=True)
class FileSplit:
    """Bytes ``[start, start + length)`` of ``path`` (length -1: to the end)."""

    path: str
    start: int = 0
    length: int = -1


def list_files(path: str) -> list[str]:
    """The files a path names: comma-separated paths, each a file, a directory (its
    files, not hidden ones, not recursing) or a glob; sorted; an error if none exists.
    """
    found: list[str] = []
    for part in (p.strip() for p in path.split(",") if p.strip()):
        local = part.removeprefix("file://").removeprefix("file:")
        matches = sorted(glob.glob(local)) if glob.has_magic(local) else [local]
        if not matches or not all(os.path.exists(m) for m in matches):
            raise FileNotFoundError(f"Input path does not exist: {part}")
        for match in matches:
            if os.path.isdir(match):
                found.extend(sorted(
                    os.path.join(match, name) for name in os.listdir(match)
                    if not name.startswith((".", "_"))
                    and os.path.isfile(os.path.join(match, name))))
            else:
                found.append(match)
    return [os.path.abspath(f) for f in found]


def text_splits(files: Sequence[str], min_partitions: int) -> list[FileSplit]:
    """Hadoop's ``FileInputFormat.getSplits`` for local files."""
    sizes = [os.path.getsize(f) for f in files]
    goal = sum(sizes) // max(1, min_partitions)
    split_size = max(1, min(goal, BLOCK_SIZE))
    splits: list[FileSplit] = []
    for path, size in zip(files, sizes, strict=True):
        start = 0
        while (size - start) / split_size > SPLIT_SLOP:
            splits.append(FileSplit(path, start, split_size))
            start += split_size
        if size - start > 0 or start == 0:
            splits.append(FileSplit(path, start, size - start))
    return splits


def _read_lines(split: FileSplit) -> list[bytes]:
    end = split.start + split.length
    lines = []
    with open(split.path, "rb") as f:
        if split.start > 0:
            # A split owns the lines that start in it: the one that crosses into it is
            # the previous split's (reading from the byte before finds its end).
            f.seek(split.start - 1)
            f.readline()
        while f.tell() < end:
            line = f.readline()
            if not line:
                break
            lines.append(line)
    return [line.removesuffix(b"\n").removesuffix(b"\r") for line in lines]


def read_text(use_unicode: bool, split: FileSplit) -> pa.Table:
    """A split's lines as a ``value`` column: strings, or bytes without ``use_unicode``."""
    column = pa.array(_read_lines(split), pa.binary())
    if use_unicode:
        try:
            column = column.cast(pa.string())
        except pa.ArrowInvalid as exc:
            raise DecodeError(f"{split.path}: a line in bytes {split.start}.."
                              f"{split.start + split.length} is not UTF-8: {exc}") from exc
    return pa.table({"value": column})


def read_whole(use_unicode: bool, files: Sequence[str]) -> pa.Table:
    """(path, content) of whole files: PySpark names them ``file:<absolute path>``."""
    contents = []
    for path in files:
        with open(path, "rb") as f:
            contents.append(f.read())
    column = pa.array(contents, pa.binary())
    if use_unicode:
        try:
            column = column.cast(pa.string())
        except pa.ArrowInvalid as exc:
            raise DecodeError(f"one of {', '.join(files)} is not UTF-8: {exc}") from exc
    return pa.table({"path": pa.array([f"file:{p}" for p in files], pa.string()),
                     "content": column})


def read_records(record_length: int, path: str) -> pa.Table:
    """A file cut into records of ``record_length`` bytes (PySpark's ``binaryRecords``)."""
    size = os.path.getsize(path)
    if size % record_length:
        raise ValueError(f"{path}: {size} bytes is not a multiple of the record length "
                         f"{record_length}")
    with open(path, "rb") as f:
        data = f.read()
    return pa.table({"value": pa.array(
        [data[i:i + record_length] for i in range(0, size, record_length)], pa.binary())})


def read_pickled(path: str) -> PartitionData:
    """A partition written by :meth:`RDD.saveAsPickleFile` (a serde partition frame)."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        # A file nothing checksummed: every offset in it is checked before use.
        return serde.decode_partition(data, verify=True)
    except serde.SerdeError as exc:
        raise serde.SerdeError(f"pickle file {path}: {exc}") from exc


def _read_part(reader: Callable[[Any], PartitionData], parts: tuple[Any, ...],
               tc: TaskContext, split: int) -> PartitionData:
    return reader(parts[split])


class FileRDD(RDD):
    """Partition ``i`` is ``reader(parts[i])``, read by the task on its executor."""

    def __init__(self, ctx: Context, parts: Sequence[Any], reader: Callable[[Any], PartitionData],
                 what: str, columnar: bool = True):
        super().__init__(ctx, len(parts))
        self._parts = tuple(parts)
        self._reader = reader
        self._what = what
        self._columnar = columnar

    def _build_partition_fn(self) -> PartitionFn:
        return partial(_read_part, self._reader, self._parts)

    def _explain_source(self) -> tuple[str, Form]:
        if self._columnar:
            return f"{self._what}: Arrow tables", TABLES
        return f"{self._what}: as they were saved", Form(True, True, self._what)
