"""The wire between a ``local-cluster`` driver and its workers.

Connections are :mod:`multiprocessing.connection` sockets on 127.0.0.1,
authenticated with a key the driver makes per Context and hands to its workers
in their environment; every message is a serde frame.
"""

from __future__ import annotations

import os
import socket
from multiprocessing.connection import Connection

AUTHKEY_ENV = "FASTDSTREAM_WORKER_AUTHKEY"
SYS_PATH_ENV = "FASTDSTREAM_WORKER_SYS_PATH"


def no_delay(conn: Connection) -> Connection:
    """Turn off Nagle's algorithm: a task message right behind its stage message must
    not wait for the peer's delayed ACK (40 ms a round trip otherwise)."""
    sock = socket.socket(fileno=os.dup(conn.fileno()))
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    finally:
        sock.close()
    return conn
