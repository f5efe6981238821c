"""textFileStream and binaryRecordsStream on a real directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fastdstream import DecodeError
from fastdstream.testing import ManualStreaming, wait_until


def move_in(directory: Path, name: str, data: bytes, mtime_ms: int) -> Path:
    """Write elsewhere, then rename into the watched directory (atomic, as Spark expects),
    with a modification time on the streaming clock (tests run on a manual clock)."""
    staging = directory / f".{name}.tmp"
    staging.write_bytes(data)
    path = directory / name
    os.rename(staging, path)
    set_mtime(path, mtime_ms)
    return path


def set_mtime(path: Path, mtime_ms: int) -> None:
    os.utime(path, ns=(mtime_ms * 1_000_000, mtime_ms * 1_000_000))


def test_text_file_stream_reads_new_files_only(manual: ManualStreaming, tmp_path: Path) -> None:
    (tmp_path / "old.txt").write_text("ignored\n")
    set_mtime(tmp_path / "old.txt", 0)  # at the start time: there before the stream
    lines = manual.ssc.textFileStream(str(tmp_path))
    batches: list = []
    lines.foreachRDD(lambda rdd: batches.append(sorted(rdd.collect())))
    manual.start()
    move_in(tmp_path, "a.txt", b"one\ntwo\r\n", 400)
    move_in(tmp_path, "b.txt", b"three", 900)
    manual.run_batches(1)
    manual.run_batches(1)
    move_in(tmp_path, "c.txt", b"four\n", 2500)
    (tmp_path / "_partial").write_text("skipped\n")
    set_mtime(tmp_path / "_partial", 2500)
    manual.run_batches(1)
    assert batches == [["one", "three", "two"], [], ["four"]]


def test_text_file_stream_decode_error_names_the_file(manual: ManualStreaming,
                                                      tmp_path: Path) -> None:
    manual.ssc.textFileStream(str(tmp_path)).foreachRDD(lambda rdd: rdd.count())
    manual.start()
    move_in(tmp_path, "bad.txt", b"ok\n\xc3\x28\n", 500)
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
    move_in(tmp_path, "r.bin", b"abcdEFGH1234", 500)
    manual.run_batches(1)
    assert batches == [[b"abcd", b"EFGH", b"1234"]]


def test_binary_records_of_wrong_size_fail_naming_the_file(manual: ManualStreaming,
                                                           tmp_path: Path) -> None:
    manual.ssc.binaryRecordsStream(str(tmp_path), 4).foreachRDD(lambda rdd: rdd.count())
    manual.start()
    move_in(tmp_path, "short.bin", b"abcdef", 500)
    manual.run_batches(1)
    with pytest.raises(Exception, match=r"short\.bin.*not a multiple of the record length 4"):
        manual.ssc.awaitTerminationOrTimeout(1)


def test_missing_directory_fails_at_start(manual: ManualStreaming, tmp_path: Path) -> None:
    manual.ssc.textFileStream(str(tmp_path / "nope")).foreachRDD(lambda rdd: None)
    with pytest.raises(FileNotFoundError, match="nope"):
        manual.start()


def test_files_present_at_start_are_ignored_even_within_the_window(tmp_path: Path) -> None:
    streaming = ManualStreaming()
    try:
        streaming.clock.set_time(100_000)  # batches at 101 s, 102 s, ...
        move_in(tmp_path, "before.txt", b"old\n", 99_500)
        move_in(tmp_path, "at_start.txt", b"old\n", 100_000)
        batches: list = []
        streaming.ssc.textFileStream(str(tmp_path)).foreachRDD(
            lambda rdd: batches.append(sorted(rdd.collect())))
        streaming.start()
        move_in(tmp_path, "after.txt", b"new\n", 100_001)
        streaming.run_batches(2)
        assert batches == [["new"], []]
    finally:
        streaming.stop()


def test_a_file_newer_than_its_batch_waits_for_the_batch_of_its_time(
        manual: ManualStreaming, tmp_path: Path) -> None:
    lines = manual.ssc.textFileStream(str(tmp_path))
    batches: list = []
    lines.foreachRDD(lambda time, rdd: batches.append(sorted(rdd.collect())))
    manual.start()
    # All visible before the first batch; each belongs to the batch its time falls in.
    move_in(tmp_path, "one.txt", b"1\n", 1000)  # at the batch time: batch 1 s
    move_in(tmp_path, "two.txt", b"2\n", 1001)
    move_in(tmp_path, "three.txt", b"3\n", 2500)
    manual.run_batches(3)
    assert batches == [["1"], ["2"], ["3"]]
    files = manual.ssc._job_scheduler.input_info_tracker.get_info(2000)[lines._id].metadata()
    assert files["files"] == (str(tmp_path / "two.txt"),)


def test_a_file_visible_late_is_read_once_by_the_next_batch(
        manual: ManualStreaming, tmp_path: Path) -> None:
    lines = manual.ssc.textFileStream(str(tmp_path))
    batches: list = []
    lines.foreachRDD(lambda rdd: batches.append(sorted(rdd.collect())))
    manual.start()
    move_in(tmp_path, "a.txt", b"a\n", 500)
    manual.run_batches(1)
    # Modified at 0.8 s but visible only now (a slow copy, a listing that lags): within
    # the remember window and not selected before, so batch 2 takes it, and no later one.
    move_in(tmp_path, "late.txt", b"late\n", 800)
    manual.run_batches(3)
    assert batches == [["a"], ["late"], [], []]


def test_computing_a_batch_again_gives_the_same_files(manual: ManualStreaming,
                                                       tmp_path: Path) -> None:
    lines = manual.ssc.textFileStream(str(tmp_path))
    lines.foreachRDD(lambda rdd: rdd.count())
    manual.start()
    move_in(tmp_path, "a.txt", b"a\n", 500)
    manual.run_batches(1)
    move_in(tmp_path, "late.txt", b"late\n", 700)  # a fresh listing for 1 s would take it
    assert lines._compute(1000).collect() == ["a"]
    assert lines._batch_time_to_selected_files[1000] == [str(tmp_path / "a.txt")]
    manual.run_batches(1)
    assert lines._batch_time_to_selected_files[2000] == [str(tmp_path / "late.txt")]


def remembering(seconds: int) -> ManualStreaming:
    return ManualStreaming(conf={"spark.streaming.fileStream.minRememberDuration": f"{seconds}s"})


def test_old_batches_are_forgotten_and_their_files_stay_ignored(tmp_path: Path) -> None:
    streaming = remembering(3)
    try:
        lines = streaming.ssc.textFileStream(str(tmp_path))
        batches: list = []
        lines.foreachRDD(lambda rdd: batches.append(sorted(rdd.collect())))
        streaming.start()
        move_in(tmp_path, "first.txt", b"first\n", 500)
        streaming.run_batches(6)
        selected = lines._batch_time_to_selected_files
        # After batch 6 s completes, batches before 6 s - 3 s are forgotten.
        wait_until(lambda: min(selected) == 3000, what="batches before 3 s forgotten")
        assert sorted(selected) == [3000, 4000, 5000, 6000]
        assert lines._recently_selected_files == set()
        # first.txt is no longer remembered as selected, yet its time is behind the
        # window: not read again. Nor is a file that shows up with an old time.
        move_in(tmp_path, "stale.txt", b"stale\n", 2500)
        move_in(tmp_path, "fresh.txt", b"fresh\n", 6500)
        streaming.run_batches(1)
        assert batches == [["first"], [], [], [], [], [], ["fresh"]]
    finally:
        streaming.stop()


def test_the_batch_to_files_map_stays_bounded_over_many_batches(tmp_path: Path) -> None:
    streaming = remembering(3)
    try:
        lines = streaming.ssc.textFileStream(str(tmp_path))
        batches: list = []
        lines.foreachRDD(lambda rdd: batches.append(rdd.collect()))
        streaming.start()
        sizes = []
        for i in range(1, 41):
            move_in(tmp_path, f"f{i:02}.txt", f"{i}\n".encode(), i * 1000 - 500)
            streaming.run_batches(1)
            sizes.append((len(lines._batch_time_to_selected_files),
                          len(lines._recently_selected_files)))
        assert batches == [[str(i)] for i in range(1, 41)]  # every file read, once
        # The window (3 s) plus the batch just completed, and one not yet cleared.
        assert max(n for n, _ in sizes) <= 5 and max(n for _, n in sizes) <= 5
    finally:
        streaming.stop()


def test_a_file_changed_after_its_batch_selected_it_is_warned_about_once(
        manual: ManualStreaming, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    lines = manual.ssc.textFileStream(str(tmp_path))
    batches: list = []
    lines.foreachRDD(lambda rdd: batches.append(sorted(rdd.collect())))
    manual.start()
    path = move_in(tmp_path, "inplace.txt", b"one\n", 500)
    move_in(tmp_path, "steady.txt", b"steady\n", 600)
    manual.run_batches(1)
    # Written in place: the writer goes on after batch 1 read the file.
    with caplog.at_level("WARNING", logger="fastdstream.sources.file_stream"):
        with open(path, "ab") as f:
            f.write(b"two\n")
        set_mtime(path, 1500)
        manual.run_batches(1)
        with open(path, "ab") as f:
            f.write(b"three\n")
        set_mtime(path, 2500)
        manual.run_batches(1)
    assert batches == [["one", "steady"], [], []]
    warnings = [r.getMessage() for r in caplog.records if "changed after" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert str(path) in warnings[0] and "4 -> 8 bytes" in warnings[0]
    assert "fastdstream.fileStream.minFileAge" in warnings[0]


def test_min_file_age_waits_until_a_file_is_quiet(tmp_path: Path) -> None:
    # A 1 s remember window alone would ignore a file 2 s old as too old; minFileAge
    # widens the window to its age plus a batch, so the file is read once quiet.
    streaming = ManualStreaming(conf={"spark.streaming.fileStream.minRememberDuration": "1s",
                                      "fastdstream.fileStream.minFileAge": "2s"})
    try:
        lines = streaming.ssc.textFileStream(str(tmp_path))
        batches: list = []
        lines.foreachRDD(lambda rdd: batches.append(sorted(rdd.collect())))
        streaming.start()
        path = tmp_path / "growing.txt"
        path.write_bytes(b"a\n")
        set_mtime(path, 500)
        move_in(tmp_path, "quiet.txt", b"q\n", 400)
        streaming.run_batches(1)  # 1 s: both too young
        with open(path, "ab") as f:
            f.write(b"b\n")
        set_mtime(path, 1800)  # still written: young again
        streaming.run_batches(2)  # 2 s, 3 s: quiet.txt is 2.6 s old at 3 s
        streaming.run_batches(2)  # 4 s: growing.txt 2.2 s old; 5 s: nothing new
        assert batches == [[], [], ["q"], ["a", "b"], []]
    finally:
        streaming.stop()


def test_min_file_age_must_not_be_negative(tmp_path: Path) -> None:
    streaming = ManualStreaming(conf={"fastdstream.fileStream.minFileAge": "-1"})
    try:
        with pytest.raises(ValueError):
            streaming.ssc.textFileStream(str(tmp_path))
    finally:
        streaming.stop()


def test_a_text_file_line_longer_than_max_line_bytes_fails_naming_the_file(
        tmp_path: Path) -> None:
    streaming = ManualStreaming(conf={"fastdstream.text.maxLineBytes": "8"})
    try:
        streaming.ssc.textFileStream(str(tmp_path)).foreachRDD(lambda rdd: rdd.count())
        streaming.start()
        move_in(tmp_path, "long.txt", b"short\n0123456789\n", 500)
        streaming.run_batches(1)
        with pytest.raises(Exception) as info:
            streaming.ssc.awaitTerminationOrTimeout(1)
        assert isinstance(info.value.__cause__, DecodeError)
        assert "long.txt: line 2 (byte offset 6) is longer than 8 bytes" in str(info.value)
    finally:
        streaming.stop()
