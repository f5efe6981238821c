"""Durable files: what the write-ahead log, saved output and checkpoints write.

A file is written to a temp name in its directory, fsynced, renamed over its
final name and the directory fsynced: a crash leaves the old file or the new
one, never a torn one, and a file that is there has reached the disk.
"""

from __future__ import annotations

import os
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
