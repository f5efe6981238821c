"""RDD checkpoints: a computed RDD's partitions saved, so its lineage can be cut.

Two kinds, as in PySpark:

- **reliable** (:meth:`RDD.checkpoint`): each partition is a file
  ``<checkpoint dir>/rdd-<id>/part-NNNNN`` holding a serde frame, written
  atomically (temp file, fsync, rename) with a CRC-32 that is checked on read. A
  file that fails the check is an error naming it, never silently recomputed
  into something else.
- **local** (:meth:`RDD.localCheckpoint`): the partitions stay as blocks on the
  executors that computed them. Faster, but lost with its executor.

Either way, once saved the RDD reads its partitions from the checkpoint and drops
its parents, so a long chain of batches (a state updated every batch) does not
keep every earlier batch, its shuffles and its blocks alive.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import Any

from fastdstream.engine.backend import serde
from fastdstream.engine.backend.block_manager import BlockId
from fastdstream.errors import FastDStreamError
from fastdstream.files import FrameError, frame, unframe, write_atomically

MAGIC = b"FDSRDDC1"
_HEADER = struct.Struct("<IQ")  # crc32 of the frame, its length


class CheckpointCorruptError(FastDStreamError):
    """A checkpoint file failed verification; the message names the file."""


@dataclass(frozen=True)
class ReliableCheckpoint:
    """Where a reliably checkpointed RDD's partitions are: one file each."""

    directory: str
    paths: tuple[str, ...]


@dataclass(frozen=True)
class LocalCheckpoint:
    """Where a locally checkpointed RDD's partitions are: one block each."""

    block_ids: tuple[BlockId, ...]
    locations: tuple[str, ...]


def partition_path(directory: str, split: int) -> str:
    return os.path.join(directory, f"part-{split:05d}")


def partition_paths(directory: str) -> tuple[str, ...]:
    """The partition files of a reliably checkpointed RDD's directory, in split order.

    Raises
    ------
    CheckpointCorruptError
        If the directory is missing, holds no partition files, or misses one in the
        middle (``part-00000`` .. ``part-N`` must all be there).
    """
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        raise CheckpointCorruptError(f"RDD checkpoint directory {directory} is missing") from None
    splits = sorted(int(n[len("part-"):]) for n in names
                    if n.startswith("part-") and n[len("part-"):].isdigit())
    if splits != list(range(len(splits))):
        missing = sorted(set(range(max(splits, default=-1) + 1)) - set(splits))
        raise CheckpointCorruptError(f"RDD checkpoint directory {directory}: partition file(s) "
                                     f"{missing} missing")
    return tuple(partition_path(directory, split) for split in splits)


def write_partition(path: str, data: Any) -> None:
    """Save one partition durably (a crash leaves no partial file)."""
    encoded = serde.encode_partition(data)
    write_atomically(path, (frame(MAGIC, _HEADER, encoded), encoded))


def read_partition(path: str) -> Any:
    """Read and verify one saved partition."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise CheckpointCorruptError(f"RDD checkpoint file {path} is missing") from None
    try:
        encoded = unframe(raw, MAGIC, _HEADER)
    except FrameError as exc:
        raise CheckpointCorruptError(f"RDD checkpoint file {path}: {exc}") from None
    try:
        return serde.decode_partition(encoded)
    except serde.SerdeError as exc:
        raise CheckpointCorruptError(f"RDD checkpoint file {path}: {exc}") from exc
