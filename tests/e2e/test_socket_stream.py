"""Socket text streams against a real TCP server on 127.0.0.1."""

from __future__ import annotations

import operator
import sys
from pathlib import Path

import pytest

from fastdstream import DecodeError
from fastdstream.testing import ManualStreaming, child_process, wait_until
from fastdstream.testing.line_server import LineServer

pytestmark = pytest.mark.e2e


def word_counts(stream):
    batches: list = []
    stream.foreachRDD(lambda rdd: batches.append(dict(rdd.collect())))
    return batches


def test_socket_word_count_columnar_and_lambda_agree(master, line_server: LineServer) -> None:
    streaming = ManualStreaming(master=master)
    try:
        lines = streaming.ssc.socketTextStream(*line_server.address)
        lambdas = word_counts(lines.flatMap(lambda line: line.split())
                              .map(lambda w: (w, 1)).reduceByKey(operator.add))
        columnar = word_counts(lines.flatMap(str.split).countByValue())
        streaming.start()
        assert line_server.wait_for_clients(1, timeout=10)
        text = ["to be or not to be", "that is the question", "", "to be"]
        line_server.send_lines(text)
        streaming.cut_blocks(lines._id, len(text))
        streaming.run_batches(1)
        expected = {"to": 3, "be": 3, "or": 1, "not": 1, "that": 1, "is": 1, "the": 1,
                    "question": 1}
        assert lambdas == [expected]
        assert columnar == [expected]
    finally:
        streaming.stop()


def test_receiver_reconnects_when_the_server_closes(master, line_server: LineServer) -> None:
    streaming = ManualStreaming(master=master)
    try:
        lines = streaming.ssc.socketTextStream(*line_server.address)
        seen: list = []
        lines.foreachRDD(lambda rdd: seen.extend(rdd.collect()))
        streaming.start()
        assert line_server.wait_for_clients(1, timeout=10)
        line_server.send_lines(["before"])
        streaming.cut_blocks(lines._id, 1)
        line_server.disconnect_clients()
        # the receiver notices EOF, logs it and reconnects after the restart delay
        assert line_server.wait_for_clients(1, timeout=10)
        line_server.send_lines(["after"])
        streaming.cut_blocks(lines._id, 2)
        streaming.run_batches(1)
        assert seen == ["before", "after"]
    finally:
        streaming.stop()


def test_invalid_utf8_fails_loudly_naming_the_source(master, line_server: LineServer) -> None:
    streaming = ManualStreaming(master=master)
    try:
        lines = streaming.ssc.socketTextStream(*line_server.address)
        lines.foreachRDD(lambda rdd: None)
        streaming.start()
        assert line_server.wait_for_clients(1, timeout=10)
        line_server.send_bytes(b"fine\nbad \xff\xfe here\n")
        with pytest.raises(DecodeError) as info:
            streaming.ssc.awaitTerminationOrTimeout(10)
        message = str(info.value)
        assert f"127.0.0.1:{line_server.port}" in message
        assert "line 2" in message and "byte offset 9" in message
        streaming.recorder.wait_for_event("receiverError")
    finally:
        streaming.stop()


def test_lines_before_an_invalid_one_in_the_same_chunk_are_stored(
        master, line_server: LineServer, reliability) -> None:
    streaming = ManualStreaming(master=master)
    try:
        lines = streaming.ssc.socketTextStream(*line_server.address)
        seen: list = []
        lines.foreachRDD(lambda rdd: seen.extend(rdd.collect()))
        streaming.start()
        assert line_server.wait_for_clients(1, timeout=10)
        # One send, one chunk: two good lines, then a bad one, then one never read.
        line_server.send_bytes(b"one\ntwo\nbad \xff\nlater\n")
        streaming.cut_blocks(lines._id, 2)
        streaming.run_batches(1)
        assert seen == ["one", "two"]
        with pytest.raises(DecodeError) as info:
            streaming.ssc.awaitTerminationOrTimeout(10)
        message = str(info.value)
        assert f"127.0.0.1:{line_server.port}" in message
        reliability.record(
            "socket text stream: 2 valid lines, then one not UTF-8, in one chunk",
            "the valid lines are stored, then the receiver stops with a DecodeError naming "
            "source, line, offset and how many lines were delivered",
            lines_processed=len(seen), error=type(info.value).__name__)
        assert "line 3 (byte offset 12)" in message
        assert "2 line(s) received" in message and "were stored" in message
    finally:
        streaming.stop()


