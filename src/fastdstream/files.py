"""Durable files: what the write-ahead log, saved output and checkpoints write.

A file is written to a temp name in its directory, fsynced, renamed over its
final name and the directory fsynced: a crash leaves the old file or the new
one, never a torn one, and a file that is there has reached the disk.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterable


def fsync_path(path: str) -> None:
    """fsync a file or a directory (a rename is durable once its directory is)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: str, chunks: Iterable[bytes]) -> None:
    """Write ``chunks`` to ``path`` so that a crash never leaves a partial file there.

    The temp file is ``.<name>.tmp`` in the same directory; readers skip such names.
    """
    directory = os.path.dirname(os.path.abspath(path))
    temp = os.path.join(directory, f".{os.path.basename(path)}.tmp")
    with open(temp, "wb") as out:
        for chunk in chunks:
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    os.rename(temp, path)
    fsync_path(directory)


class FrameError(ValueError):
    """A checkpoint file's bytes are not what :func:`frame` wrote; the message says how."""


def frame(magic: bytes, header: struct.Struct, body: bytes, *fields: int) -> bytes:
    """The start of a checkpoint file (streaming checkpoints, RDD checkpoint partitions):
    ``magic``, then ``header`` holding ``fields``, the CRC-32 of ``body`` and its length.
    ``body`` follows."""
    return magic + header.pack(*fields, zlib.crc32(body), len(body))


def unframe(raw: bytes, magic: bytes, header: struct.Struct, version: int | None = None
            ) -> memoryview:
    """The body of a checkpoint file that :func:`frame` began, verified.

    With ``version``, the header's first field is the format version and must be it.

    Raises
    ------
    FrameError
        Saying what is wrong: not a checkpoint file, a truncated header, another format
        version, a truncated body or a checksum mismatch.
    """
    if not raw.startswith(magic):
        raise FrameError("not a checkpoint file (bad magic)")
    try:
        *fields, crc, length = header.unpack_from(raw, len(magic))
    except struct.error:
        raise FrameError("truncated header") from None
    if version is not None and fields[0] != version:
        raise FrameError(f"format version {fields[0]}, this version reads {version}")
    body = memoryview(raw)[len(magic) + header.size:]
    if len(body) != length:
        raise FrameError(f"{len(body)} bytes of body, header says {length} (truncated?)")
    if zlib.crc32(body) != crc:
        raise FrameError("checksum mismatch (corrupt)")
    return body
