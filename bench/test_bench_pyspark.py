"""Socket word count against PySpark's DStream: the highest rate each keeps stable.

One program (``bench/pyspark_wordcount_job.py``) runs under PySpark 3.5 (from
``.venv-peers``; ``make bench`` installs it) and under fastdstream, each in its own
process, fed by the same line server (``LineServer``) in this process with the same
lines, one after the other in the same run:

- ``columnar``: ``lines.flatMap(str.split).countByValue()`` -- Arrow kernels in
  fastdstream, Python functions in PySpark;
- ``lambda``: ``flatMap(lambda line: line.split()).map(lambda w: (w, 1))
  .reduceByKey(add)``, Python functions in both; fastdstream on ``local[2]`` and on
  ``local-cluster[2,1,1024]`` (plain-Python functions get both cores in processes).

The offered rate climbs a ladder (``RAMP_START`` lines/s, times 1.5 a step, each step
``RAMP_STEP_SECONDS`` long, after a warm-up at 5,000 lines/s that lasts until two
batches in a row kept within the interval), sent in 20 slices a
second. A step is stable, as Spark's guide defines it, when the 1 s batches that lie
wholly within it were each processed within the interval and none waited for the one
before it (scheduling delay under the interval), the receiver took in at least 80% of
the lines offered and the sender kept to its schedule. The ramp stops after the first
unstable step; the figure is the rate of the last stable one (``extra_info``:
``stable_lines_per_s`` per engine, the ratios, and every step's delays). Beside it,
``lines_per_processing_s`` (lines per second of batch processing time over the
judged steps, the unstable step's batches awaited) gives a ratio also where a loaded
machine keeps a job from any stable step.

Run: ``make bench`` or ``pytest bench/test_bench_pyspark.py --benchmark-only -s``.
``FASTDSTREAM_BENCH_RAMP_START`` (default 10000), ``FASTDSTREAM_BENCH_RAMP_MAX``
(default 6000000) and ``FASTDSTREAM_BENCH_RAMP_STEP_SECONDS`` (default 3) set the ramp;
``FASTDSTREAM_BENCH_PEERS_PYTHON`` the peers' interpreter.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import pytest

from fastdstream.testing import child_process
from fastdstream.testing.line_server import DEMO_TEXT, LineServer

ROOT = Path(__file__).resolve().parent.parent
JOB = Path(__file__).resolve().parent / "pyspark_wordcount_job.py"
PEERS_PYTHON = os.environ.get("FASTDSTREAM_BENCH_PEERS_PYTHON",
                              str(ROOT / ".venv-peers" / "bin" / "python"))
RAMP_START = int(os.environ.get("FASTDSTREAM_BENCH_RAMP_START", "10000"))
RAMP_MAX = int(os.environ.get("FASTDSTREAM_BENCH_RAMP_MAX", "6000000"))
STEP_SECONDS = float(os.environ.get("FASTDSTREAM_BENCH_RAMP_STEP_SECONDS", "3"))
INTERVAL = 1.0
SLICES = 20  # sends a second
WARMUP_RATE = 5_000  # lines/s until the job runs steadily
WARMUP_SECONDS = 60
CYCLE_LINES = 1_000_000  # the lines sent go round this buffer


def ladder() -> list[int]:
    rates, rate = [], float(RAMP_START)
    while rate <= RAMP_MAX:
        rates.append(int(round(rate, -3)))
        rate *= 1.5
    return rates


@dataclass(frozen=True)
class Lines:
    data: bytes  # CYCLE_LINES lines, as the other socket benchmarks make them
    offsets: np.ndarray  # byte offset of each line's start, and the end

    def cut(self, start: int, count: int) -> list[memoryview]:
        """``count`` lines from line ``start`` (mod the cycle), as buffers to send."""
        view = memoryview(self.data)
        pieces = []
        while count:
            first = start % CYCLE_LINES
            take = min(count, CYCLE_LINES - first)
            pieces.append(view[self.offsets[first]:self.offsets[first + take]])
            start, count = start + take, count - take
        return pieces


def make_lines() -> Lines:
    base = DEMO_TEXT.splitlines()
    encoded = [f"{base[i % len(base)]} w{i % 1000}\n".encode() for i in range(CYCLE_LINES)]
    offsets = np.zeros(CYCLE_LINES + 1, dtype=np.int64)
    np.cumsum([len(x) for x in encoded], out=offsets[1:])
    return Lines(b"".join(encoded), offsets)


@pytest.fixture(scope="module")
def lines() -> Lines:
    return make_lines()


@dataclass
class Step:
    rate: int
    start: float  # epoch seconds
    end: float
    lag_s: float  # how late the sender finished the step
    stable: bool | None = None
    batches: list[dict[str, Any]] = field(default_factory=list)

    def judge(self, batches: dict[int, dict[str, Any]]) -> bool:
        """Spark's stability test over the batches wholly inside the step."""
        inside = [t for t in range(int(self.start * 1000) + 1, int(self.end * 1000) + 1)
                  if t % int(INTERVAL * 1000) == 0 and t - INTERVAL * 1000 >= self.start * 1000]
        self.batches = [batches.get(t, {"batch": t}) for t in inside]
        done = [b for b in self.batches if "processing_ms" in b]
        records = sum(b.get("records", 0) for b in done)
        self.stable = (
            bool(inside) and len(done) == len(inside)
            and all(0 <= b["processing_ms"] < INTERVAL * 1000 for b in done)
            and all(b["scheduling_ms"] < INTERVAL * 1000 for b in done)
            and records >= 0.8 * self.rate * INTERVAL * len(inside)
            and self.lag_s < 0.5)
        return self.stable

    def lines_per_processing_s(self) -> float:
        busy = [b for b in self.batches if b.get("records") and b.get("processing_ms", 0) > 0]
        if not busy:
            return 0.0
        return sum(b["records"] for b in busy) / sum(b["processing_ms"] for b in busy) * 1000

    def summary(self) -> dict[str, Any]:
        done = [b for b in self.batches if "processing_ms" in b]
        return {"rate": self.rate, "stable": self.stable, "lag_s": round(self.lag_s, 3),
                "batches": len(self.batches), "completed": len(done),
                "max_processing_ms": max((b["processing_ms"] for b in done), default=None),
                "max_scheduling_ms": max((b["scheduling_ms"] for b in done), default=None),
                "records": sum(b.get("records", 0) for b in done),
                "lines_per_processing_s": round(self.lines_per_processing_s())}


