"""Socket text source: a receiver reading UTF-8 lines from host:port (``nc -lk`` style)."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading

from fastdstream.errors import DecodeError
from fastdstream.sources.lines import DEFAULT_MAX_LINE_BYTES, LineSplitter
from fastdstream.streaming.receiver.receiver import Receiver

log = logging.getLogger(__name__)

RECV_BUFFER_BYTES = 4 << 20  # the most one read takes from the socket
LIMITED_READ_BYTES = 1 << 16  # the most it takes under a rate limit


class SocketReceiver(Receiver):
    """Connects to ``host:port``, stores its lines as Arrow ``value`` columns.

    When the server closes the connection or cannot be reached, the receiver
    logs it and restarts (reconnects) after the restart delay. Bytes that are
    not UTF-8 stop the receiver with a :class:`DecodeError` naming host:port
    and line (policy ``strict``), or are replaced by U+FFFD (``replace``); so
    does a line longer than ``fastdstream.text.maxLineBytes``. The lines received
    before the bad one are stored first, and the error says how many were.
    """

    def __init__(self, host: str, port: int, decode_errors: str = "strict",
                 connect_timeout_s: float = 5.0,
                 max_line_bytes: int = DEFAULT_MAX_LINE_BYTES):
        super().__init__()
        self.max_line_bytes = max_line_bytes
        self.host = host
        self.port = port
        self.decode_errors = decode_errors
        self.connect_timeout_s = connect_timeout_s
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def name(self) -> str:
        return f"SocketReceiver({self.address})"

    def onStart(self) -> None:
        threading.Thread(target=self._receive, name=f"socket-receiver-{self.address}",
                         daemon=True).start()

    def onStop(self) -> None:
        with self._lock:
            sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _receive(self) -> None:
        try:
            sock = socket.create_connection((self.host, self.port), self.connect_timeout_s)
        except OSError as exc:
            self.restart(f"Error connecting to {self.address}", exc)
            return
        sock.settimeout(None)
        with self._lock:
            self._sock = sock
        log.info("Connected to %s", self.address)
        splitter = LineSplitter(f"socket {self.address}", self.decode_errors,
                                self.max_line_bytes)
        delivered = 0
        # One read takes what the socket holds, up to the buffer: under load (executor
        # threads running Python functions hold the GIL) each time this thread gets
        # the GIL back costs up to a switch interval, so it must carry many lines.
        # 64 KiB reads left the receiver at ~300k lines/s beside two such threads.
        # Under a rate limit (maxRate, backpressure) reads stay small, so that a store
        # waits for a few lines' permits, not for seconds' worth in one go.
        buffer = bytearray(RECV_BUFFER_BYTES)
        supervisor = self._get_supervisor()
        try:
            while not self.isStopped():
                limited = supervisor.current_rate is not None
                received = sock.recv_into(buffer, LIMITED_READ_BYTES if limited else 0)
                if not received:
                    break
                table = splitter.feed(buffer, received)
                if table is not None:
                    self.store(table)
                    delivered += table.num_rows
            tail = splitter.flush()
            if tail is not None:
                self.store(tail)
        except DecodeError as exc:
            # The chunk's lines before the bad one are the source's data like any other.
            before = exc.lines_before
            if before is not None and before.num_rows:
                self.store(before)
                delivered += before.num_rows
            error = DecodeError(f"{exc}; {delivered} line(s) received from {self.address} "
                                "on this connection before it were stored")
            error.__cause__ = exc.__cause__ or exc
            self.stop(str(error), error)
            return
        except OSError as exc:
            if not self.isStopped():
                self.restart(f"Error receiving data from {self.address}", exc)
            return
        if not self.isStopped():
            log.warning("Connection to %s closed by the server; reconnecting", self.address)
            self.restart(f"Socket data stream from {self.address} had no more data")
