"""What a running job logs: a line for each batch that falls behind (none for healthy
ones), and a receiver that cannot connect logged in full once, then a line per retry."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator

import pytest

from fastdstream.clock import batch_time_text
from fastdstream.testing import ManualStreaming, wait_until

SCHEDULER = "fastdstream.streaming.scheduler.job_scheduler"
SUPERVISOR = "fastdstream.streaming.receiver.supervisor"


@pytest.fixture
def streaming() -> Iterator[ManualStreaming]:
    # Logging happens on the driver whatever the back end: one back end is enough.
    manual = ManualStreaming(batch_seconds=1.0)
    yield manual
    manual.stop()


def test_only_slow_or_late_batches_log_a_line(streaming: ManualStreaming,
                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=SCHEDULER)
    interval = streaming.batch_ms
    calls: list[int] = []

    def output(rdd) -> None:
        calls.append(rdd.count())
        if len(calls) == 2:  # the second batch takes 2.5 intervals on the manual clock:
            streaming.clock.advance(interval)  # the third comes due and is submitted...
            wait_until(lambda: len(streaming.recorder.events_named("batchSubmitted")) >= 3)
            streaming.clock.advance(interval * 3 // 2)  # ...and waits 1.5 intervals for it

    streaming.collect(streaming.input([[1], [2], [3], [4]]))
    streaming.input().foreachRDD(output)
    streaming.run_batches(1)
    assert caplog.records == []  # a healthy batch says nothing

    streaming.clock.advance(interval)
    streaming.recorder.wait_for_batches(4)
    times = [info.batchTime().milliseconds() for info in streaming.recorder.completed]
    assert [r.getMessage() for r in caplog.records] == [
        f"batch {batch_time_text(times[1])} is slow: processing took 2500 ms, scheduling "
        "delay 0 ms, batch interval 1000 ms (2 output operation(s), 0 records)",
        f"batch {batch_time_text(times[2])} is late: processing took 0 ms, scheduling "
        "delay 1500 ms, batch interval 1000 ms (2 output operation(s), 0 records)",
    ]  # the fourth, on time again, says nothing
    assert all(r.levelno == logging.INFO for r in caplog.records)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_receiver_that_cannot_connect_logs_its_traceback_once(
        streaming: ManualStreaming, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=SUPERVISOR)
    port = _closed_port()
    streaming.ssc.socketTextStream("127.0.0.1", port).count().foreachRDD(lambda rdd: None)
    streaming.start()
    # Retries come every restartDelay (20 ms here); listeners hear of every failure.
    wait_until(lambda: len(streaming.recorder.events_named("receiverError")) >= 4,
               what="four failed connections")
    wait_until(lambda: sum("Restarting" in r.getMessage() for r in caplog.records) >= 4,
               what="four restarts logged")
    streaming.stop()

    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert f"Error connecting to 127.0.0.1:{port}" in errors[0].getMessage()
    assert "Traceback" in errors[0].getMessage()
    assert "ConnectionRefusedError" in errors[0].getMessage()

    restarts = [r.getMessage() for r in caplog.records if "Restarting" in r.getMessage()]
    assert "retry" not in restarts[0]
    for n, line in enumerate(restarts[1:4], start=2):
        assert f"(retry {n} after the same error)" in line, line
        assert "\n" not in line and "ConnectionRefusedError" in line
    last_error = streaming.recorder.events_named("receiverError")[-1].receiverInfo()
    assert "ConnectionRefusedError" in last_error.lastError()  # listeners get it in full
