"""Streaming checkpoint files: format, atomic writes, fallback, cleanup, no code."""

from __future__ import annotations

import json
import logging
import os
import struct
import threading
from pathlib import Path

import pytest

from fastdstream.streaming.checkpoint import (
    FORMAT_VERSION,
    MAGIC,
    Checkpoint,
    CheckpointError,
    CheckpointWriter,
    StreamCheckpoint,
    checkpoint_files,
    checkpoint_path,
    read_checkpoint,
)
from fastdstream.streaming.dstream.checkpoint_data import DStreamCheckpointData
from fastdstream.testing import ManualStreaming, wait_until


def a_checkpoint(time_ms: int, data: object = None) -> Checkpoint:
    stream = StreamCheckpoint("DirectKafkaInputDStream",
                              {time_ms: data if data is not None else [["t", 0, 5, 9]]},
                              {time_ms - 1000: "/cp/uuid/rdd-7"})
    return Checkpoint(time_ms, "local[2]", "app", 1000, 0, "/cp", (time_ms,), {3: stream})


@pytest.fixture
def writer(tmp_path: Path):
    w = CheckpointWriter(str(tmp_path), keep=3)
    yield w
    w.stop()


def test_a_checkpoint_round_trips_through_its_file(writer, tmp_path: Path) -> None:
    original = a_checkpoint(5000)
    path = writer.write_now(original)
    assert path == checkpoint_path(str(tmp_path), 5000)
    assert read_checkpoint(str(tmp_path)) == original
    raw = Path(path).read_bytes()
    version, _, length = struct.unpack_from("<IIQ", raw, len(MAGIC))
    assert raw.startswith(MAGIC) and version == FORMAT_VERSION
    # The body is plain JSON: no pickled objects, no code.
    body = json.loads(raw[-length:])
    assert body["pendingTimes"] == [5000] and body["streams"][0]["id"] == 3


def test_a_checkpoint_never_holds_code(writer, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"stream 3 \(a DirectKafkaInputDStream\) saved "
                                              "something that is not plain data"):
        writer.write(a_checkpoint(1000, data=lambda: None))
    with pytest.raises(CheckpointError, match="not plain data"):
        writer.write_now(a_checkpoint(1000, data=object()))
    assert checkpoint_files(str(tmp_path)) == []


def test_a_running_job_writes_what_it_needs_to_recover(tmp_path: Path) -> None:
    streaming = ManualStreaming(conf={"spark.streaming.fileStream.minRememberDuration": "2s"})
    data = tmp_path / "data"
    data.mkdir()
    try:
        ssc = streaming.ssc
        files = ssc.textFileStream(str(data))
        files.pprint()
        ssc.checkpoint(str(tmp_path / "cp"))
        streaming.start()
        (data / "a").write_text("x\n")
        os.utime(data / "a", ns=(500_000_000, 500_000_000))
        streaming.run_batches(2)
        wait_until(lambda: os.path.exists(checkpoint_path(str(tmp_path / "cp"), 2000)),
                   what="the checkpoint of 2 s")
        ssc._checkpoint_writer.flush()  # type: ignore[union-attr]
    finally:
        streaming.stop()
    checkpoint = read_checkpoint(str(tmp_path / "cp"))
    assert checkpoint is not None
    assert (checkpoint.checkpoint_time, checkpoint.master, checkpoint.app_name,
            checkpoint.batch_duration_ms, checkpoint.zero_time, checkpoint.checkpoint_dir,
            checkpoint.pending_times) == (2000, "local[2]", "test", 1000, 0,
                                          str(tmp_path / "cp"), ())
    assert checkpoint.streams == {files._id: StreamCheckpoint(
        "FileInputDStream", {1000: [str(data / "a")], 2000: []}, {})}


def test_writes_are_atomic_and_leftover_temp_files_are_no_checkpoints(writer,
                                                                      tmp_path: Path) -> None:
    writer.write_now(a_checkpoint(1000))
    # A write that crashed half way leaves its temp file only.
    (tmp_path / ".checkpoint-2000.tmp").write_bytes(a_checkpoint(2000).serialize()[:20])
    assert [t for t, _ in checkpoint_files(str(tmp_path))] == [1000]
    checkpoint = read_checkpoint(str(tmp_path))
    assert checkpoint is not None and checkpoint.checkpoint_time == 1000
    writer.write(a_checkpoint(3000))
    writer.flush()
    assert sorted(os.listdir(tmp_path)) == [".checkpoint-2000.tmp", "checkpoint-1000",
                                            "checkpoint-3000"]


