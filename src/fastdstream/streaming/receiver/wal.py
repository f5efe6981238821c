"""Write-ahead log of received blocks: nothing a receiver acknowledged is lost in a crash.

With ``spark.streaming.receiver.writeAheadLog.enable`` (and a checkpoint
directory), every block a receiver stores is written here -- and fsynced --
before it is handed to the engine and before the receiver acknowledges its
source (the Kafka receiver commits offsets only then). One file per block,
under ``<checkpoint>/receivedData/<stream id>/``, written atomically (temp file,
fsync, rename, fsync of the directory) and verified on read: the header (block id,
record count, metadata such as Kafka offsets) and the payload each carry a CRC-32,
so a damaged file is an error naming it, never a block with other ids, counts or
records. A block's
file is deleted once the batch that processed it is forgotten; the files still
there at start-up are the blocks to replay -- except those a batch restored from a
streaming checkpoint reads (they would be processed twice).
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastdstream.engine.backend import serde
from fastdstream.errors import FastDStreamError
from fastdstream.files import write_atomically

MAGIC = b"FDSWAL2\n"  # then: header length, header CRC-32 (u32 each), header, payload
MAGIC_V1 = b"FDSWAL1\n"  # then: header length (u32), header, payload; still read
_HEADER_LEN = struct.Struct("<I")
_HEADER_LEN_CRC = struct.Struct("<II")
SUFFIX = ".wal"
_KIND = "serde"  # the payload is a serde partition frame (format tag and version inside)


class WALCorruptError(FastDStreamError):
    """A log file failed verification; the message names the file and what is wrong."""


@dataclass(frozen=True)
class LoggedBlock:
    block_id: tuple[Any, ...]
    num_records: int
    data: Any
    metadata: dict[str, Any]
    path: str


def stream_dir(checkpoint_dir: str, stream_id: int) -> str:
    return os.path.join(checkpoint_dir, "receivedData", str(stream_id))


def wal_path(checkpoint_dir: str, stream_id: int, block_id: tuple[Any, ...]) -> str:
    """The file that holds ``block_id`` of stream ``stream_id`` once it is logged."""
    return os.path.join(stream_dir(checkpoint_dir, stream_id), _file_name(block_id))


def _file_name(block_id: tuple[Any, ...]) -> str:
    return "-".join(str(part) for part in block_id[1:]) + SUFFIX


class WriteAheadLog:
    """The log of one receiver stream."""

    def __init__(self, checkpoint_dir: str, stream_id: int):
        self.directory = stream_dir(checkpoint_dir, stream_id)
        os.makedirs(self.directory, exist_ok=True)

    def write(self, block_id: tuple[Any, ...], data: Any, num_records: int,
              metadata: dict[str, Any] | None = None) -> str:
        """Log one block durably; return its file. Returns only once it is on disk."""
        payload = serde.encode_partition(data)
        header = json.dumps({
            "block_id": list(block_id), "num_records": num_records, "kind": _KIND,
            "length": len(payload), "crc32": zlib.crc32(payload), "metadata": metadata or {},
        }).encode()
        path = os.path.join(self.directory, _file_name(block_id))
        write_atomically(path, (MAGIC, encode_header(header), header, payload))
        return path

    def path_of(self, block_id: tuple[Any, ...]) -> str:
        """The file that holds ``block_id`` once :meth:`write` returned."""
        return os.path.join(self.directory, _file_name(block_id))

    def remove(self, block_id: tuple[Any, ...]) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(self.directory, _file_name(block_id)))

    def recover(self) -> Iterator[LoggedBlock]:
        """The logged blocks, oldest first. Temp files of unfinished writes are dropped:
        those blocks were never acknowledged, so their source still has them."""
        # A file can go while this runs: a batch restored from a streaming checkpoint may
        # be done, and its blocks removed, before the receivers start. Those are not to
        # replay anyway.
        entries = []
        for name in os.listdir(self.directory):
            with contextlib.suppress(FileNotFoundError):
                entries.append((os.path.getmtime(os.path.join(self.directory, name)), name))
        for _, name in sorted(entries):
            path = os.path.join(self.directory, name)
            if name.startswith(".") and name.endswith(".tmp"):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(path)
                continue
            if name.endswith(SUFFIX):
                try:
                    logged = read_block(path)
                except FileNotFoundError:
                    continue
                yield logged


def read_block_data(path: str) -> Any:
    """The records of one logged block (what a batch reads when the block's executor is
    gone); runs on an executor."""
    return read_block(path).data


def encode_header(header: bytes) -> bytes:
    """What precedes a block's JSON header in its file: its length and CRC-32."""
    return _HEADER_LEN_CRC.pack(len(header), zlib.crc32(header))


