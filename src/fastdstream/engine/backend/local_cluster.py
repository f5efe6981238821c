"""The ``local-cluster[N,C,M]`` back end: N worker processes with C task threads each.

Spark's own master string for a cluster on one machine. Each worker is a Python
process holding one executor (block manager, shuffle service, per-executor
state); tasks, their results and every block cross a real process boundary as
serde frames (Arrow IPC for tables, pickle 5 for objects). So plain-Python
functions get real parallelism, as PySpark's Python workers give, and anything
that only worked because the driver and the tasks shared a process fails here
first.

Scheduling: a task runs where its input blocks are if it has a preference, else
split ``i`` runs on worker ``i mod N`` -- so batch after batch a Kafka partition
is read by the same executor and its cached consumer is reused (Spark's
PreferConsistent), and a cached RDD partition is found where it was computed. A
task whose input is on a worker with no free core (tasks of other stages and
receivers take its cores: a receiver one for as long as it runs, as in Spark) waits
up to ``spark.locality.wait`` for one, then runs on another worker
(:mod:`locality`). A
worker that dies fails its running tasks with :class:`ExecutorLostError`; they
are retried on another worker (``spark.task.maxFailures``, 4), a new worker
takes its place, and the map outputs it held are recomputed from lineage.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import re
import selectors
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial
from multiprocessing.connection import Client, Connection
from typing import Any

from fastdstream.engine.backend import serde
from fastdstream.engine.backend.base import (
    ExecutorBackend,
    ExecutorLostError,
    Preference,
    StageFn,
    TaskCallback,
)
from fastdstream.engine.backend.block_manager import BlockId
from fastdstream.engine.backend.locality import ExecutorLoad
from fastdstream.engine.backend.long_task import LongTaskCallbacks, LongTaskFn, LongTaskHandle
from fastdstream.engine.backend.wire import AUTHKEY_ENV, SYS_PATH_ENV, no_delay
from fastdstream.errors import FastDStreamError

log = logging.getLogger(__name__)

_MASTER_RE = re.compile(r"^local-cluster\[\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*\]$")
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0


class RemoteTaskError(FastDStreamError):
    """A task failed on a worker with an exception that could not be sent back as itself."""


def parse_local_cluster_master(master: str) -> tuple[int, int, int] | None:
    """``local-cluster[N,C,M]`` -> (workers, cores per worker, MB per worker), else None."""
    match = _MASTER_RE.match(master.strip())
    if match is None:
        return None
    workers, cores, memory = (int(g) for g in match.groups())
    if workers < 1 or cores < 1 or memory < 1:
        raise ValueError(f"master {master!r}: workers, cores and memory must be at least 1")
    return workers, cores, memory


@dataclass(eq=False)  # identity: workers go in sets
class _Worker:
    executor_id: str
    process: subprocess.Popen[bytes]
    conn: Connection
    port: int
    send_lock: threading.Lock = field(default_factory=threading.Lock)
    pending: dict[int, Future[Any]] = field(default_factory=dict)
    stages: set[int] = field(default_factory=set)
    long_tasks: dict[int, _LongTask] = field(default_factory=dict)
    alive: bool = True

    def describe(self) -> str:
        return f"executor {self.executor_id} (pid {self.process.pid})"


class _LongTask(LongTaskHandle):
    """A long-running task on one worker (see ``long_task``)."""

    def __init__(self, backend: LocalClusterBackend, worker: _Worker, key: int,
                 callbacks: LongTaskCallbacks):
        self.executor_id = worker.executor_id
        self.key = key
        self.callbacks = callbacks
        self.ended = threading.Event()
        self._backend = backend
        self._worker = worker

    def send(self, message: Any) -> None:
        if self.ended.is_set():
            return
        # Lost with its worker: the loss is told through on_lost, not here.
        with contextlib.suppress(ExecutorLostError):
            self._backend._send(self._worker, ("long_msg", self.key, message))

    def join(self, timeout: float) -> bool:
        return self.ended.wait(timeout)


class LocalClusterBackend(ExecutorBackend):
    supports_long_tasks = True

    def __init__(self, num_workers: int, cores: int, memory_mb: int, max_failures: int = 4,
                 locality_wait_s: float = 3.0):
        self.parallelism = num_workers * cores
        self.num_workers = num_workers
        self.cores = cores
        self.memory_mb = memory_mb
        self._max_failures = max(1, max_failures)
        # Tasks in flight and receivers per worker: the locality wait (see _place).
        self.load = ExecutorLoad(cores, locality_wait_s)
        self._authkey = os.urandom(32)
        self._ids = itertools.count()
        self._requests = itertools.count()
        self._stage_keys = itertools.count()
        self._lock = threading.RLock()
        self._workers: list[_Worker] = []
        self._preloaded: list[str] = []  # modules a worker started later imports too
        self._round_robin = itertools.count()
        self._stopped = False
        try:
            self._start_workers(num_workers)
        except BaseException:
            self.stop()
            raise

    # --- workers ---------------------------------------------------------------------------

    def _start_workers(self, n: int) -> None:
        env = dict(os.environ)
        env[AUTHKEY_ENV] = self._authkey.hex()
        env[SYS_PATH_ENV] = json.dumps([p for p in sys.path if p])
        launched = []
        for _ in range(n):
            executor_id = str(next(self._ids))
            process = subprocess.Popen(
                [sys.executable, "-m", "fastdstream.engine.backend.worker", executor_id,
                 str(self.cores)],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, env=env,
            )
            launched.append((executor_id, process))
        deadline = time.monotonic() + START_TIMEOUT_S
        for executor_id, process in launched:
            port = _read_ready(process, executor_id, deadline)
            conn = no_delay(Client(("127.0.0.1", port), authkey=self._authkey))
            conn.send_bytes(serde.dumps(("driver",)))
            worker = _Worker(executor_id, process, conn, port)
            with self._lock:
                self._workers.append(worker)
            threading.Thread(target=self._reader, args=(worker,), daemon=True,
                             name=f"executor-{executor_id}-reader").start()
        self._announce_peers()

    def _announce_peers(self) -> None:
        with self._lock:
            ports = {w.executor_id: w.port for w in self._workers if w.alive}
            workers = [w for w in self._workers if w.alive]
        for w in workers:
            self._send(w, ("peers", ports))
            if self._preloaded:
                self._send(w, ("preload", tuple(self._preloaded)))

    def _alive(self) -> list[_Worker]:
        with self._lock:
            return [w for w in self._workers if w.alive]

    def _ensure_workers(self) -> list[_Worker]:
        """The live workers, after replacing any that died (as a cluster manager would)."""
        if self._stopped:
            raise RuntimeError("cannot run tasks: the Context has been stopped")
        with self._lock:
            missing = self.num_workers - len(self._alive())
            if missing > 0:
                log.warning("starting %d worker(s) in place of lost ones", missing)
                self._start_workers(missing)
            return self._alive()

    def _send(self, worker: _Worker, message: tuple[Any, ...]) -> None:
        frame = serde.dumps(message)
        try:
            with worker.send_lock:
                worker.conn.send_bytes(frame)
        except (OSError, ValueError) as exc:
            self._lost(worker, f"sending to it failed: {exc}")
            raise ExecutorLostError(f"{worker.describe()} is gone: {exc}",
                                    worker.executor_id) from exc

    def _reader(self, worker: _Worker) -> None:
        try:
            while True:
                message = serde.loads(worker.conn.recv_bytes())
                if message[0] != "done":
                    self._long_task_message(worker, message)
                    continue
                _, ident, ok, payload = message
                with self._lock:
                    future = worker.pending.pop(ident, None)
                if future is None:
                    continue
                if ok:
                    future.set_result(serde.loads(payload))
                else:
                    future.set_exception(decode_error(payload, worker.describe()))
        except (EOFError, OSError):
            pass
        self._lost(worker, "its connection closed")

    def _lost(self, worker: _Worker, why: str) -> None:
        with self._lock:
            if not worker.alive:
                return
            worker.alive = False
            pending = list(worker.pending.values())
            worker.pending.clear()
            long_tasks = list(worker.long_tasks.values())
            worker.long_tasks.clear()
        for task in long_tasks:
            task.ended.set()
            self.load.long_task_ended(worker.executor_id)
        self.load.wake()
        code = worker.process.poll()
        if code is None:
            try:
                code = worker.process.wait(1.0)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                code = worker.process.wait()
        if self._stopped:  # its tasks end with the Context, not with a lost executor
            for future in pending:
                if not future.done():
                    future.set_exception(RuntimeError(
                        f"the Context stopped while {worker.describe()} ran this task"))
            return
        message = f"{worker.describe()} was lost ({why}; exit code {code})"
        log.error("%s", message)
        for future in pending:
            if not future.done():
                future.set_exception(ExecutorLostError(message, worker.executor_id))
        # Reaped above; the record goes too, so workers that die over a long run do not
        # pile up (a stopping Context closes its own, in stop()).
        with self._lock:
            self._workers.remove(worker)
        worker.conn.close()
        if worker.process.stdout is not None:
            worker.process.stdout.close()
        self._executor_lost(worker.executor_id)
        self._announce_peers()
        for task in long_tasks:
            # On a thread of its own: starting the task again may start a worker, which
            # takes a while, and this is the lost worker's reader thread.
            threading.Thread(target=task.callbacks.on_lost, args=(worker.executor_id,),
                             name=f"long-task-{task.key}-lost", daemon=True).start()

    def _request(self, worker: _Worker, kind: str, *args: Any,
                 timeout: float | None = None) -> Any:
        request_id = next(self._requests)
        future: Future[Any] = Future()
        with self._lock:
            if not worker.alive:
                raise ExecutorLostError(f"{worker.describe()} is gone", worker.executor_id)
            worker.pending[request_id] = future
        self._send(worker, (kind, request_id, *args))
        return future.result(timeout)

    def preload(self, modules: Sequence[str]) -> None:
        # A stage's closure imports what it refers to when a worker loads it: on the first
        # batch of a stream that is the source's modules and their client library (a
        # Kafka word count's first batch spent 0.2-0.8 s there on a busy machine). The
        # workers import them on a thread of their own while the driver goes on.
        with self._lock:
            new = [m for m in modules if m not in self._preloaded]
            self._preloaded.extend(new)
        if not new:
            return
        for worker in self._alive():
            with contextlib.suppress(ExecutorLostError):  # a new one is told at its start
                self._send(worker, ("preload", tuple(new)))

    # --- stages ----------------------------------------------------------------------------

    def run_stage(
        self,
        stage_fn: StageFn,
        splits: Sequence[int],
        *,
        stage_id: int = 0,
        description: str = "",
        preferred: Preference | None = None,
        on_success: TaskCallback | None = None,
    ) -> list[Any]:
        frame = serde.dumps_function(stage_fn, description)
        stage_key = next(self._stage_keys)
        futures: dict[int, Future[Any]] = {}
        attempts = dict.fromkeys(splits, 0)
        used: set[_Worker] = set()
        busy: set[str] = set()
        if preferred is not None:
            alive = {w.executor_id for w in self._alive()}
            wanted = {want for split in splits
                      if (want := preferred(split)) is not None and want in alive}
            busy = self.load.wait_for(wanted, alive=lambda e: any(
                w.executor_id == e for w in self._alive()), stopped=lambda: self._stopped)
        try:
            for split in splits:
                futures[split] = self._submit(stage_key, frame, split, stage_id, 0,
                                              preferred, used, busy)
            results: dict[int, Any] = {}
            first_error: BaseException | None = None
            pending = list(splits)
            while pending:
                retry = []
                for split in pending:
                    try:
                        results[split] = futures[split].result()
                        if on_success is not None:
                            on_success(split, results[split])
                    except ExecutorLostError as exc:
                        attempts[split] += 1
                        if attempts[split] >= self._max_failures or self._stopped:
                            first_error = first_error or exc
                            continue
                        log.warning("task %d of stage %d: %s; retrying (attempt %d)",
                                    split, stage_id, exc, attempts[split] + 1)
                        retry.append(split)
                    except BaseException as exc:  # wait for all: no task outlives its stage
                        first_error = first_error or exc
                for split in retry:
                    futures[split] = self._submit(stage_key, frame, split, stage_id,
                                                  attempts[split], None, used, busy)
                pending = retry
            if first_error is not None:
                raise first_error
            return [results[s] for s in splits]
        finally:
            # A stage's closure is dropped on both sides once it is done: a long stream
            # runs millions of stages.
            for worker in used:
                worker.stages.discard(stage_key)
                if worker.alive:
                    with contextlib.suppress(ExecutorLostError):
                        self._send(worker, ("forget_stage", stage_key))

    def _submit(self, stage_key: int, frame: bytes, split: int, stage_id: int, attempt: int,
                preferred: Preference | None, used: set[_Worker], busy: set[str]
                ) -> Future[Any]:
        while True:
            workers = self._ensure_workers()
            worker = self._place(split, workers, preferred, busy)
            task_id = next(self._requests)
            future: Future[Any] = Future()
            with self._lock:
                if not worker.alive:
                    continue
                executor_id = worker.executor_id
                self.load.tasks_started(executor_id)
                future.add_done_callback(partial(self._task_ended, executor_id))
                worker.pending[task_id] = future
            try:
                if stage_key not in worker.stages:
                    self._send(worker, ("stage", stage_key, frame))
                    worker.stages.add(stage_key)
                self._send(worker, ("task", task_id, stage_key, split, stage_id, attempt))
            except ExecutorLostError:
                continue  # placed on a worker that just died: place again
            used.add(worker)
            return future

    def _place(self, split: int, workers: list[_Worker], preferred: Preference | None,
               busy: set[str]) -> _Worker:
        """Where the input is, unless that worker stayed busy past the locality wait (then
        another worker with a free core, else any other); else worker ``split mod N``."""
        want = preferred(split) if preferred is not None else None
        if want is not None:
            for worker in workers:
                if worker.executor_id == want:
                    if want not in busy:
                        return worker
                    others = ([w for w in workers if w is not worker
                               and not self.load.busy(w.executor_id)]
                              or [w for w in workers if w is not worker] or [worker])
                    return others[split % len(others)]
        return workers[split % len(workers)]

    def _task_ended(self, executor_id: str, _: Future[Any]) -> None:
        self.load.tasks_ended(executor_id)

    @property
    def locality_waits(self) -> int:
        """Placements that waited for a busy worker (tests)."""
        return self.load.waits

    # --- long-running tasks ----------------------------------------------------------------

    def start_long_task(self, fn: LongTaskFn, name: str, callbacks: LongTaskCallbacks,
                        avoid: frozenset[str] = frozenset()) -> LongTaskHandle:
        frame = serde.dumps_function(fn, name)
        while True:
            workers = self._ensure_workers()
            # Spread long tasks over the workers (Spark's receiver scheduling balances
            # receivers over executors); a worker the caller avoids only if it is the last.
            candidates = [w for w in workers if w.executor_id not in avoid] or workers
            worker = min(candidates, key=lambda w: len(w.long_tasks))
            task = _LongTask(self, worker, next(self._requests), callbacks)
            with self._lock:
                if not worker.alive:
                    continue
                worker.long_tasks[task.key] = task
                # It takes a core of its worker while it runs (the locality wait).
                self.load.long_task_started(worker.executor_id)
            try:
                self._send(worker, ("long_start", task.key, frame, name))
            except ExecutorLostError:
                continue
            return task

    def _long_task_message(self, worker: _Worker, message: tuple[Any, ...]) -> None:
        kind, key, payload = message
        with self._lock:
            task = worker.long_tasks.get(key)
            if task is not None and kind == "long_end":
                del worker.long_tasks[key]
                self.load.long_task_ended(worker.executor_id)
        if task is None:
            return
        if kind == "long_report":
            try:
                task.callbacks.on_report(payload)
            except Exception:
                log.exception("a report of long-running task %d on %s failed", key,
                              worker.describe())
        elif kind == "long_end":
            task.ended.set()
            task.callbacks.on_end(
                None if payload is None else decode_error(payload, worker.describe()))

    # --- blocks ----------------------------------------------------------------------------

    def executor_ids(self) -> list[str]:
        return [w.executor_id for w in self._alive()]

    def store_block(self, block_id: BlockId, data: Any) -> str:
        frame = serde.encode_partition(data)
        while True:
            workers = self._ensure_workers()
            worker = workers[next(self._round_robin) % len(workers)]
            try:
                self._request(worker, "put", block_id, frame)
            except ExecutorLostError:
                continue
            return worker.executor_id

    def remove_blocks(self, *prefix: Any) -> None:
        for worker in self._alive():
            with contextlib.suppress(ExecutorLostError):  # its blocks went with it
                self._request(worker, "remove_prefix", prefix, timeout=STOP_TIMEOUT_S)

    def remove_block(self, block_id: BlockId, executor_id: str) -> None:
        for worker in self._alive():
            if worker.executor_id == executor_id:
                with contextlib.suppress(ExecutorLostError):
                    self._request(worker, "remove", block_id, timeout=STOP_TIMEOUT_S)

    def block_ids(self) -> list[tuple[str, BlockId]]:
        found: list[tuple[str, BlockId]] = []
        for worker in self._alive():
            ids = self._request(worker, "block_ids", timeout=STOP_TIMEOUT_S)
            found.extend((worker.executor_id, tuple(b)) for b in ids)
        return found

    def executor_state_keys(self) -> dict[str, list[str]]:
        """Each executor's state keys, as text (tests: cached consumers and the like)."""
        return {w.executor_id: self._request(w, "state_keys", timeout=STOP_TIMEOUT_S)
                for w in self._alive()}

    def worker_pids(self) -> dict[str, int]:
        return {w.executor_id: w.process.pid for w in self._alive()}

    def stop(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            workers = list(self._workers)
        self.load.wake()
        for worker in workers:
            if worker.alive:
                try:
                    self._request(worker, "stop", timeout=STOP_TIMEOUT_S)
                except Exception as exc:  # a stuck or dead worker is killed below
                    log.warning("%s did not stop cleanly: %s", worker.describe(), exc)
        for worker in workers:
            try:
                worker.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()
            # Fails what it still ran with "the Context stopped" -- here, not only in its
            # reader thread, which may not have seen the connection close yet.
            self._lost(worker, "the Context stopped")
            worker.conn.close()
            if worker.process.stdout is not None:
                worker.process.stdout.close()


def _read_ready(process: subprocess.Popen[bytes], executor_id: str, deadline: float) -> int:
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    line = b""
    try:
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                process.kill()
                raise RuntimeError(f"worker {executor_id} (pid {process.pid}) did not start "
                                   f"within {START_TIMEOUT_S:.0f} s")
            chunk = os.read(process.stdout.fileno(), 64)
            if not chunk:
                code = process.wait()
                raise RuntimeError(f"worker {executor_id} (pid {process.pid}) exited with code "
                                   f"{code} before it was ready; its errors are above")
            line += chunk
    finally:
        selector.close()
    match = re.match(rb"READY (\d+)\n", line)
    if match is None:
        raise RuntimeError(f"worker {executor_id}: unexpected first line {line!r}")
    return int(match.group(1))


def decode_error(payload: bytes, where: str) -> BaseException:
    """The driver's side of ``worker.encode_error``, for both process back ends: the task's
    own exception with the remote traceback noted on it (``where`` names the executor), or
    a RemoteTaskError where the exception did not travel."""
    try:
        exc, text = serde.loads(payload)
    except Exception as decode_failure:
        return RemoteTaskError(f"a task failed on {where} and its error could not be read: "
                               f"{decode_failure}")
    traceback_note = f"Traceback on {where}:\n{text}"
    if exc is None:
        return RemoteTaskError(traceback_note)
    if hasattr(exc, "add_note"):
        exc.add_note(traceback_note)
    return exc
