"""The SIGKILL/restart harness the exactly-once end-to-end tests share, and the bits of
their job scripts that are the same.

Test side: :class:`Feed` produces the input in parts, :func:`kill_repeatedly` starts
the job, kills it mid-stream ``KILLS`` times and releases the next part after each kill,
and :func:`run_to_end` runs it a last time until it is idle. Job side (the scripts under
tests/e2e/ import this module, found next to them): :func:`job_parser`,
:func:`open_db` and :func:`run_recorded`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fastdstream.testing import child_process

WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]
KILLS = 3


class Feed:
    """Produces the input from a background thread, one chunk at a time, spread out.

    The chunks come in ``KILLS + 1`` equal parts, and each kill releases the next part
    (:meth:`next_part`): so every kill lands while some input is not even produced yet,
    and every restarted job has new input to commit before it can be killed again.
    """

    def __init__(self, produce_chunk: Callable[[int], None], chunks: int) -> None:
        self._produce_chunk = produce_chunk
        self._chunks = chunks
        self._part = chunks // (KILLS + 1)
        self._allowed = self._part
        self._stop = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.produced = 0
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            for chunk in range(self._chunks):
                with self._cond:
                    self._cond.wait_for(lambda c=chunk: self._stop or c < self._allowed,
                                        timeout=300)
                    if self._stop or chunk >= self._allowed:
                        return
                self._produce_chunk(chunk)
                self.produced = chunk + 1
                with self._cond:  # spread the input over the job's batches and kills
                    if self._cond.wait_for(lambda: self._stop, timeout=0.15):
                        return
        except BaseException as e:  # reported by finish()
            self.error = e

    def start(self) -> Feed:
        self._thread.start()
        return self

    def next_part(self) -> None:
        with self._cond:
            self._allowed += self._part
            self._cond.notify_all()

    def finish(self, timeout: float = 120.0) -> None:
        """Release the rest of the input and wait until all of it is produced."""
        with self._cond:
            self._allowed = self._chunks
            self._cond.notify_all()
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "producing the input did not finish in time"
        if self.error is not None:
            raise self.error
        assert self.produced == self._chunks

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(30)


def kill_mid_stream(job: subprocess.Popen, committed: Callable[[], int], floor: int,
                    total: int, jitter: float, timeout: float = 60.0) -> int:
    """SIGKILL ``job`` once the committed count has risen above ``floor``.

    ``committed`` is the count the job's output store shows, polled with a deadline.
    The kill comes ``jitter`` seconds after the count first rose, at a random point of
    a later batch (mid-batch, mid-commit, between batches). Returns the count
    committed when the job died. The job is dead when this returns or fails.
    """
    try:
        deadline = time.monotonic() + timeout
        while (seen := committed()) <= floor:
            if job.poll() is not None:
                pytest.fail(f"the job exited ({job.returncode}) having committed {seen} "
                            f"records:\n{job.communicate(timeout=30)[0]}")
            if time.monotonic() > deadline:
                job.kill()
                pytest.fail(f"the job committed no more than {floor} of {total} records "
                            f"within {timeout:.0f} s:\n{job.communicate(timeout=30)[0]}")
            time.sleep(0.05)
        with contextlib.suppress(subprocess.TimeoutExpired):
            job.wait(timeout=jitter)
        if job.poll() is not None:
            pytest.fail(f"the job exited ({job.returncode}) before its kill:\n"
                        f"{job.communicate(timeout=30)[0]}")
        os.kill(job.pid, signal.SIGKILL)
    finally:
        if job.poll() is None:
            job.kill()
        job.communicate(timeout=30)
    at_kill = committed()
    # Not all input was produced yet (Feed), so this holds by construction.
    assert floor < seen <= at_kill < total, (floor, seen, at_kill, total)
    return at_kill


def kill_repeatedly(run: Callable[[], subprocess.Popen], committed: Callable[[], int],
                    feed: Feed, total: int, kills: random.Random) -> list[int]:
    """Start the job with ``run`` and kill it mid-stream ``KILLS`` times, releasing the
    next part of ``feed`` after each kill, then the rest of it; returns the count
    committed at each kill. ``feed`` is stopped when this returns or fails."""
    killed: list[int] = []
    try:
        for _ in range(KILLS):
            killed.append(kill_mid_stream(run(), committed, killed[-1] if killed else 0,
                                          total, jitter=kills.uniform(0, 0.5)))
            feed.next_part()
        feed.finish()
    finally:
        feed.stop()
    # every kill landed mid-stream, each once more was committed than at the last one
    assert len(killed) == KILLS and 0 < killed[0] < killed[-1] < total, killed
    return killed


def run_to_end(run: Callable[..., subprocess.Popen]) -> str:
    """Run the job a last time until it has been idle for 5 batches; its output."""
    final = run("--stop-after-idle", "5")
    out, _ = final.communicate(timeout=180)
    assert final.returncode == 0, out
    return str(out)


def produce_lines(broker: Any, topic: str, partitions: int, chunk: int, rng: random.Random,
                  produced: Counter) -> None:
    lines = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 6)))
             for _ in range(40)]
    broker.produce(topic, lines, partition=chunk % partitions)
    for line in lines:
        produced.update(line.split())


def word_feed(broker: Any, topic: str, chunks: int, rng: random.Random
              ) -> tuple[Feed, Counter]:
    """A started :class:`Feed` of ``chunks`` chunks of 40 lines of words into the two
    partitions of ``topic``, and the words it has produced so far."""
    produced: Counter = Counter()
    feed = Feed(lambda chunk: produce_lines(broker, topic, 2, chunk, rng, produced),
                chunks=chunks)
    return feed.start(), produced


def stored_count(db: Path, query: str) -> int:
    """``query``'s single number in the job's SQLite store; 0 before the job made it."""
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        try:
            return int(conn.execute(query).fetchone()[0])
        except sqlite3.OperationalError:  # killed before it made its tables
            return 0


def checkpointed_job(job: Path, master: str, broker: Any, topic: str, checkpoint: Path,
                     db: Path) -> Callable[..., subprocess.Popen]:
    """Starts one run of a job script taking :func:`job_parser`'s arguments."""

    def run(*extra: str) -> subprocess.Popen:
        return child_process.start(
            [sys.executable, str(job), "--bootstrap", broker.bootstrap_servers,
             "--topic", topic, "--checkpoint", str(checkpoint), "--db", str(db),
             "--master", master, *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    return run


def assert_each_restart_recovered(conn: sqlite3.Connection) -> None:
    """The first run (as :func:`run_recorded` noted it) started afresh, every later one
    from a checkpoint."""
    runs = [r for (r,) in conn.execute("SELECT recovered_from FROM runs")]
    assert runs[0] is None and all(r is not None for r in runs[1:]) and len(runs) == KILLS + 1


# -- job side ----------------------------------------------------------------------


def job_parser() -> argparse.ArgumentParser:
    """The arguments :func:`checkpointed_job` passes (and ``--stop-after-idle``)."""
    parser = argparse.ArgumentParser()
    for name in ("--bootstrap", "--topic", "--checkpoint", "--db"):
        parser.add_argument(name, required=True)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--batch", type=float, default=0.2)
    parser.add_argument("--stop-after-idle", type=int, default=0)
    return parser


def open_db(path: str, schema: str) -> sqlite3.Connection:
    """The job's output store, durable at each COMMIT (a SIGKILL may come any time)."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.executescript(schema)
    return db


def run_recorded(ssc: Any, db: sqlite3.Connection, idle: list[int],
                 stop_after_idle: int) -> None:
    """Note in table ``runs`` whether ``ssc`` recovered, run it until it has been idle
    ``stop_after_idle`` batches (0: until killed), stop it and close ``db``."""
    initial = ssc._initial_checkpoint
    db.execute("INSERT INTO runs VALUES (?)",
               (initial.checkpoint_time if initial is not None else None,))
    ssc.start()
    try:
        while not ssc.awaitTerminationOrTimeout(0.2):
            if stop_after_idle and idle[0] >= stop_after_idle:
                break
    finally:
        ssc.stop(stopGraceFully=True)
        db.close()