_HEADER_FIELDS = {"block_id": list, "num_records": int, "kind": str, "length": int,
                  "crc32": int, "metadata": dict}


def _read_header(raw: bytes, path: str) -> tuple[dict[str, Any], int]:
    """The verified header of a log file and where its payload starts."""
    if raw.startswith(MAGIC):
        pos = len(MAGIC)
        try:
            header_len, header_crc = _HEADER_LEN_CRC.unpack_from(raw, pos)
        except struct.error:
            raise WALCorruptError(f"write-ahead log file {path}: truncated header") from None
        pos += _HEADER_LEN_CRC.size
        header_bytes = raw[pos:pos + header_len]
        if len(header_bytes) != header_len:
            raise WALCorruptError(f"write-ahead log file {path}: {len(header_bytes)} header "
                                  f"bytes, {header_len} expected (truncated?)")
        if zlib.crc32(header_bytes) != header_crc:
            raise WALCorruptError(f"write-ahead log file {path}: header checksum mismatch "
                                  "(corrupt)")
    elif raw.startswith(MAGIC_V1):
        pos = len(MAGIC_V1)
        try:
            (header_len,) = _HEADER_LEN.unpack_from(raw, pos)
        except struct.error:
            raise WALCorruptError(f"write-ahead log file {path}: truncated header") from None
        pos += _HEADER_LEN.size
        header_bytes = raw[pos:pos + header_len]
    else:
        raise WALCorruptError(f"write-ahead log file {path}: not a log file (bad magic)")
    try:
        header = json.loads(header_bytes)
    except (ValueError, RecursionError) as exc:
        raise WALCorruptError(f"write-ahead log file {path}: unreadable header ({exc})") from exc
    if not isinstance(header, dict):
        raise WALCorruptError(f"write-ahead log file {path}: header is a "
                              f"{type(header).__name__}, not an object")
    for name, kind in _HEADER_FIELDS.items():
        value = header.get(name)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise WALCorruptError(f"write-ahead log file {path}: header field {name!r} is "
                                  f"{value!r}, not a {kind.__name__}")
    if not all(isinstance(part, str | int) and not isinstance(part, bool)
               for part in header["block_id"]):
        raise WALCorruptError(f"write-ahead log file {path}: block id "
                              f"{header['block_id']!r} is not strings and numbers")
    return header, pos + header_len


def read_block(path: str) -> LoggedBlock:
    """Read and verify one log file.

    Raises
    ------
    WALCorruptError
        Naming ``path`` and what is wrong: not a log file, a truncated or damaged
        header or payload (checksum mismatch), an unknown payload kind.
    """
    with open(path, "rb") as f:
        raw = f.read()
    header, pos = _read_header(raw, path)
    payload = raw[pos:]
    if len(payload) != header["length"]:
        raise WALCorruptError(f"write-ahead log file {path}: {len(payload)} payload bytes, "
                              f"header says {header['length']} (truncated?)")
    if zlib.crc32(payload) != header["crc32"]:
        raise WALCorruptError(f"write-ahead log file {path}: checksum mismatch (corrupt)")
    if header.get("kind") != _KIND:
        raise WALCorruptError(f"write-ahead log file {path}: payload kind "
                              f"{header.get('kind')!r}, this version reads {_KIND!r}")
    try:
        data = serde.decode_partition(payload)
    except serde.SerdeError as exc:
        raise WALCorruptError(f"write-ahead log file {path}: {exc}") from exc
    return LoggedBlock(tuple(header["block_id"]), header["num_records"], data,
                       header["metadata"], path)
