"""Overload: a socket receiver fed as fast as TCP goes, a job slower than that.

The job runs in its own process (its RSS is the job's alone); the test is the server,
sending the same lines for ``SEND_S`` seconds as fast as the socket takes them, then
closing. Before the receivers kept to a rate or a bound, RSS grew by ~90 MB/s and the
scheduling delay by ~0.45 s per second. Now, with backpressure the receiver's rate
follows the job; with the memory bound alone, store() waits at the bound; either way
TCP flow control slows the sender down, RSS and delay level off, and every line sent
is processed. The figures are printed (``pytest -s``); the assertions allow generous
margins and never assert speed.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from fastdstream.testing import child_process

pytestmark = pytest.mark.e2e

JOB = Path(__file__).with_name("receiver_overload_job.py")
SEND_S = 20.0
PROCESS_RATE = 100_000  # lines per second the job takes
LINE = b"an overloaded receiver must slow its sender down, not grow\n"  # 59 bytes
CHUNK = LINE * 1024
MB = 1 << 20


@dataclass
class Run:
    sent: int = 0
    batches: list[dict] = field(default_factory=list)
    rss: list[tuple[float, int]] = field(default_factory=list)  # (seconds, bytes)

    @property
    def processed(self) -> int:
        return sum(b["records"] for b in self.batches)


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


def overload(conf: dict[str, str]) -> Run:
    run = Run()
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    args = [sys.executable, str(JOB), "--port", str(port), "--process-rate", str(PROCESS_RATE)]
    for key, value in conf.items():
        args += ["--conf", f"{key}={value}"]
    job = child_process.start(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    cond = threading.Condition()

    def read_reports() -> None:
        assert job.stdout is not None
        for line in job.stdout:
            report = json.loads(line)
            with cond:
                if "batch" in report:
                    run.batches.append(report)
                cond.notify_all()

    reader = threading.Thread(target=read_reports, daemon=True)
    reader.start()
    try:
        server.settimeout(30)
        conn, _ = server.accept()  # the receiver (it reconnects later to a silent backlog)
        start = time.monotonic()
        run.rss.append((0.0, rss_bytes(job.pid)))
        stop_sampling = threading.Event()

        def sample() -> None:
            while not stop_sampling.wait(0.5):
                run.rss.append((time.monotonic() - start, rss_bytes(job.pid)))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        while time.monotonic() - start < SEND_S:
            conn.sendall(CHUNK)  # blocks while the receiver does not read
            run.sent += len(CHUNK) // len(LINE)
        conn.shutdown(socket.SHUT_WR)
        conn.close()
        with cond:  # every line sent is processed
            cond.wait_for(lambda: run.processed >= run.sent, timeout=60)
        stop_sampling.set()
        sampler.join()
    finally:
        assert job.stdin is not None
        job.stdin.close()
        try:
            job.wait(30)
        except subprocess.TimeoutExpired:
            job.kill()
            job.wait()
        server.close()
        reader.join(10)
    return run


def report(name: str, run: Run) -> dict[str, object]:
    sending = [b for b in run.batches if b["scheduling_ms"] >= 0]
    figures = {
        "lines sent": run.sent, "lines processed": run.processed,
        "RSS start MB": run.rss[0][1] // MB, "RSS max MB": max(r for _, r in run.rss) // MB,
        "RSS end MB": run.rss[-1][1] // MB,
        "max scheduling delay s": max(b["scheduling_ms"] for b in sending) / 1000,
        "batches": len(run.batches), "rate at end": run.batches[-1]["rate"],
    }
    print(f"\n{name}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))
    return figures


def assert_levels_off(run: Run, max_growth_mb: int) -> None:
    assert run.processed == run.sent, "lines were lost (or counted twice)"
    halves = [[r for t, r in run.rss if t < SEND_S / 2], [r for t, r in run.rss if t >= SEND_S / 2]]
    # Without a bound RSS grew ~90 MB/s: in the second half it would be ~900 MB higher.
    assert max(halves[1]) - max(halves[0]) < 150 * MB, run.rss
    assert max(halves[1]) - run.rss[0][1] < max_growth_mb * MB, run.rss
    # The delay stays bounded instead of growing with every batch.
    late = [b["scheduling_ms"] for b in run.batches
            if b["batch"] >= run.batches[0]["batch"] + SEND_S * 500]
    assert max(late) < 15_000, run.batches


def test_backpressure_keeps_rss_and_delay_level_and_loses_nothing(reliability) -> None:
    run = overload({"spark.streaming.backpressure.enabled": "true",
                    "spark.streaming.backpressure.initialRate": "50000"})
    reliability.record(
        f"socket receiver sent to as fast as TCP goes for {SEND_S:.0f} s, job takes "
        f"{PROCESS_RATE:,} lines/s; backpressure", "rate follows the job, TCP slows the "
        "sender: RSS and delay level off, every line processed", **report("backpressure", run))
    assert_levels_off(run, max_growth_mb=400)
    # initialRate holds until the first estimate (the second batch's): ~1 s of it a batch
    for batch in run.batches[:2]:
        assert batch["records"] <= 50_000 * 1.5 + len(CHUNK) // len(LINE), run.batches
    # the estimate follows what the job takes (at most 100k lines/s), not the sender
    assert 0 < run.batches[-1]["rate"] <= 2 * PROCESS_RATE, run.batches


def test_memory_bound_alone_keeps_rss_and_delay_level_and_loses_nothing(reliability) -> None:
    run = overload({"fastdstream.receiver.maxBufferedBytes": "16m"})
    reliability.record(
        f"socket receiver sent to as fast as TCP goes for {SEND_S:.0f} s, job takes "
        f"{PROCESS_RATE:,} lines/s; memory bound alone", "store() waits at the bound, TCP "
        "slows the sender: RSS and delay level off, every line processed",
        **report("memory bound 16m", run))
    assert_levels_off(run, max_growth_mb=400)
    assert max(b["buffered_bytes"] for b in run.batches) <= 16 * MB + len(CHUNK) * 2
