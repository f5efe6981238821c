"""SIGTERM and SIGINT: nothing installed by default; with
``spark.streaming.stopGracefullyOnShutdown`` a graceful stop first (as Spark's hook)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from fastdstream import Context, StreamingContext
from fastdstream.testing import ManualStreaming, child_process, wait_until

JOB = Path(__file__).with_name("shutdown_signal_job.py")
LINES = [f"line-{i}" for i in range(2000)]


def run_job(tmp_path: Path, master: str, *flags: str) -> tuple[subprocess.Popen[str], Path]:
    source = tmp_path / "input.txt"
    source.write_text("".join(f"{line}\n" for line in LINES), encoding="utf-8")
    out, ready = tmp_path / "out.txt", tmp_path / "ready"
    job = child_process.start(
        [sys.executable, str(JOB), "--input", str(source), "--out", str(out),
         "--ready", str(ready), "--master", master, *flags],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # 90 s: on ray the job starts a Ray of its own and two actor processes, ~20 s
        # on this loaded 2-core machine.
        wait_until(lambda: ready.exists() or job.poll() is not None, timeout=90,
                   what="the job to start and its receiver to store every line")
    except BaseException:
        job.kill()
        job.communicate()
        raise
    assert job.poll() is None, job.communicate()[0]
    return job, out


def finish(job: subprocess.Popen[str]) -> tuple[int, str]:
    try:
        output, _ = job.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        job.kill()
        output, _ = job.communicate()
        pytest.fail(f"the job did not exit after the signal:\n{output}")
    return job.returncode, output


@pytest.mark.parametrize("master", ["local[2]", "local-cluster[2,1,1024]", "ray"])
def test_sigterm_with_stop_gracefully_on_shutdown_processes_what_was_received(
        master: str, tmp_path: Path, reliability) -> None:
    job, out = run_job(tmp_path, master, "--graceful")
    job.send_signal(signal.SIGTERM)
    returncode, output = finish(job)
    processed = out.read_text(encoding="utf-8").splitlines() if out.exists() else []
    reliability.record(
        "SIGTERM with spark.streaming.stopGracefullyOnShutdown=true",
        "graceful stop (received data processed, commits flushed), then exit by SIGTERM",
        lines_sent=len(LINES), lines_processed=len(processed),
        lost=len(set(LINES) - set(processed)), exit_code=returncode)
    # Every line received was processed, and then the process ended as SIGTERM ends it.
    assert processed == LINES, output
    assert returncode == -signal.SIGTERM, output
    assert "SIGTERM received: stopping gracefully" in output
    assert "awaitTermination returned" not in output


def test_sigterm_by_default_ends_the_process_at_once(tmp_path: Path) -> None:
    # No handler of ours: Python's default. With a manual clock no batch ever ran, and
    # none runs on the way out.
    job, out = run_job(tmp_path, "local[2]", "--manual-clock")
    job.send_signal(signal.SIGTERM)
    returncode, output = finish(job)
    assert returncode == -signal.SIGTERM, output
    assert not out.exists()
    assert "stopping gracefully" not in output


def test_handlers_are_installed_only_when_asked_and_restored_by_stop() -> None:
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    streaming = ManualStreaming()
    streaming.ssc.queueStream([[1]]).foreachRDD(lambda rdd: None)
    streaming.start()
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
    streaming.stop()

    ssc = StreamingContext(
        Context("local[2]", conf={"spark.streaming.stopGracefullyOnShutdown": "true",
                                  "spark.streaming.clock": "manual"}), 1)
    ssc.queueStream([[1]]).foreachRDD(lambda rdd: None)
    ssc.start()
    try:
        assert signal.getsignal(signal.SIGTERM) != before[0]
        assert signal.getsignal(signal.SIGINT) != before[1]
    finally:
        ssc.stop()
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_sigint_with_the_setting_stops_gracefully_then_raises_keyboard_interrupt() -> None:
    before = signal.getsignal(signal.SIGINT)
    ssc = StreamingContext(
        Context("local[2]", conf={"spark.streaming.stopGracefullyOnShutdown": "true",
                                  "spark.streaming.clock": "manual"}), 1)
    ssc.queueStream([[1]]).foreachRDD(lambda rdd: None)
    ssc.start()
    with pytest.raises(KeyboardInterrupt):
        signal.raise_signal(signal.SIGINT)
    assert StreamingContext.getActive() is None
    assert ssc.awaitTerminationOrTimeout(0) is True
    assert signal.getsignal(signal.SIGINT) == before
