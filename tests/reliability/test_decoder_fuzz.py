"""Property-based fuzz of every decoder of durable or external input.

Each decoder is fed what it wrote, then that truncated, bit-flipped, spliced with
random bytes, or random bytes alone. It must either give back exactly what was
written, or raise our error naming the file (or record) -- never another exception,
a crash, a hang or different data. Where a format has no checksum of its own (serde
frames) a bit flip may decode to another value; its containers on disk (the
write-ahead log, checkpoints) verify a CRC-32 before they decode it.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastdstream.engine.backend import serde
from fastdstream.engine.file_rdd import read_pickled, read_records
from fastdstream.errors import DecodeError
from fastdstream.files import FrameError, frame, unframe
from fastdstream.sources.file_stream import read_binary_records
from fastdstream.sources.kafka.kafka_kernels import KAFKA_SCHEMA
from fastdstream.sources.kafka.kafka_rdd import Decoding
from fastdstream.streaming.checkpoint import (
    MAGIC,
    Checkpoint,
    CheckpointError,
    StreamCheckpoint,
    checkpoint_path,
    read_checkpoint,
)
from fastdstream.streaming.receiver.wal import WALCorruptError, WriteAheadLog, read_block

pytestmark = pytest.mark.timeout(120)  # a hang is a failure, not a stuck run

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# --- mutations --------------------------------------------------------------------------


def mutated(valid: bytes) -> st.SearchStrategy[bytes]:
    """``valid`` truncated, with one bit flipped, with its tail replaced by random bytes,
    or random bytes (always different from ``valid``)."""
    n = len(valid)
    truncated = st.integers(0, n - 1).map(lambda k: valid[:k])
    flipped = st.integers(0, 8 * n - 1).map(
        lambda bit: valid[:bit // 8] + bytes([valid[bit // 8] ^ (1 << bit % 8)])
        + valid[bit // 8 + 1:])
    spliced = st.tuples(st.integers(0, n - 1), st.binary(min_size=1, max_size=64)).map(
        lambda kt: valid[:kt[0]] + kt[1])
    flipped_bytes = st.tuples(st.integers(0, n - 1), st.integers(1, 255)).map(
        lambda kx: valid[:kx[0]] + bytes([valid[kx[0]] ^ kx[1]]) + valid[kx[0] + 1:])
    randoms = st.binary(max_size=2 * n + 16)
    return st.one_of(truncated, flipped, flipped_bytes, spliced, randoms).filter(
        lambda b: b != valid)


plain = st.recursive(
    st.none() | st.booleans() | st.integers(-2**62, 2**62) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4), max_leaves=12)
records = st.lists(st.one_of(st.integers(), st.text(max_size=12), st.binary(max_size=12),
                             st.tuples(st.text(max_size=4), st.integers())), max_size=20)
tables = st.lists(st.tuples(st.text(max_size=10), st.integers(-2**40, 2**40)),
                  max_size=30).map(lambda rows: pa.table({
                      "k": pa.array([r[0] for r in rows], pa.string()),
                      "v": pa.array([r[1] for r in rows], pa.int64())}))


def equal(a: Any, b: Any) -> bool:
    if isinstance(a, pa.Table) or isinstance(b, pa.Table):
        return isinstance(a, pa.Table) and isinstance(b, pa.Table) and a.equals(b)
    return bool(a == b)


def write_file(directory: str, name: str, raw: bytes) -> str:
    path = os.path.join(directory, name)
    with open(path, "wb") as f:
        f.write(raw)
    return path


# --- write-ahead log segments ----------------------------------------------------------


@FUZZ
@given(data=st.data(), block=st.one_of(records, tables),
       metadata=st.dictionaries(st.text(max_size=6), st.integers(0, 2**40), max_size=3))
def test_a_damaged_wal_block_is_an_error_naming_its_file(data: st.DataObject, block: Any,
                                                         metadata: dict[str, int]) -> None:
    with tempfile.TemporaryDirectory() as root:
        wal = WriteAheadLog(root, 0)
        block_id = ("input", 0, 7)
        path = wal.write(block_id, block, 5, metadata)
        with open(path, "rb") as f:
            valid = f.read()
        logged = read_block(path)
        assert logged.block_id == block_id and logged.num_records == 5
        assert logged.metadata == metadata and equal(logged.data, block)

        bad = data.draw(mutated(valid), label="damaged file")
        write_file(os.path.dirname(path), os.path.basename(path), bad)
        with pytest.raises(WALCorruptError) as caught:
            read_block(path)
        assert path in str(caught.value)
        # Recovery at start-up names it too: it is no block to replay silently.
        with pytest.raises(WALCorruptError, match="write-ahead log file"):
            list(wal.recover())


@FUZZ
@given(raw=st.binary(max_size=300))
def test_a_torn_wal_write_is_ignored_at_recovery(raw: bytes) -> None:
    # A crash before the rename leaves a temp file: that block was never acknowledged,
    # so its source still has it; the log drops it.
    with tempfile.TemporaryDirectory() as root:
        wal = WriteAheadLog(root, 0)
        kept = wal.write(("input", 0, 1), ["kept"], 1)
        torn = write_file(wal.directory, ".0-2.wal.tmp", raw)
        assert [b.path for b in wal.recover()] == [kept]
        assert not os.path.exists(torn)


@FUZZ
@given(header=plain, payload=st.binary(max_size=64))
def test_a_wal_header_of_any_shape_is_an_error_naming_the_file(header: Any,
                                                               payload: bytes) -> None:
    # What a damaged or foreign writer could leave in a header that passes the framing.
    from fastdstream.streaming.receiver import wal as wal_module

    body = json.dumps(header).encode()
    with tempfile.TemporaryDirectory() as root:
        path = os.path.join(root, "0-1.wal")
        with open(path, "wb") as f:
            f.write(wal_module.MAGIC + wal_module.encode_header(body) + body + payload)
        with pytest.raises(WALCorruptError) as caught:
            read_block(path)
        assert path in str(caught.value)


# --- streaming checkpoint files ---------------------------------------------------------

checkpoints = st.builds(
    Checkpoint,
    checkpoint_time=st.integers(0, 2**50), master=st.sampled_from(["local[2]", "x"]),
    app_name=st.text(max_size=10), batch_duration_ms=st.integers(1, 10**6),
    zero_time=st.integers(0, 2**50), checkpoint_dir=st.text(max_size=20),
    pending_times=st.lists(st.integers(0, 2**50), max_size=3).map(tuple),
    streams=st.dictionaries(st.integers(0, 50), st.builds(
        StreamCheckpoint, kind=st.text(max_size=8),
        data=st.dictionaries(st.integers(0, 2**50), plain, max_size=3),
        rdd_files=st.dictionaries(st.integers(0, 2**50), st.text(max_size=8), max_size=2)),
        max_size=3))


def normalised(checkpoint: Checkpoint) -> Checkpoint:
    """What a checkpoint reads back as (JSON has lists where it had tuples)."""
    return Checkpoint.from_json(json.loads(json.dumps(checkpoint.to_json())))


@FUZZ
@given(data=st.data(), checkpoint=checkpoints)
def test_a_damaged_checkpoint_file_is_an_error_naming_it(data: st.DataObject,
                                                         checkpoint: Checkpoint) -> None:
    valid = checkpoint.serialize()
    assert Checkpoint.deserialize(valid, "cp") == normalised(checkpoint)
    bad = data.draw(mutated(valid), label="damaged file")
    with pytest.raises(CheckpointError, match="checkpoint file /x/checkpoint-1"):
        Checkpoint.deserialize(bad, "/x/checkpoint-1")


@FUZZ
@given(body=st.one_of(plain, st.recursive(
    st.none() | st.integers() | st.floats() | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["id", "kind", "data", "rddFiles", "streams", "checkpointTime",
                         "master", "appName", "batchDurationMs", "zeroTime",
                         "checkpointDir", "pendingTimes"]), inner, max_size=12),
    max_leaves=30)))
def test_a_checkpoint_body_of_any_shape_is_an_error_or_a_checkpoint(body: Any) -> None:
    # A body that passes the checksum but not what this version wrote (a foreign or
    # future writer): read, or refused with the file named -- never another exception.
    from fastdstream.streaming.checkpoint import _HEADER, FORMAT_VERSION

    raw_body = json.dumps(body).encode()
    raw = frame(MAGIC, _HEADER, raw_body, FORMAT_VERSION) + raw_body
    try:
        Checkpoint.deserialize(raw, "/x/checkpoint-2")
    except CheckpointError as exc:
        assert "checkpoint file /x/checkpoint-2" in str(exc)


def test_a_deeply_nested_checkpoint_body_is_an_error_naming_the_file() -> None:
    from fastdstream.streaming.checkpoint import _HEADER, FORMAT_VERSION

    raw_body = b"[" * 100_000 + b"]" * 100_000
    raw = frame(MAGIC, _HEADER, raw_body, FORMAT_VERSION) + raw_body
    with pytest.raises(CheckpointError, match="checkpoint file /x/checkpoint-3"):
        Checkpoint.deserialize(raw, "/x/checkpoint-3")


@FUZZ
@given(data=st.data(), checkpoint=checkpoints)
def test_recovery_skips_a_damaged_newest_checkpoint_for_the_one_before(
        data: st.DataObject, checkpoint: Checkpoint) -> None:
    valid = checkpoint.serialize()
    with tempfile.TemporaryDirectory() as root:
        write_file(root, os.path.basename(checkpoint_path(root, 1000)), valid)
        write_file(root, os.path.basename(checkpoint_path(root, 2000)),
                   data.draw(mutated(valid), label="damaged newest file"))
        assert read_checkpoint(root) == normalised(checkpoint)


@FUZZ
@given(raw=st.binary(max_size=80), version=st.none() | st.integers(0, 3))
def test_unframe_reads_its_frames_or_says_what_is_wrong(raw: bytes, version: int | None
                                                        ) -> None:
    header = struct.Struct("<IIQ")
    try:
        body = unframe(raw, b"MAGIC\n", header, version)
    except FrameError as exc:
        assert str(exc)
    else:  # only a frame whose checksum and length match comes back
        assert raw.startswith(b"MAGIC\n")
        assert bytes(body) == raw[6 + header.size:]


# --- binary records (binaryRecordsStream, binaryRecords) --------------------------------


@FUZZ
@given(raw=st.binary(max_size=200), length=st.integers(1, 17))
@pytest.mark.parametrize("read", [read_binary_records, read_records],
                         ids=["binaryRecordsStream", "binaryRecords"])
def test_binary_records_are_the_file_cut_or_an_error_naming_it(
        read: Callable[[int, str], pa.Table], raw: bytes, length: int) -> None:
    with tempfile.TemporaryDirectory() as root:
        path = write_file(root, "records.bin", raw)
        if len(raw) % length:
            with pytest.raises(ValueError, match=path):
                read(length, path)
            return
        values = read(length, path).column("value").to_pylist()
        assert values == [raw[i:i + length] for i in range(0, len(raw), length)]


# --- Kafka payloads ----------------------------------------------------------------------

payload = st.none() | st.binary(max_size=12) | st.text(max_size=6).map(str.encode)


@FUZZ
@given(rows=st.lists(st.tuples(payload, payload), max_size=25))
def test_kafka_payloads_decode_as_python_does_or_name_the_record(
        rows: list[tuple[bytes | None, bytes | None]]) -> None:
    n = len(rows)
    table = pa.table({
        "key": pa.array([k for k, _ in rows], pa.binary()),
        "value": pa.array([v for _, v in rows], pa.binary()),
        "topic": pa.array(["t"] * n, pa.string()).dictionary_encode(),
        "partition": pa.array([3] * n, pa.int32()),
        "offset": pa.array(range(100, 100 + n), pa.int64()),
        "timestamp": pa.array([0] * n, pa.timestamp("ms")),
    }, schema=KAFKA_SCHEMA)
    expected: list[tuple[str | None, str | None]] = []
    bad: str | None = None
    for i, (k, v) in enumerate(rows):
        try:
            key = None if k is None else k.decode("utf-8")
        except UnicodeDecodeError:
            bad = f"t/3/offset {100 + i}: key"
            break
        try:
            value = None if v is None else v.decode("utf-8")
        except UnicodeDecodeError:
            bad = f"t/3/offset {100 + i}: value"
            break
        expected.append((key, value))
    if bad is not None:
        with pytest.raises(DecodeError, match=bad):
            Decoding().apply(table)
        return
    out = Decoding().apply(table)
    got = (list(zip(out.column("key").to_pylist(), out.column("value").to_pylist(),
                    strict=True)) if isinstance(out, pa.Table) else out)
    assert got == expected
    raw = Decoding(None, None).apply(table)  # no decoders: the bytes as they came
    assert list(zip(raw.column("key").to_pylist(), raw.column("value").to_pylist(),
                    strict=True)) == rows


# --- serde frames ------------------------------------------------------------------------


def cut_or_random(valid: bytes) -> st.SearchStrategy[bytes]:
    """``valid`` cut short, or random bytes: what any frame reader must refuse."""
    return st.one_of(st.integers(0, len(valid) - 1).map(lambda k: valid[:k]),
                     st.binary(max_size=2 * len(valid))).filter(lambda b: b != valid)


@FUZZ
@given(data=st.data(), value=st.one_of(records, tables))
def test_a_cut_or_random_partition_frame_is_a_serde_error(data: st.DataObject,
                                                          value: Any) -> None:
    valid = serde.encode_partition(value)
    assert equal(serde.decode_partition(valid), value)
    bad = data.draw(cut_or_random(valid), label="bad frame")
    with pytest.raises(serde.SerdeError, match=r"^partition: "):
        serde.decode_partition(bad)


@FUZZ
@given(data=st.data(), value=st.one_of(records, tables))
def test_a_damaged_pickle_file_is_an_error_naming_it_or_a_value(data: st.DataObject,
                                                                value: Any) -> None:
    # pickleFile reads frames nothing checksummed: every offset is checked (verify).
    valid = serde.encode_partition(value)
    bad = data.draw(mutated(valid), label="damaged file")
    with tempfile.TemporaryDirectory() as root:
        path = write_file(root, "part-00000", bad)
        try:
            got = read_pickled(path)
        except serde.SerdeError as exc:
            assert str(exc).startswith(f"pickle file {path}: partition: ")
            return
    # No checksum in a frame: a flipped bit may decode to another value, but a cut
    # frame is never read as a shorter partition.
    assert not valid.startswith(bad), f"a frame cut to {len(bad)} of {len(valid)} bytes"
    assert isinstance(got, pa.Table | list)


@FUZZ
@given(data=st.data(), value=plain)
def test_a_damaged_value_or_closure_frame_is_a_serde_error_or_a_value(
        data: st.DataObject, value: Any) -> None:
    for valid, load in ((serde.dumps(value), serde.loads),
                        (serde.dumps_function(len), serde.loads_function)):
        bad = data.draw(mutated(valid), label="damaged frame")
        try:
            load(bad)
        except serde.SerdeError:
            continue
        assert not valid.startswith(bad), "a cut frame decoded"
        bad = data.draw(cut_or_random(valid), label="cut or random frame")
        with pytest.raises(serde.SerdeError):
            load(bad)
