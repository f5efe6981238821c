"""The write-ahead log: durable, atomic, verified on read."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pytest

from fastdstream.streaming.receiver.wal import WALCorruptError, WriteAheadLog, read_block


def test_blocks_round_trip_in_write_order(tmp_path: Path) -> None:
    wal = WriteAheadLog(str(tmp_path), 3)
    table = pa.table({"value": ["a", "b"]})
    wal.write(("input", 3, "1-0"), table, 2, {"t\x000": 7})
    wal.write(("input", 3, "1-1"), [("k", 1), None], 2)
    blocks = list(wal.recover())
    assert [b.block_id for b in blocks] == [("input", 3, "1-0"), ("input", 3, "1-1")]
    assert blocks[0].data.equals(table) and blocks[0].metadata == {"t\x000": 7}
    assert blocks[1].data == [("k", 1), None] and blocks[1].num_records == 2


def test_removed_blocks_are_not_replayed(tmp_path: Path) -> None:
    wal = WriteAheadLog(str(tmp_path), 0)
    wal.write(("input", 0, "a"), [1], 1)
    wal.write(("input", 0, "b"), [2], 1)
    wal.remove(("input", 0, "a"))
    wal.remove(("input", 0, "never-written"))  # forgetting twice is harmless
    assert [b.data for b in wal.recover()] == [[2]]


def test_unfinished_writes_are_dropped(tmp_path: Path) -> None:
    wal = WriteAheadLog(str(tmp_path), 0)
    wal.write(("input", 0, "done"), [1], 1)
    leftover = Path(wal.directory) / ".torn.wal.tmp"
    leftover.write_bytes(b"FDSWAL1\n\x05")  # a crash mid-write leaves only a temp file
    assert [b.data for b in wal.recover()] == [[1]]
    assert not leftover.exists()


@pytest.mark.parametrize("damage", ["flip", "truncate", "magic"])
def test_corruption_is_an_error_naming_the_file(tmp_path: Path, damage: str) -> None:
    wal = WriteAheadLog(str(tmp_path), 0)
    path = wal.write(("input", 0, "x"), pa.table({"value": ["hello world"] * 10}), 10)
    raw = bytearray(Path(path).read_bytes())
    if damage == "flip":
        raw[-5] ^= 0xFF
    elif damage == "truncate":
        raw = raw[:-3]
    else:
        raw[0:3] = b"XXX"
    Path(path).write_bytes(bytes(raw))
    with pytest.raises(WALCorruptError, match=os.path.basename(path)):
        read_block(path)
    with pytest.raises(WALCorruptError):
        list(wal.recover())


def test_a_block_logged_in_the_first_format_is_still_read(tmp_path: Path) -> None:
    # Blocks logged before the header had a checksum of its own are replayed after an
    # upgrade, not refused.
    import json
    import struct
    import zlib

    from fastdstream.engine.backend import serde
    from fastdstream.streaming.receiver.wal import MAGIC_V1

    payload = serde.encode_partition(["a", "b"])
    header = json.dumps({"block_id": ["input", 0, 3], "num_records": 2, "kind": "serde",
                         "length": len(payload), "crc32": zlib.crc32(payload),
                         "metadata": {"t\x000": 5}}).encode()
    path = tmp_path / "0-3.wal"
    path.write_bytes(MAGIC_V1 + struct.pack("<I", len(header)) + header + payload)
    block = read_block(str(path))
    assert (block.block_id, block.num_records, block.data, block.metadata) == (
        ("input", 0, 3), 2, ["a", "b"], {"t\x000": 5})


def test_a_damaged_header_is_an_error_not_another_block(tmp_path: Path) -> None:
    wal = WriteAheadLog(str(tmp_path), 0)
    path = wal.write(("input", 0, 1), ["a"], 1, {"t\x000": 41})
    raw = Path(path).read_bytes()
    # The offset 41 becomes 49: a valid header, but not the one written.
    Path(path).write_bytes(raw.replace(b'"t\\u00000": 41', b'"t\\u00000": 49'))
    assert Path(path).read_bytes() != raw
    with pytest.raises(WALCorruptError, match="header checksum mismatch"):
        read_block(path)
