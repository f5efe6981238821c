"""A ``local-cluster`` worker process: one executor, C task threads.

Started by the driver as ``python -m fastdstream.engine.backend.worker ID CORES``
(the authentication key in the environment). It listens on 127.0.0.1, prints
``READY <port>``, and serves two kinds of connection: the driver's (stages,
tasks, blocks to store or remove, stop) and other workers' block fetches
(shuffle outputs and received blocks they read from here). Every message is a
serde frame. The worker's life is tied to the driver's: when the driver's
connection closes -- the driver stopped, crashed or was killed -- the worker
stops its executor and exits.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Client, Connection, Listener
from typing import Any

from fastdstream.engine.backend import serde
from fastdstream.engine.backend.block_manager import BlockId, BlockNotFoundError
from fastdstream.engine.backend.executor import Executor
from fastdstream.engine.backend.long_task import LongTaskContext, run_in_thread
from fastdstream.engine.backend.wire import AUTHKEY_ENV, SYS_PATH_ENV, no_delay

log = logging.getLogger("fastdstream.worker")



def encode_error(exc: BaseException) -> bytes:
    """A task's exception for the driver: the exception itself where it pickles, and
    always the worker-side traceback text."""
    text = "".join(traceback.format_exception(exc))
    try:
        return serde.dumps((exc, text))
    except Exception:
        return serde.dumps((None, f"{type(exc).__module__}.{type(exc).__qualname__}: {text}"))


class PeerFetcher:
    """Fetches blocks from other workers; one open connection per thread and peer."""

    def __init__(self, authkey: bytes):
        self._authkey = authkey
        self._ports: dict[str, int] = {}
        self._local = threading.local()

    def set_peers(self, ports: dict[str, int]) -> None:
        self._ports = dict(ports)

    def __call__(self, location: str, block_ids: Sequence[BlockId]) -> list[bytes]:
        port = self._ports.get(location)
        if port is None:
            raise ConnectionError(f"executor {location} is not a live worker")
        conns: dict[str, Connection] = getattr(self._local, "conns", None) or {}
        self._local.conns = conns
        conn = conns.get(location)
        try:
            if conn is None:
                conn = conns[location] = no_delay(
                    Client(("127.0.0.1", port), authkey=self._authkey))
                conn.send_bytes(serde.dumps(("fetch",)))
            conn.send_bytes(serde.dumps(("get", list(block_ids))))
            ok, payload = serde.loads(conn.recv_bytes())
        except (OSError, EOFError) as exc:
            conns.pop(location, None)
            raise ConnectionError(f"executor {location} (127.0.0.1:{port}): {exc}") from exc
        if not ok:
            raise BlockNotFoundError(payload)
        return list(payload)


class Worker:
    def __init__(self, executor_id: str, cores: int, authkey: bytes):
        self.fetcher = PeerFetcher(authkey)
        self.executor = Executor(executor_id, self.fetcher)
        self._pool = ThreadPoolExecutor(max_workers=cores, thread_name_prefix="task")
        self._stages: dict[int, Callable[..., Any]] = {}
        self._long_tasks: dict[int, LongTaskContext] = {}
        # Preload imports under way (see _preload); functions load after them.
        self._preloading: list[threading.Thread] = []
        self._send_lock = threading.Lock()
        self._listener = Listener(("127.0.0.1", 0), authkey=authkey)
        self.port = self._listener.address[1]
        self._driver: Connection | None = None

    def serve(self) -> None:
        while True:
            conn = no_delay(self._listener.accept())
            role = serde.loads(conn.recv_bytes())[0]
            if role == "driver" and self._driver is None:
                self._driver = conn
                threading.Thread(target=self._driver_loop, args=(conn,), daemon=True,
                                 name="driver-connection").start()
            elif role == "fetch":
                threading.Thread(target=self._fetch_loop, args=(conn,), daemon=True,
                                 name="block-server").start()
            else:
                conn.close()

    # --- the driver's connection ----------------------------------------------------------

    def _send(self, message: tuple[Any, ...]) -> None:
        assert self._driver is not None
        frame = serde.dumps(message)
        with self._send_lock:
            self._driver.send_bytes(frame)

    def _driver_loop(self, conn: Connection) -> None:
        try:
            while True:
                message = serde.loads(conn.recv_bytes())
                if self._handle(message):
                    break
        except (EOFError, OSError):
            log.info("executor %s: the driver went away; exiting", self.executor.executor_id)
        self._exit()

    def _handle(self, message: tuple[Any, ...]) -> bool:
        kind = message[0]
        if kind == "task":
            _, task_id, stage_key, split, stage_id, attempt = message
            self._pool.submit(self._run_task, task_id, self._stages[stage_key], split,
                              stage_id, attempt)
        elif kind == "stage":
            _, stage_key, frame = message
            self._await_preload()
            self._stages[stage_key] = serde.loads_function(frame)
        elif kind == "forget_stage":
            self._stages.pop(message[1], None)
        elif kind == "peers":
            self.fetcher.set_peers(message[1])
        elif kind == "preload":
            thread = threading.Thread(target=_preload, args=(message[1],), daemon=True,
                                      name="preload")
            thread.start()
            self._preloading.append(thread)
        elif kind == "long_start":
            self._start_long_task(*message[1:])
        elif kind == "long_msg":
            context = self._long_tasks.get(message[1])
            if context is not None:
                context.deliver(message[2])
        else:
            request_id = message[1]
            try:
                reply = self._request(kind, *message[2:])
            except Exception as exc:
                self._send(("done", request_id, False, encode_error(exc)))
            else:
                self._send(("done", request_id, True, serde.dumps(reply)))
            return kind == "stop"
        return False

    def _await_preload(self) -> None:
        # Unpickling a function imports its modules: on another thread while the preload
        # imports the same package, CPython's import can fail with a KeyError naming the
        # package (seen loading a Kafka stage), so functions load once the preload is done.
        for thread in self._preloading:
            thread.join()
        self._preloading.clear()

    def _request(self, kind: str, *args: Any) -> Any:
        blocks = self.executor.block_manager
        if kind == "put":
            block_id, frame = args
            blocks.put_encoded(tuple(block_id), frame)
            return None
        if kind == "remove_prefix":
            return blocks.remove_prefix(*args[0])
        if kind == "remove":
            blocks.remove(tuple(args[0]))
            return None
        if kind == "block_ids":
            return blocks.block_ids()
        if kind == "state_keys":
            return [repr(k) for k in self.executor.state_keys()]
        if kind == "stop":
            # Running tasks are not waited for: the Context is stopping, and the process
            # exits right after this reply, which ends them.
            self._pool.shutdown(wait=False, cancel_futures=True)
            self.executor.stop()
            return None
        raise ValueError(f"unknown request {kind!r}")

    def _start_long_task(self, key: int, frame: bytes, name: str) -> None:
        def report(message: Any) -> None:
            self._send(("long_report", key, message))

        def ended(error: BaseException | None) -> None:
            self._long_tasks.pop(key, None)
            self._send(("long_end", key, None if error is None else encode_error(error)))

        context = self._long_tasks[key] = LongTaskContext(self.executor, report)
        try:
            self._await_preload()
            fn = serde.loads_function(frame)
        except BaseException as exc:
            ended(exc)
            return
        run_in_thread(fn, context, name, ended)

    def _run_task(self, task_id: int, fn: Callable[..., Any], split: int, stage_id: int,
                  attempt: int) -> None:
        try:
            result = self.executor.run_task(fn, stage_id, split, attempt)
            payload = serde.dumps(result)
        except BaseException as exc:
            self._send(("done", task_id, False, encode_error(exc)))
        else:
            self._send(("done", task_id, True, payload))

    # --- other workers' fetches -----------------------------------------------------------

    def _fetch_loop(self, conn: Connection) -> None:
        blocks = self.executor.block_manager
        try:
            while True:
                _, block_ids = serde.loads(conn.recv_bytes())
                try:
                    frames = [blocks.get_encoded(tuple(b)) for b in block_ids]
                except KeyError as exc:
                    conn.send_bytes(serde.dumps((False, str(exc))))
                else:
                    conn.send_bytes(serde.dumps((True, frames)))
        except (EOFError, OSError):
            conn.close()

    def _exit(self) -> None:
        try:
            self.executor.stop()
        finally:
            logging.shutdown()
            os._exit(0)


def _preload(modules: Sequence[str]) -> None:
    """Import what the driver expects tasks to need, while the driver goes on."""
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:  # the task that needs it reports the error
            log.debug("preloading %s failed: %s", name, exc)


def _watch_parent(parent: int) -> None:
    # Belt and braces beside the connection's EOF: a worker never outlives its driver.
    while True:
        threading.Event().wait(1.0)
        if os.getppid() != parent:
            os._exit(1)


def main(argv: list[str]) -> None:
    executor_id, cores = argv[0], int(argv[1])
    authkey = bytes.fromhex(os.environ.pop(AUTHKEY_ENV))
    for entry in reversed(json.loads(os.environ.get(SYS_PATH_ENV, "[]"))):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format=f"%(asctime)s executor {executor_id} %(levelname)s "
                               "%(name)s: %(message)s")
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    worker = Worker(executor_id, cores, authkey)
    print(f"READY {worker.port}", flush=True)
    # What tasks print goes where the driver's errors go, never into the READY pipe.
    os.dup2(2, 1)
    worker.serve()


if __name__ == "__main__":
    main(sys.argv[1:])
