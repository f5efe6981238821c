"""textFileStream and binaryRecordsStream on a real directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fastdstream import DecodeError
from fastdstream.testing import ManualStreaming


def move_in(directory: Path, name: str, data: bytes) -> None:
    """Write elsewhere, then rename into the watched directory (atomic, as Spark expects)."""
    staging = directory / f".{name}.tmp"
    staging.write_bytes(data)
    os.rename(staging, directory / name)


def test_text_file_stream_reads_new_files_only(manual: ManualStreaming, tmp_path: Path) -> None:
    (tmp_path / "old.txt").write_text("ignored\n")
    lines = manual.ssc.textFileStream(str(tmp_path))
    batches: list = []
    lines.foreachRDD(lambda rdd: batches.append(sorted(rdd.collect())))
    manual.start()
    move_in(tmp_path, "a.txt", b"one\ntwo\r\n")
    move_in(tmp_path, "b.txt", b"three")
    manual.run_batches(1)
    manual.run_batches(1)
    move_in(tmp_path, "c.txt", b"four\n")
    (tmp_path / "_partial").write_text("skipped\n")
    manual.run_batches(1)
    assert batches == [["one", "three", "two"], [], ["four"]]


def test_text_file_stream_decode_error_names_the_file(manual: ManualStreaming,
                                                      tmp_path: Path) -> None:
    manual.ssc.textFileStream(str(tmp_path)).foreachRDD(lambda rdd: rdd.count())
    manual.start()
    move_in(tmp_path, "bad.txt", b"ok\n\xc3\x28\n")
    manual.run_batches(1)
    with pytest.raises(Exception) as info:
        manual.ssc.awaitTerminationOrTimeout(1)
    assert isinstance(info.value.__cause__, DecodeError)
    assert "bad.txt" in str(info.value) and "line 2" in str(info.value)


def test_binary_records_stream(manual: ManualStreaming, tmp_path: Path) -> None:
    records = manual.ssc.binaryRecordsStream(str(tmp_path), 4)
    batches: list = []
    records.foreachRDD(lambda rdd: batches.append(rdd.collect()))
    manual.start()
    move_in(tmp_path, "r.bin", b"abcdEFGH1234")
    manual.run_batches(1)
    assert batches == [[b"abcd", b"EFGH", b"1234"]]


def test_binary_records_of_wrong_size_fail_naming_the_file(manual: ManualStreaming,
                                                           tmp_path: Path) -> None:
    manual.ssc.binaryRecordsStream(str(tmp_path), 4).foreachRDD(lambda rdd: rdd.count())
    manual.start()
    move_in(tmp_path, "short.bin", b"abcdef")
    manual.run_batches(1)
    with pytest.raises(Exception, match=r"short\.bin.*not a multiple of the record length 4"):
        manual.ssc.awaitTerminationOrTimeout(1)


def test_missing_directory_fails_at_start(manual: ManualStreaming, tmp_path: Path) -> None:
    manual.ssc.textFileStream(str(tmp_path / "nope")).foreachRDD(lambda rdd: None)
    with pytest.raises(FileNotFoundError, match="nope"):
        manual.start()
