"""RayExecutor: one executor as a Ray actor.

The Ray back end makes one of these actors per executor. It holds an
:class:`Executor` (block manager, shuffle service, per-executor state such as
cached Kafka consumers) for as long as the actor lives, and runs a whole batch
of tasks per call: one actor call per executor and stage, not one per task,
because an actor call costs about as much as a small task. The tasks of a batch
run on ``cores`` threads of the actor.

Actor methods are split between two of Ray's concurrency groups: ``tasks`` for
batches of tasks, and the default group for everything short (blocks stored by
the driver, fetches by other executors, status, stop). A fetch must never wait
behind tasks, or two executors whose reducers read from each other would wait
forever.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import ray

from fastdstream.engine.backend import serde
from fastdstream.engine.backend.block_manager import BlockId, BlockNotFoundError
from fastdstream.engine.backend.executor import Executor
from fastdstream.engine.backend.ray_block_manager import RayBlockManager
from fastdstream.engine.backend.ray_long_task import LongTaskHost
from fastdstream.engine.backend.worker import encode_error

TASKS_GROUP = "tasks"
"""The concurrency group of :meth:`RayExecutor.run_tasks`."""

TaskOutcome = tuple[bool, bytes]
"""``(True, serde frame of the result)`` or ``(False, serde frame of (exception, text))``."""


class ActorFetcher:
    """Fetches blocks from the other executors' actors (shuffle outputs, received input).

    Executor actors are named ``<prefix><executor id>``, so a peer is found by name
    when first read from: no membership list to keep in step as executors come and go.
    """

    def __init__(self, name_prefix: str) -> None:
        self._name_prefix = name_prefix
        self._peers: dict[str, Any] = {}

    def _peer(self, location: str) -> Any:
        peer = self._peers.get(location)
        if peer is None:
            try:
                peer = ray.get_actor(self._name_prefix + location)
            except ValueError:  # no live actor of that name
                raise ConnectionError(
                    f"executor {location} is not a live Ray executor") from None
            self._peers[location] = peer
        return peer

    def __call__(self, location: str, block_ids: Sequence[BlockId]) -> list[bytes]:
        peer = self._peer(location)
        try:
            ok, payload = ray.get(peer.get_encoded.remote(list(block_ids)))
        except ray.exceptions.RayError as exc:  # its actor died: the outputs went with it
            self._peers.pop(location, None)
            raise ConnectionError(f"executor {location} (Ray actor): {exc}") from exc
        if not ok:
            raise BlockNotFoundError(payload)
        return list(payload)

    def handles(self, location: str, block_ids: Sequence[BlockId]) -> list[Any]:
        """Where blocks of executor ``location`` are in the object store (received input
        read elsewhere; a map output's come with its status): the data itself is then
        read from the store, not sent through the actor."""
        peer = self._peer(location)
        try:
            ok, payload = ray.get(peer.handles.remote(list(block_ids)))
        except ray.exceptions.RayError as exc:
            self._peers.pop(location, None)
            raise ConnectionError(f"executor {location} (Ray actor): {exc}") from exc
        if not ok:
            raise BlockNotFoundError(payload)
        return list(payload)


class RayExecutor:
    """The body of an executor actor (wrapped with ``ray.remote`` by the back end)."""

    def __init__(self, executor_id: str, cores: int, name_prefix: str,
                 sys_path: Sequence[str] = ()):
        self._added_paths: list[str] = []
        self.adopt(sys_path)
        self.fetcher = ActorFetcher(name_prefix)
        self.executor = self._new_executor(executor_id)
        self._pool = ThreadPoolExecutor(max_workers=cores, thread_name_prefix="task")
        self._released = threading.Event()
        self._long_tasks = LongTaskHost()
        # Reads of this executor's blocks that other executors made through it rather than
        # from the object store by handle (tests: a read by handle makes none).
        self._served = 0
        self._served_lock = threading.Lock()

    def _new_executor(self, executor_id: str) -> Executor:
        return Executor(executor_id, self.fetcher, RayBlockManager(executor_id, self.fetcher))

    def ready(self) -> int:
        """The actor's process id, once it is up (the driver waits on this)."""
        return os.getpid()

    def watch(self) -> None:
        """Return when this executor is released by its Context (reset, stop): until
        then the call is pending, and the driver learns of the actor's death the moment
        it happens, from this call failing -- also while no task runs on it."""
        self._released.wait()

    def adopt(self, sys_path: Sequence[str]) -> int:
        """Take the driver's ``sys.path`` (at start, and when a warm executor goes to a new
        Context, whose pyFiles may differ); return the process id.

        Closures are pickled by reference to modules the driver can import (a test
        module, a script's directory, pyFiles): the actor must find them where the
        driver does. Entries an earlier Context added and this one lacks are taken back.
        """
        for entry in self._added_paths:
            if entry not in sys_path:
                with contextlib.suppress(ValueError):
                    sys.path.remove(entry)
        self._added_paths = [e for e in self._added_paths if e in sys_path]
        for entry in reversed(sys_path):
            if entry not in sys.path:
                sys.path.insert(0, entry)
                self._added_paths.append(entry)
        return os.getpid()

    @ray.method(concurrency_group=TASKS_GROUP)
    def run_tasks(self, frame: bytes, stage_id: int,
                  tasks: Sequence[tuple[int, int]]) -> list[TaskOutcome]:
        """Run ``(split, attempt)`` tasks of one stage; an outcome per task, in order."""
        try:
            fn = serde.loads_function(frame)
        except BaseException as exc:
            failed = (False, encode_error(exc))
            return [failed for _ in tasks]
        # Always on the executor's ``cores`` task threads, never on the thread Ray calls
        # this on (one of several, and not the same each time): per-thread executor
        # state, such as a cached Kafka consumer, then stays one per task thread.
        futures = [self._pool.submit(self._run_one, fn, stage_id, split, attempt)
                   for split, attempt in tasks]
        return [f.result() for f in futures]

    def _run_one(self, fn: Callable[..., Any], stage_id: int, split: int,
                 attempt: int) -> TaskOutcome:
        try:
            result = self.executor.run_task(fn, stage_id, split, attempt)
            return True, serde.dumps(result)
        except BaseException as exc:
            return False, encode_error(exc)

    # --- long-running tasks (receivers; see ray_long_task) -------------------------------

    def long_start(self, key: int, frame: bytes, name: str) -> None:
        self._long_tasks.start(self.executor, key, frame, name)

    def long_send(self, key: int, seq: int, frame: bytes) -> None:
        self._long_tasks.send(key, seq, frame)

    def long_poll(self, key: int, timeout: float) -> bytes:
        return self._long_tasks.poll(key, timeout)

    # --- blocks ------------------------------------------------------------------------

    def put(self, block_id: BlockId, frame: bytes) -> None:
        self.executor.block_manager.put_encoded(tuple(block_id), frame)

    def _serve(self) -> None:
        with self._served_lock:
            self._served += 1

    def blocks_served(self) -> int:
        """How many reads of its blocks other executors made through this actor (a block
        fetched, or its handles asked for); a read by handle needs none."""
        with self._served_lock:
            return self._served

    def get_encoded(self, block_ids: Sequence[BlockId]) -> tuple[bool, Any]:
        self._serve()
        blocks = self.executor.block_manager
        try:
            return True, [blocks.get_encoded(tuple(b)) for b in block_ids]
        except KeyError as exc:
            return False, str(exc)

    def handles(self, block_ids: Sequence[BlockId]) -> tuple[bool, Any]:
        self._serve()
        blocks = self.executor.block_manager
        try:
            return True, [blocks.handle(tuple(b)) for b in block_ids]
        except KeyError as exc:
            return False, str(exc)

    def remove_prefix(self, prefix: Sequence[Any]) -> int:
        return self.executor.block_manager.remove_prefix(*prefix)

    def remove(self, block_id: BlockId) -> None:
        self.executor.block_manager.remove(tuple(block_id))

    def block_ids(self) -> list[BlockId]:
        return self.executor.block_manager.block_ids()

    def state_keys(self) -> list[str]:
        return [repr(k) for k in self.executor.state_keys()]

    def reset(self) -> None:
        """End this executor's life in one Context (close hooks, blocks dropped) and start
        it afresh, with the same id, for the next (warm executors, see ray_executor_pool)."""
        old = self.executor
        self.executor = self._new_executor(old.executor_id)
        old.stop()
        released, self._released = self._released, threading.Event()
        released.set()

    def stop(self) -> None:
        """Run the state's close hooks and drop the blocks; the driver kills the actor
        next, which ends any task still running."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.executor.stop()
        self._released.set()
