"""The ``ray`` back end: executors as Ray actors, on the Ray cluster this process uses.

``Context("ray")`` joins the Ray cluster this process is already connected to
(``ray.is_initialized()``), or the one ``RAY_ADDRESS`` names, else starts a local
one of its own (never another process's) with ``spark.executor.instances`` x
``spark.executor.cores`` CPUs; ``Context("ray://host:port")`` connects through Ray
Client. A Ray the Context started or connected to itself is shut down (or
disconnected) by :meth:`RayBackend.stop`; one it joined is left as it was found.
The executor actors are not detached: they die with the driver's Ray job. The
processes of a Ray the Context started end with the driver, also when it is
killed: Ray ties its GCS and raylet to the driver, and :mod:`ray_watchdog` the
rest (Ray's agents would otherwise linger for a minute).

An executor's death is noticed when it happens (a pending ``watch`` call per actor
fails), so the blocks it held are known lost at once, as in ``local-cluster``.

Each executor is one actor (:mod:`ray_executor`) with ``spark.executor.cores``
CPUs, holding its block manager, shuffle outputs and per-executor state. A stage
is one actor call per executor with the list of tasks placed there, so a batch
of four partitions on two executors costs two actor round trips, not four.
Placement is as in ``local-cluster``: where a task's input blocks are, else split
``i`` on executor slot ``i mod N``, so a Kafka partition is read by the same
executor batch after batch and its cached consumer is reused. A task whose input
blocks are on an executor busy with other stages' tasks and receivers (as many as it
has cores: a receiver takes a core for as long as it runs, as in Spark) waits up to
``spark.locality.wait`` (3s) for it, as Spark's delay scheduling does, then runs
elsewhere (:mod:`locality`). Received blocks and map outputs are in Ray's object store
(:mod:`ray_block_manager`): reducers read map outputs from there by handle, not
through the actor that wrote them. An actor that dies fails its tasks with
:class:`ExecutorLostError`; they run again on the executors left
(``spark.task.maxFailures``), a new actor takes the dead one's slot, and the map
outputs it held are recomputed from lineage.

Ray-only settings live under ``fastdstream.ray.``: ``fastdstream.ray.executor.resources``
(JSON, Ray custom resources per executor actor, e.g. ``{"worker_node": 1}``),
``fastdstream.ray.startTimeout`` (how long to wait for executors to come up) and
``fastdstream.ray.reuseExecutors`` (keep executors warm for the next Context in this
process, see :mod:`ray_executor_pool`).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import ray

from fastdstream.conf import Conf, parse_duration_ms
from fastdstream.engine.backend import ray_executor_pool, ray_watchdog, serde
from fastdstream.engine.backend.base import (
    ExecutorBackend,
    ExecutorLostError,
    Preference,
    StageFn,
    TaskCallback,
)
from fastdstream.engine.backend.block_manager import BlockId
from fastdstream.engine.backend.local_cluster import RemoteTaskError, decode_error
from fastdstream.engine.backend.locality import ExecutorLoad, locality_wait_s
from fastdstream.engine.backend.long_task import LongTaskCallbacks, LongTaskFn, LongTaskHandle
from fastdstream.engine.backend.ray_executor import TASKS_GROUP, RayExecutor
from fastdstream.engine.backend.ray_long_task import RayLongTasks

log = logging.getLogger(__name__)

__all__ = ["RayBackend", "RemoteTaskError", "is_ray_master"]

EXECUTOR_INSTANCES = "spark.executor.instances"
EXECUTOR_CORES = "spark.executor.cores"
RAY_EXECUTOR_RESOURCES = "fastdstream.ray.executor.resources"
RAY_START_TIMEOUT = "fastdstream.ray.startTimeout"
RAY_REUSE_EXECUTORS = "fastdstream.ray.reuseExecutors"

DEFAULT_INSTANCES = 2  # Spark's default for spark.executor.instances
STOP_TIMEOUT_S = 10.0
MONITOR_POLL_S = 0.1
CALL_TIMEOUT_S = 60.0
INLINE_FRAME_BYTES = 64 * 1024
"""A stage closure larger than this goes into the object store once per stage, not
inline in every executor's call."""


