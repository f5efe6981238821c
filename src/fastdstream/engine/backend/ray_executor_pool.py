"""Warm Ray executors: actors a stopped Context hands on to the next one in this process.

Starting an executor actor means starting a Python process on the cluster and
importing fastdstream and pyarrow in it: seconds on a loaded machine. A program
(or a test suite) that makes many short Contexts on one Ray may ask, with
``fastdstream.ray.reuseExecutors`` (default from the environment variable
``FASTDSTREAM_RAY_REUSE_EXECUTORS``, else off), for its executors to be kept
warm: a stopping Context runs their state's close hooks and drops their blocks
-- as a stop does -- and leaves the actors idle here instead of killing them,
and the next Context of the same shape (CPUs and resources per executor, on the
same Ray job) takes them. An idle actor still holds its CPUs on the cluster, so
any Context that must start actors first ends the idle ones it does not take.

Python modules a task imported stay imported, as in PySpark, whose Python workers
are reused by default (``spark.python.worker.reuse``). Executors kept warm keep
their ids and actor names: the ids of one pool come
from one counter, so two Contexts alive at once never share one.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import ray

log = logging.getLogger(__name__)

REUSE_ENV = "FASTDSTREAM_RAY_REUSE_EXECUTORS"
CHECK_TIMEOUT_S = 10.0

PoolKey = tuple[str, float, str]
"""(Ray job id, CPUs per executor, resources per executor as JSON)."""


@dataclass
class ExecutorPool:
    name_prefix: str
    ids: Iterator[int] = field(default_factory=itertools.count)
    idle: list[tuple[str, Any]] = field(default_factory=list)  # (executor id, actor)


_pools: dict[PoolKey, ExecutorPool] = {}
_lock = threading.Lock()


def pool_for(key: PoolKey) -> ExecutorPool:
    with _lock:
        pool = _pools.get(key)
        if pool is None:
            pool = _pools[key] = ExecutorPool(f"fastdstream-{uuid.uuid4().hex[:12]}-executor-")
        return pool


def take(key: PoolKey, n: int, sys_path: list[str]) -> list[tuple[str, Any]]:
    """Up to ``n`` idle executors of this shape that are still alive, given the new
    Context's ``sys_path`` (its pyFiles)."""
    pool = pool_for(key)
    with _lock:
        taken, pool.idle = pool.idle[:n], pool.idle[n:]
    if not taken:
        return []
    refs = [actor.adopt.remote(sys_path) for _, actor in taken]
    ray.wait(refs, num_returns=len(refs), timeout=CHECK_TIMEOUT_S)
    alive = []
    for (executor_id, actor), ref in zip(taken, refs, strict=True):
        try:
            ray.get(ref, timeout=0)
        except Exception as exc:  # died while idle, or too slow to answer: not reused
            log.info("warm executor %s is not reused: %s", executor_id, exc)
            _kill(actor)
            continue
        alive.append((executor_id, actor))
    return alive


def give_back(key: PoolKey, actors: list[tuple[str, Any]]) -> None:
    pool = pool_for(key)
    with _lock:
        pool.idle.extend(actors)


def evict_idle() -> None:
    """End every idle executor: a Context is about to start actors that need the room."""
    with _lock:
        doomed = [actor for pool in _pools.values() for _, actor in pool.idle]
        for pool in _pools.values():
            pool.idle.clear()
    for actor in doomed:
        _kill(actor)


def _kill(actor: Any) -> None:
    with contextlib.suppress(Exception):
        ray.kill(actor, no_restart=True)