def test_a_line_longer_than_max_line_bytes_stops_the_receiver(
        master, line_server: LineServer, reliability) -> None:
    streaming = ManualStreaming(master=master, conf={"fastdstream.text.maxLineBytes": "1k"})
    try:
        lines = streaming.ssc.socketTextStream(*line_server.address)
        seen: list = []
        lines.foreachRDD(lambda rdd: seen.extend(rdd.collect()))
        streaming.start()
        assert line_server.wait_for_clients(1, timeout=10)
        line_server.send_bytes(b"short\n" + b"x" * 2000)
        streaming.cut_blocks(lines._id, 1)
        streaming.run_batches(1)
        assert seen == ["short"]
        with pytest.raises(DecodeError) as info:
            streaming.ssc.awaitTerminationOrTimeout(10)
        message = str(info.value)
        assert f"127.0.0.1:{line_server.port}" in message
        reliability.record(
            "socket text stream: a line of 2,000 bytes without newline, "
            "fastdstream.text.maxLineBytes=1k", "the lines before it are stored, then the "
            "receiver stops with a DecodeError naming source, line and offset",
            lines_processed=len(seen), error=type(info.value).__name__)
        assert "line 2 (byte offset 6) is longer than 1024 bytes" in message
        assert "fastdstream.text.maxLineBytes" in message
    finally:
        streaming.stop()


def test_replace_policy_substitutes_and_keeps_the_line(master, line_server: LineServer) -> None:
    streaming = ManualStreaming(master=master, conf={"fastdstream.text.decodeErrors": "replace"})
    try:
        lines = streaming.ssc.socketTextStream(*line_server.address)
        seen: list = []
        lines.foreachRDD(lambda rdd: seen.extend(rdd.collect()))
        streaming.start()
        assert line_server.wait_for_clients(1, timeout=10)
        line_server.send_bytes(b"ok\nbad \xff\n")
        streaming.cut_blocks(lines._id, 2)
        streaming.run_batches(1)
        assert seen == ["ok", "bad \ufffd"]
    finally:
        streaming.stop()


def test_unreachable_server_is_reported_and_retried(master) -> None:
    with LineServer() as server:
        host, port = server.address
    # nothing listens on the port any more
    streaming = ManualStreaming(master=master)
    try:
        streaming.ssc.socketTextStream(host, port).foreachRDD(lambda rdd: None)
        streaming.start()
        event = streaming.recorder.wait_for_event("receiverError")
        assert f"{host}:{port}" in event.receiverInfo().lastErrorMessage()
    finally:
        streaming.stop()


def test_network_wordcount_example_runs(tmp_path: Path) -> None:
    example = (Path(__file__).resolve().parents[2] / "src" / "fastdstream" / "examples"
               / "network_wordcount.py")
    result = child_process.run(
        [sys.executable, str(example), "--seconds", "2.5", "--batch", "0.5"], timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("Time: ") >= 3
    assert "('batch', " in result.stdout  # a word of the demo text, with its count


def test_socket_stream_on_system_clock(line_server: LineServer) -> None:
    """The real-time path: blocks and batches cut by the system clock."""
    from fastdstream import Context, StreamingContext

    ssc = StreamingContext(Context("local[2]", conf={"spark.streaming.blockInterval": "20ms"}),
                           0.05)
    seen: list = []
    ssc.socketTextStream(*line_server.address).flatMap(str.split).countByValue().foreachRDD(
        lambda rdd: seen.extend(rdd.collect()))
    ssc.start()
    try:
        assert line_server.wait_for_clients(1, timeout=10)
        line_server.send_lines(["x y"] * 100)
        wait_until(lambda: sum(n for _, n in seen) == 200, timeout=10, what="all words counted")
    finally:
        ssc.stop()
    totals: dict = {}
    for word, n in seen:
        totals[word] = totals.get(word, 0) + n
    assert totals == {"x": 100, "y": 100}