def is_ray_master(master: str) -> bool:
    """Whether ``master`` names the Ray back end (``ray`` or ``ray://host:port``)."""
    master = master.strip()
    return master == "ray" or master.startswith("ray://")


@dataclass(eq=False)  # identity: executors are compared as objects
class _Actor:
    executor_id: str
    slot: int
    handle: Any
    ready_ref: Any
    ready: bool = False
    alive: bool = True
    watch_ref: Any = None  # pending while the actor lives (RayExecutor.watch)

    def describe(self) -> str:
        return f"executor {self.executor_id} (Ray actor)"


class RayBackend(ExecutorBackend):
    """Run tasks on ``instances`` Ray actors of ``cores`` CPUs each."""

    supports_long_tasks = True

    def __init__(self, master: str, conf: Conf):
        self.master = master.strip()
        self.instances = _positive_int(conf, EXECUTOR_INSTANCES, DEFAULT_INSTANCES)
        self.cores = _positive_int(conf, EXECUTOR_CORES, 1)
        self.parallelism = self.instances * self.cores
        self._max_failures = max(1, int(conf.get("spark.task.maxFailures") or 4))
        self._resources = _resources(conf)
        self._start_timeout = parse_duration_ms(
            conf.get(RAY_START_TIMEOUT) or "60s", RAY_START_TIMEOUT) / 1000
        self._lock = threading.RLock()
        self._idle = threading.Condition(self._lock)
        # Tasks in flight and receivers per executor, over every stage running now: an
        # executor with as many as it has cores is busy (locality wait, see _place).
        self.load = ExecutorLoad(self.cores, locality_wait_s(conf))
        self._running = 0  # stages in flight: stop() lets them end before Ray goes
        self._ids: Iterator[int] = itertools.count()
        self._round_robin = itertools.count()
        self._name_prefix = f"fastdstream-{uuid.uuid4().hex[:12]}-executor-"
        self._slots: list[_Actor] = []
        self._long_tasks = RayLongTasks(self.load)
        self._stopped = False
        self._started_ray = False
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._monitor: threading.Thread | None = None
        self._reuse = conf.get_bool(
            RAY_REUSE_EXECUTORS, os.environ.get(ray_executor_pool.REUSE_ENV, "") == "1")
        self._connect()
        try:
            self._pool_key: ray_executor_pool.PoolKey = (
                ray.get_runtime_context().get_job_id(), float(self.cores),
                json.dumps(self._resources, sort_keys=True))
            if self._reuse:
                pool = ray_executor_pool.pool_for(self._pool_key)
                self._name_prefix, self._ids = pool.name_prefix, pool.ids
            # Tasks wait in their own group, so a block fetch from another executor
            # (default group) is served even while every task thread is busy.
            # (Ray's stubs know only the task options of ray.remote, not the actor ones.)
            self._actor_class: Any = ray.remote(  # type: ignore[call-overload]
                concurrency_groups={TASKS_GROUP: max(4, 2 * self.cores)},
                max_concurrency=8, max_restarts=0)(RayExecutor)
            warm = (ray_executor_pool.take(self._pool_key, self.instances, _sys_path())
                    if self._reuse else [])
            self._slots = [_Actor(executor_id, slot, handle, None, ready=True,
                                  watch_ref=handle.watch.remote())
                           for slot, (executor_id, handle) in enumerate(warm)]
            if len(self._slots) < self.instances:
                ray_executor_pool.evict_idle()  # idle actors hold CPUs these need
                started = [self._start_actor(slot)
                           for slot in range(len(self._slots), self.instances)]
                self._slots.extend(started)
                self._wait_ready(started)
            self._monitor = threading.Thread(target=self._watch_executors, daemon=True,
                                             name="ray-executor-monitor")
            self._monitor.start()
        except BaseException:
            self.stop()
            raise

    # --- the cluster and its actors --------------------------------------------------------

    def _connect(self) -> None:
        if ray.is_initialized():
            return
        if self.master == "ray" and os.environ.get("RAY_ADDRESS"):
            # The cluster the environment names, as Ray's own tools would join it.
            ray.init(log_to_driver=False, logging_level=logging.WARNING,
                     configure_logging=False)
        elif self.master == "ray":
            # Started before Ray, so that Ray's processes are seen from their start.
            self._watchdog = ray_watchdog.start(os.getpid())
            main = threading.current_thread() is threading.main_thread()
            sigterm = signal.getsignal(signal.SIGTERM) if main else None
            try:
                ray.init(address="local", num_cpus=self.parallelism, include_dashboard=False,
                         log_to_driver=False, logging_level=logging.WARNING,
                         configure_logging=False)
            except BaseException:
                self._release_watchdog()
                raise
            if main and sigterm is not None:
                # ray.init makes SIGTERM exit(15) so that its atexit hook stops Ray; the
                # watchdog does that here, and SIGTERM keeps the meaning the program
                # gave it (the process ends as SIGTERM ends it, or the streaming
                # context's graceful stop runs).
                signal.signal(signal.SIGTERM, sigterm)
        else:
            ray.init(address=self.master, log_to_driver=False, logging_level=logging.WARNING,
                     configure_logging=False)
        self._started_ray = True

    def _start_actor(self, slot: int) -> _Actor:
        executor_id = str(next(self._ids))
        options: dict[str, Any] = {
            "name": self._name_prefix + executor_id,
            "num_cpus": self.cores,
        }
        if self._resources:
            options["resources"] = self._resources
        handle = self._actor_class.options(**options).remote(
            executor_id, self.cores, self._name_prefix, _sys_path())
        return _Actor(executor_id, slot, handle, handle.ready.remote(),
                      watch_ref=handle.watch.remote())

    def _wait_ready(self, actors: Sequence[_Actor]) -> None:
        refs = [a.ready_ref for a in actors]
        done, _ = ray.wait(refs, num_returns=len(refs), timeout=self._start_timeout)
        if len(done) < len(refs):
            extra = f", {json.dumps(self._resources)}" if self._resources else ""
            raise RuntimeError(
                f"{len(refs) - len(done)} of {len(refs)} Ray executor actor(s) did not start "
                f"within {self._start_timeout:.0f} s: the cluster may lack the resources "
                f"({self.cores} CPU(s){extra} each); see ray.cluster_resources()")
        for actor in actors:
            ray.get(actor.ready_ref)  # raises if the actor failed to start
            actor.ready = True

    def _live(self) -> list[_Actor]:
        """The executors that can take work now, after replacing any that died."""
        if self._stopped:
            raise RuntimeError("cannot run tasks: the Context has been stopped")
        with self._lock:
            for i, actor in enumerate(self._slots):
                if not actor.alive:
                    log.warning("starting a Ray executor in place of lost %s", actor.describe())
                    self._slots[i] = self._start_actor(i)
        ready = self._ready()
        if ready:
            return ready
        # Nothing is up (every executor was lost at once): wait for a replacement.
        with self._lock:
            starting = [a for a in self._slots if a.alive]
        self._wait_any(starting)
        return self._live()

    def _ready(self) -> list[_Actor]:
        """The live executors that are up (a replacement may still be starting, or wait
        for room on the cluster: it takes work once it is up)."""
        with self._lock:
            pending = [a for a in self._slots if a.alive and not a.ready]
        if pending:
            done, _ = ray.wait([a.ready_ref for a in pending], num_returns=len(pending),
                               timeout=0)
            for actor in pending:
                if actor.ready_ref in done:
                    actor.ready = True
        with self._lock:
            return [a for a in self._slots if a.alive and a.ready]

    def _wait_any(self, actors: list[_Actor]) -> None:
        done, _ = ray.wait([a.ready_ref for a in actors], num_returns=1,
                           timeout=self._start_timeout)
        if not done:
            raise RuntimeError(f"no Ray executor came up within {self._start_timeout:.0f} s "
                               "after the last one was lost")
        for actor in actors:
            if actor.ready_ref in done:
                actor.ready = True

    def _watch_executors(self) -> None:
        """Notice an executor's death when it happens, not at the next call to it: its
        blocks (received input, map outputs) are known lost at once, as in local-cluster."""
        while not self._stopped:
            with self._lock:
                watched = {a.watch_ref: a for a in self._slots
                           if a.alive and a.watch_ref is not None}
            if not watched:
                time.sleep(MONITOR_POLL_S)
                continue
            try:
                done, _ = ray.wait(list(watched), num_returns=1, timeout=MONITOR_POLL_S)
                for ref in done:
                    actor = watched[ref]
                    actor.watch_ref = None
                    try:
                        ray.get(ref)
                    except ray.exceptions.RayError as exc:
                        if not self._stopped:
                            self._lost(actor, _first_line(exc))
            except Exception:  # Ray going down under a stopping Context
                if not self._stopped:
                    log.exception("watching the Ray executors failed")
                return

    def _lost(self, actor: _Actor, why: str) -> None:
        with self._lock:
            if not actor.alive:
                return
            actor.alive = False
        with contextlib.suppress(Exception):  # unreachable rather than dead: make it dead
            ray.kill(actor.handle, no_restart=True)
        if self._stopped:
            return
        log.error("%s was lost: %s", actor.describe(), why)
        self.load.wake()
        self._executor_lost(actor.executor_id)

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
        with self._lock:
            if self._stopped:
                raise RuntimeError("cannot run tasks: the Context has been stopped")
            self._running += 1
        try:
            shipped = ray.put(frame) if len(frame) > INLINE_FRAME_BYTES else frame
            return self._run(shipped, splits, stage_id, preferred, on_success)
        finally:
            with self._idle:
                self._running -= 1
                self._idle.notify_all()

    def _run(self, frame: Any, splits: Sequence[int], stage_id: int,
             preferred: Preference | None, on_success: TaskCallback | None) -> list[Any]:
        attempts = dict.fromkeys(splits, 0)
        results: dict[int, Any] = {}
        first_error: BaseException | None = None
        pending = list(splits)
        failed_on: dict[int, str] = {}
        while pending:
            calls: dict[Any, tuple[_Actor, list[int]]] = {}
            for actor, batch in self._place(pending, preferred, failed_on).items():
                tasks = [(split, attempts[split]) for split in batch]
                self.load.tasks_started(actor.executor_id, len(batch))
                ref = actor.handle.run_tasks.remote(
                    frame, stage_id, tasks)
                calls[ref] = (actor, batch)
            retry: list[int] = []
            while calls:
                done, _ = ray.wait(list(calls), num_returns=1)
                for ref in done:
                    actor, batch = calls.pop(ref)
                    self.load.tasks_ended(actor.executor_id, len(batch))
                    try:
                        outcomes = ray.get(ref)
                    except ray.exceptions.RayError as exc:
                        if self._stopped:
                            first_error = first_error or RuntimeError(
                                f"the Context stopped while {actor.describe()} ran this task")
                            continue
                        why = _first_line(exc)
                        self._lost(actor, why)
                        lost = ExecutorLostError(f"{actor.describe()} was lost: {why}",
                                                 actor.executor_id)
                        for split in batch:
                            attempts[split] += 1
                            failed_on[split] = actor.executor_id
                            if attempts[split] >= self._max_failures:
                                first_error = first_error or lost
                            else:
                                log.warning("task %d of stage %d: %s; retrying (attempt %d)",
                                            split, stage_id, lost, attempts[split] + 1)
                                retry.append(split)
                        continue
                    for split, (ok, payload) in zip(batch, outcomes, strict=True):
                        try:
                            if not ok:
                                raise decode_error(payload, actor.describe())
                            results[split] = serde.loads(payload)
                            if on_success is not None:
                                on_success(split, results[split])
                        except BaseException as exc:  # wait for all: none outlives its stage
                            first_error = first_error or exc
            pending = [] if self._stopped else retry
            preferred = None  # a retry runs wherever there is room, as in local-cluster
        if first_error is not None:
            raise first_error
        return [results[s] for s in splits]

    def _place(self, splits: Sequence[int], preferred: Preference | None,
               failed_on: dict[int, str]) -> dict[_Actor, list[int]]:
        """Which executor runs each split: its preferred one (once it is not busy, waiting
        up to the locality wait), else its slot's, else (that one not up, or the task
        failed there) the next one up."""
        live = self._live()
        by_id = {a.executor_id: a for a in live}
        slots = len(self._slots)
        wanted = {split: by_id.get(want) for split in splits
                  if preferred is not None and (want := preferred(split)) is not None}
        busy_ids = self.load.wait_for(
            {a.executor_id for a in wanted.values() if a is not None},
            alive=lambda e: e in by_id and by_id[e].alive, stopped=lambda: self._stopped)
        busy = {a for a in live if a.executor_id in busy_ids}
        batches: dict[_Actor, list[int]] = defaultdict(list)
        for split in splits:
            actor = wanted.get(split)
            if actor is not None and actor in busy:
                # Busy past the locality wait: any other executor not busy, else any other.
                others = ([a for a in live if a is not actor and a not in busy
                           and not self.load.busy(a.executor_id)]
                          or [a for a in live if a is not actor] or [actor])
                actor = others[split % len(others)]
            if actor is None:
                with self._lock:
                    own = self._slots[split % slots]
                if own.alive and own.ready and own.executor_id != failed_on.get(split):
                    actor = own
                else:
                    others = [a for a in live if a.executor_id != failed_on.get(split)] or live
                    actor = others[split % len(others)]
            batches[actor].append(split)
        return batches

    @property
    def locality_waits(self) -> int:
        """Placements that waited for a busy executor (tests)."""
        return self.load.waits

    # --- blocks ----------------------------------------------------------------------------

    def start_long_task(self, fn: LongTaskFn, name: str, callbacks: LongTaskCallbacks,
                        avoid: frozenset[str] = frozenset()) -> LongTaskHandle:
        frame = serde.dumps_function(fn, name)
        while True:
            live = self._live()
            try:
                return self._long_tasks.start([(a.executor_id, a.handle) for a in live],
                                              frame, name, callbacks, avoid)
            except ExecutorLostError as exc:  # died meanwhile: place it on another
                avoid = avoid | {exc.executor_id}
                for actor in live:
                    if actor.executor_id == exc.executor_id:
                        self._lost(actor, str(exc))

    def executor_ids(self) -> list[str]:
        return [a.executor_id for a in self._ready()]

    def _call_all(self, method: str, *args: Any) -> list[tuple[_Actor, Any]]:
        """Call ``method`` on every executor that is up; the answers of those that gave one."""
        refs = [(a, getattr(a.handle, method).remote(*args)) for a in self._ready()]
        answers = []
        for actor, ref in refs:
            try:
                answers.append((actor, ray.get(ref, timeout=CALL_TIMEOUT_S)))
            except ray.exceptions.RayActorError as exc:  # its blocks went with it
                self._lost(actor, _first_line(exc))
        return answers

    def store_block(self, block_id: BlockId, data: Any) -> str:
        frame = serde.encode_partition(data)
        while True:
            live = self._live()
            actor = live[next(self._round_robin) % len(live)]
            try:
                ray.get(actor.handle.put.remote(block_id, frame), timeout=CALL_TIMEOUT_S)
            except ray.exceptions.RayActorError as exc:
                self._lost(actor, _first_line(exc))
                continue
            return actor.executor_id

    def remove_blocks(self, *prefix: Any) -> None:
        self._call_all("remove_prefix", prefix)

    def remove_block(self, block_id: BlockId, executor_id: str) -> None:
        with self._lock:
            actors = [a for a in self._slots if a.executor_id == executor_id and a.alive]
        for actor in actors:
            try:
                ray.get(actor.handle.remove.remote(block_id), timeout=CALL_TIMEOUT_S)
            except ray.exceptions.RayActorError as exc:
                self._lost(actor, _first_line(exc))

    def block_ids(self) -> list[tuple[str, BlockId]]:
        return [(actor.executor_id, tuple(b))
                for actor, ids in self._call_all("block_ids") for b in ids]

    def executor_state_keys(self) -> dict[str, list[str]]:
        return {actor.executor_id: keys for actor, keys in self._call_all("state_keys")}

    def worker_pids(self) -> dict[str, int]:
        """Each live executor's process id (tests: kill one)."""
        return {actor.executor_id: pid for actor, pid in self._call_all("ready")}

    def stop(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            actors = list(self._slots)
        self._long_tasks.close()
        self.load.wake()
        if ray.is_initialized():
            live = [a for a in actors if a.alive and a.ready]
            kept: list[_Actor] = []
            if self._reuse and not self._started_ray and self._running == 0:
                kept = self._keep_warm(live)
            # Close hooks first (cached consumers and the like), then the actors go,
            # which also ends any task still running.
            refs = [a.handle.stop.remote() for a in live if a not in kept]
            if refs:
                ray.wait(refs, num_returns=len(refs), timeout=STOP_TIMEOUT_S)
            for actor in actors:
                if actor.alive and actor not in kept:
                    with contextlib.suppress(Exception):
                        ray.kill(actor.handle, no_restart=True)
                actor.alive = False
        with self._idle:  # stages see their actors die and end before Ray goes
            self._idle.wait_for(lambda: self._running == 0, STOP_TIMEOUT_S)
        if self._monitor is not None:
            self._monitor.join(STOP_TIMEOUT_S)
        if self._started_ray:
            ray.shutdown()
        self._release_watchdog()

    def _keep_warm(self, actors: list[_Actor]) -> list[_Actor]:
        """Reset the executors (close hooks, blocks) and leave them for the next Context;
        the ones kept (a reset that failed or hung leaves that actor to be killed)."""
        if not actors:
            return []
        refs = [a.handle.reset.remote() for a in actors]
        if refs:
            ray.wait(refs, num_returns=len(refs), timeout=STOP_TIMEOUT_S)
        kept = []
        for actor, ref in zip(actors, refs, strict=True):
            try:
                ray.get(ref, timeout=0)
            except Exception as exc:
                log.warning("%s is not kept warm: %s", actor.describe(), _first_line(exc))
                continue
            kept.append(actor)
        ray_executor_pool.give_back(self._pool_key, [(a.executor_id, a.handle) for a in kept])
        return kept

    def _release_watchdog(self) -> None:
        """Ray is down: the watchdog may end."""
        if self._watchdog is not None and self._watchdog.stdin is not None:
            self._watchdog.stdin.close()


def _sys_path() -> list[str]:
    return [p for p in sys.path if p]


def _positive_int(conf: Conf, key: str, default: int) -> int:
    raw = conf.get(key)
    try:
        value = int(raw) if raw is not None else default
    except ValueError:
        raise ValueError(f"{key}={raw!r}: expected a whole number") from None
    if value < 1:
        raise ValueError(f"{key}={raw!r}: must be at least 1")
    return value


def _resources(conf: Conf) -> dict[str, float]:
    raw = conf.get(RAY_EXECUTOR_RESOURCES)
    if not raw:
        return {}
    try:
        value = json.loads(raw)
        if not isinstance(value, dict):
            raise ValueError("not an object")
        return {str(k): float(v) for k, v in value.items()}
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{RAY_EXECUTOR_RESOURCES}={raw!r}: expected a JSON object of "
                         f"resource name to amount ({exc})") from None


def _first_line(exc: BaseException) -> str:
    """Ray's errors run to many lines; the first says what happened."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