class Job:
    """The word count in a subprocess; its batches as they complete, keyed by time."""

    def __init__(self, python: str, engine: str, master: str, program: str,
                 address: tuple[str, int], log: IO[bytes]):
        self.batches: dict[int, dict[str, Any]] = {}
        self.started = threading.Event()
        self._lock = threading.Lock()
        # Its own process group, killed with it: PySpark's JVM is the job's child.
        self.proc = child_process.start(
            [python, str(JOB), engine, master, program, str(INTERVAL), *map(str, address)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, cwd=ROOT)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            if not raw.startswith(b"@@"):
                continue
            record = json.loads(raw[2:])
            if record.get("started"):
                self.started.set()
                continue
            with self._lock:
                self.batches.setdefault(record["batch"], {}).update(record)

    def snapshot(self) -> dict[int, dict[str, Any]]:
        with self._lock:
            return {t: dict(b) for t, b in self.batches.items()}

    def stop(self) -> None:
        # Closing stdin is the job's signal to stop (and its tie to this process).
        with contextlib.suppress(OSError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=60)
        child_process.kill_group(self.proc)
        self._reader.join(timeout=10)


def _send_step(server: LineServer, lines: Lines, sent: int, rate: int,
               seconds: float) -> tuple[int, float, float, float]:
    """Offer ``rate`` lines/s for ``seconds``; return lines sent, start, end, lag."""
    start = time.time()
    slices = int(seconds * SLICES)
    for i in range(slices):
        due = start + i / SLICES
        delay = due - time.time()
        if delay > 0:
            time.sleep(delay)  # pacing the offered load, not synchronisation
        count = rate * (i + 1) // SLICES - rate * i // SLICES
        for piece in lines.cut(sent, count):
            server.send_bytes(piece)
        sent += count
    end = start + seconds
    lag = max(0.0, time.time() - end)
    if lag == 0.0:
        time.sleep(end - time.time())
    return sent, start, end, lag


def _warm_up(job: Job, server: LineServer, lines: Lines) -> tuple[int, bool]:
    """Offer WARMUP_RATE until two batches in a row held lines and kept within the
    interval (JVM start, Python workers and first jobs are no part of the ramp), for
    WARMUP_SECONDS at most; return the lines sent and whether the job got there."""
    sent, deadline = 0, time.time() + WARMUP_SECONDS
    while time.time() < deadline:
        sent, *_ = _send_step(server, lines, sent, WARMUP_RATE, 1.0)
        done = [b for _, b in sorted(job.snapshot().items()) if "processing_ms" in b]
        if len(done) >= 2 and all(b["records"] and b["processing_ms"] < INTERVAL * 1000
                                  for b in done[-2:]):
            return sent, True
    return sent, False


def _await_batches(job: Job, step: Step, timeout: float = 30.0) -> None:
    """Keep the unstable step's verdict but wait (a while) for its batches to finish,
    so their processing times count in ``lines_per_processing_s``."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        batches = job.snapshot()
        if all("processing_ms" in batches.get(b["batch"], {}) for b in step.batches):
            break
        time.sleep(0.5)  # polling the job's output, which comes when it comes
    verdict = step.stable
    step.judge(job.snapshot())
    step.stable = verdict


def ramp(lines: Lines, python: str, engine: str, master: str, program: str
         ) -> dict[str, Any]:
    """Climb the ladder until a step is unstable; the last stable step's rate."""
    if not Path(python).exists():
        pytest.fail(f"no interpreter at {python}: `make bench` makes .venv-peers")
    if engine == "pyspark" and not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        pytest.fail("PySpark needs a Java 17 runtime: java on PATH or JAVA_HOME")
    steps: list[Step] = []
    with tempfile.TemporaryFile() as log, LineServer() as server:
        job = Job(python, engine, master, program, server.address, log)
        try:
            if not (job.started.wait(180) and server.wait_for_clients(1, timeout=60)):
                log.seek(0)
                pytest.fail(f"{engine} job did not start:\n{log.read().decode()[-3000:]}")
            sent, warmed_up = _warm_up(job, server, lines)
            print(f"\n  {engine} {master} {program}: warmed up: {warmed_up}", flush=True)
            for rate in ladder():
                sent, start, end, lag = _send_step(server, lines, sent, rate, STEP_SECONDS)
                steps.append(Step(rate, start, end, lag))
                # The step before had STEP_SECONDS (> the interval) to finish its batches.
                if len(steps) > 1:
                    stable = steps[-2].judge(job.snapshot())
                    print(f"  {engine} {master} {program}: {steps[-2].summary()}", flush=True)
                    if not stable:
                        _await_batches(job, steps[-2])
                        break
            else:
                time.sleep(STEP_SECONDS)  # the last step's batches, as the others had
                steps[-1].judge(job.snapshot())
        finally:
            job.stop()
        if job.proc.returncode not in (0, None):
            log.seek(0)
            pytest.fail(f"{engine} job exited {job.proc.returncode}:\n"
                        f"{log.read().decode()[-3000:]}")
    judged = [s for s in steps if s.stable is not None]
    stable = [s.rate for s in judged if s.stable]
    words = sum(b.get("words", 0) for b in job.batches.values())
    assert words > 0, f"{engine} counted no words"
    # Lines per second of processing time over the judged steps' batches (weighted by
    # lines, so the busiest steps count most), or where none of them finished, over
    # every finished batch, warm-up included: a figure also for a job that no step
    # kept stable (a loaded machine), though not the target's.
    judged_batches = Step(0, 0.0, 0.0, 0.0, batches=[b for s in judged for b in s.batches])
    capacity = (judged_batches.lines_per_processing_s()
                or Step(0, 0.0, 0.0, 0.0, batches=list(job.batches.values()))
                .lines_per_processing_s())
    return {"engine": engine, "master": master, "warmed_up": warmed_up,
            "stable_lines_per_s": max(stable, default=0),
            "lines_per_processing_s": round(capacity),
            "words_counted": words, "steps": [s.summary() for s in judged]}


def _report(benchmark: Any, results: list[dict[str, Any]]) -> None:
    peer = results[0]
    for result in results[1:]:
        for figure in ("stable_lines_per_s", "lines_per_processing_s"):
            ratio = result[figure] / peer[figure] if peer[figure] else float("inf")
            result[f"{figure}_x_pyspark"] = round(ratio, 2)
    benchmark.extra_info["runs"] = results
    for result in results:
        print(f"\n{result['engine']} {result['master']}: stable at "
              f"{result['stable_lines_per_s']:,} lines/s "
              f"(x{result.get('stable_lines_per_s_x_pyspark', 1.0)} PySpark), "
              f"{result['lines_per_processing_s']:,} lines per processing second "
              f"(x{result.get('lines_per_processing_s_x_pyspark', 1.0)})")
        for step in result["steps"]:
            print(f"    {step}")


@pytest.mark.timeout(1800)
@pytest.mark.benchmark(group="pyspark-socket-wordcount")
@pytest.mark.parametrize("program", ["columnar", "lambda"])
def test_socket_word_count_stable_rate_vs_pyspark(benchmark, lines: Lines,
                                                  program: str) -> None:
    runs = [(PEERS_PYTHON, "pyspark", "local[2]"),
            (sys.executable, "fastdstream", "local[2]")]
    if program == "lambda":
        runs.append((sys.executable, "fastdstream", "local-cluster[2,1,1024]"))
    results: list[dict[str, Any]] = []

    def run_all() -> None:
        results.extend(ramp(lines, python, engine, master, program)
                       for python, engine, master in runs)

    benchmark.pedantic(run_all, rounds=1, iterations=1)
    _report(benchmark, results)