@pytest.mark.parametrize("damage", ["corrupt", "truncated", "empty", "other version"])
def test_an_unreadable_latest_checkpoint_falls_back_to_the_one_before(
        writer, tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str) -> None:
    writer.write_now(a_checkpoint(1000))
    latest = Path(writer.write_now(a_checkpoint(2000)))
    raw = bytearray(latest.read_bytes())
    if damage == "corrupt":
        raw[-3] ^= 0xFF
    elif damage == "truncated":
        raw = raw[:-7]
    elif damage == "empty":
        raw = bytearray()
    else:
        struct.pack_into("<I", raw, len(MAGIC), FORMAT_VERSION + 1)
    latest.write_bytes(bytes(raw))
    reason = {"corrupt": "checksum mismatch", "truncated": "truncated",
              "empty": "not a checkpoint file", "other version": "format version 2"}[damage]
    with caplog.at_level(logging.WARNING, logger="fastdstream.streaming.checkpoint"):
        checkpoint = read_checkpoint(str(tmp_path))
    assert checkpoint is not None and checkpoint.checkpoint_time == 1000
    skipped = [r.getMessage() for r in caplog.records if "skipping" in r.getMessage()]
    assert len(skipped) == 1 and f"checkpoint file {latest}: " in skipped[0]
    assert reason in skipped[0]
    assert "recovering from the older checkpoint" in caplog.text


def test_no_valid_checkpoint_is_an_error_naming_the_directory(writer, tmp_path: Path) -> None:
    path = Path(writer.write_now(a_checkpoint(1000)))
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(CheckpointError, match=f"no valid checkpoint in {tmp_path}: 1 "
                                              "checkpoint file(?s:.)*truncated"):
        read_checkpoint(str(tmp_path))


def test_no_checkpoint_file_means_a_fresh_start(tmp_path: Path) -> None:
    assert read_checkpoint(str(tmp_path / "missing")) is None
    (tmp_path / "receivedData").mkdir()
    assert read_checkpoint(str(tmp_path)) is None


def test_old_checkpoints_are_cleaned_up_keeping_the_last_few(writer, tmp_path: Path) -> None:
    done: list[int] = []
    for t in range(1000, 8000, 1000):
        writer.write(a_checkpoint(t), lambda t=t: done.append(t))
    writer.flush()
    assert done == list(range(1000, 8000, 1000))
    assert [t for t, _ in checkpoint_files(str(tmp_path))] == [7000, 6000, 5000]


def test_checkpoints_are_written_on_the_writer_thread_in_order(writer, tmp_path: Path) -> None:
    seen: list[tuple[str, bool]] = []
    for t in (1000, 2000):
        writer.write(a_checkpoint(t), lambda t=t: seen.append(
            (threading.current_thread().name,
             os.path.exists(checkpoint_path(str(tmp_path), t)))))
    writer.flush()
    assert seen == [("checkpoint-writer", True)] * 2


class ObjectSaving(DStreamCheckpointData):
    def update(self, time_ms: int) -> None:
        self.data = {time_ms: object()}


def test_a_stream_saving_something_not_plain_fails_its_batch_clearly(tmp_path: Path) -> None:
    streaming = ManualStreaming()
    try:
        stream = streaming.ssc.queueStream([], default=[1])
        stream._checkpoint_data = ObjectSaving(stream)
        stream.pprint()
        streaming.ssc.checkpoint(str(tmp_path))
        streaming.start()
        streaming.clock.advance(1000)
        error = streaming.take_error()
        assert isinstance(error, CheckpointError)
        assert ("checkpoint of 1000 ms: stream 0 (a QueueInputDStream) saved something that "
                "is not plain data") in str(error)
    finally:
        streaming.stop()
    assert checkpoint_files(str(tmp_path)) == []


def test_remember_needs_a_positive_duration() -> None:
    streaming = ManualStreaming()
    try:
        with pytest.raises(ValueError, match="remember duration must be positive, got 0 s"):
            streaming.ssc.remember(0)
        streaming.ssc.remember(30)
        assert streaming.ssc._graph.remember_ms == 30_000
    finally:
        streaming.stop()
