"""Socket text source: a receiver reading UTF-8 lines from host:port (``nc -lk`` style)."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading

from fastdstream.errors import DecodeError
from fastdstream.sources.lines import LineSplitter
from fastdstream.streaming.receiver.receiver import Receiver

log = logging.getLogger(__name__)


class SocketReceiver(Receiver):
    """Connects to ``host:port``, stores its lines as Arrow ``value`` columns.

    When the server closes the connection or cannot be reached, the receiver
    logs it and restarts (reconnects) after the restart delay. Bytes that are
    not UTF-8 stop the receiver with a :class:`DecodeError` naming host:port
    and line (policy ``strict``), or are replaced by U+FFFD (``replace``).
    """

    def __init__(self, host: str, port: int, decode_errors: str = "strict",
                 connect_timeout_s: float = 5.0):
        super().__init__()
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
        splitter = LineSplitter(f"socket {self.address}", self.decode_errors)
        try:
            while not self.isStopped():
                chunk = sock.recv(1 << 16)
                if not chunk:
                    break
                table = splitter.feed(chunk)
                if table is not None:
                    self.store(table)
            tail = splitter.flush()
            if tail is not None:
                self.store(tail)
        except DecodeError as exc:
            self.stop(str(exc), exc)
            return
        except OSError as exc:
            if not self.isStopped():
                self.restart(f"Error receiving data from {self.address}", exc)
            return
        if not self.isStopped():
            log.warning("Connection to %s closed by the server; reconnecting", self.address)
            self.restart(f"Socket data stream from {self.address} had no more data")
