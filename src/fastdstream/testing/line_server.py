"""A small TCP line server, the ``nc -lk`` of the socket examples, tests and benchmarks.

Every connected client gets every line sent after it connected. Run it by hand
(where ``nc`` is missing, this is ``nc -lk 9999``)::

    fastdstream line-server --port 9999          # lines typed on stdin
    fastdstream line-server --port 9999 --demo   # generated text, forever
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import random
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterable, Iterator

DEMO_TEXT = """\
a dstream is a sequence of batches one per batch interval
the driver builds each batch and the executors run its partitions
word count is the hello world of streaming
spark streaming cut the stream into small batches and so do we
every batch is a small job and small jobs must be cheap
"""


class LineServer:
    """Listen on ``host:port`` (port 0 picks a free one) and broadcast lines to clients.

    Examples
    --------
    >>> with LineServer() as server:
    ...     conn = socket.create_connection(server.address)
    ...     _ = server.wait_for_clients(1, timeout=5)
    ...     _ = server.send_lines(["hello world"])
    ...     conn.recv(100)
    b'hello world\\n'
    >>> conn.close()
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self._listener = socket.create_server((host, port), reuse_port=False)
        self.host, self.port = self._listener.getsockname()[:2]
        self._clients: list[socket.socket] = []
        self._cond = threading.Condition()
        self._stopped = threading.Event()
        self._accept_thread = threading.Thread(target=self._accept, daemon=True,
                                               name=f"line-server-{self.port}")
        self._accept_thread.start()

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._cond:
                self._clients.append(conn)
                self._cond.notify_all()

    def wait_for_clients(self, n: int, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self._clients) >= n, timeout)

    @property
    def num_clients(self) -> int:
        with self._cond:
            return len(self._clients)

    def send_bytes(self, data: bytes) -> int:
        """Send raw bytes to every client; return how many clients got them."""
        with self._cond:
            clients = list(self._clients)
        delivered = 0
        for conn in clients:
            try:
                conn.sendall(data)
                delivered += 1
            except OSError:
                with self._cond:
                    if conn in self._clients:
                        self._clients.remove(conn)
                conn.close()
        return delivered

    def send_lines(self, lines: Iterable[str]) -> int:
        return self.send_bytes("".join(f"{line}\n" for line in lines).encode("utf-8"))

    def disconnect_clients(self) -> None:
        """Close every client connection (the server keeps listening)."""
        with self._cond:
            clients, self._clients = self._clients, []
        for conn in clients:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def stop(self) -> None:
        self._stopped.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self.disconnect_clients()
        self._accept_thread.join(timeout=5)

    def __enter__(self) -> LineServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def demo_lines(seed: int = 0) -> Iterator[str]:
    """An endless supply of text lines for demos."""
    rng = random.Random(seed)
    lines = DEMO_TEXT.splitlines()
    for i in itertools.count():
        yield lines[i % len(lines)] if i % 3 else rng.choice(lines)


def feed(server: LineServer, lines: Iterator[str], lines_per_second: float,
         stop: threading.Event) -> None:
    """Send ``lines`` at a steady rate until ``stop`` is set."""
    period = 1.0 / lines_per_second
    next_at = time.monotonic()
    while not stop.is_set():
        server.send_lines([next(lines)])
        next_at += period
        stop.wait(max(0.0, next_at - time.monotonic()))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The line server's command-line options (``fastdstream line-server`` has them too)."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=9999, help="port (0: a free one)")
    parser.add_argument("--demo", action="store_true",
                        help="send generated text forever instead of the lines typed on stdin")
    parser.add_argument("--rate", type=float, default=20.0, help="demo lines per second")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM ends the server as Ctrl-C does: clients closed first


def run(args: argparse.Namespace) -> int:
    """Serve until stdin ends (or forever with ``--demo``), Ctrl-C or SIGTERM."""
    server = LineServer(args.host, args.port)
    source = f"generated text, {args.rate:g} lines/s" if args.demo else "the lines typed here"
    print(f"line server on {args.host}:{server.port}, sending {source}; Ctrl-C stops it",
          file=sys.stderr, flush=True)
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        if args.demo:
            feed(server, demo_lines(), args.rate, stop)
        else:
            for line in sys.stdin:
                server.send_lines([line.rstrip("\n")])
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        stop.set()
        server.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
