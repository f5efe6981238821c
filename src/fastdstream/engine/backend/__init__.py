"""Executor back ends: where partition tasks run, and the data plane they own."""

from __future__ import annotations

from typing import Any

from fastdstream.engine.backend.base import ExecutorBackend
from fastdstream.engine.backend.local import LocalExecutor, parse_local_master


def create_backend(master: str, conf: Any) -> ExecutorBackend:
    from fastdstream.conf import SERIALIZE_CLOSURES

    threads = parse_local_master(master)
    if threads is not None:
        return LocalExecutor(threads, conf.get_bool(SERIALIZE_CLOSURES, True))
    if master == "ray" or master.startswith("ray://"):
        raise NotImplementedError(
            f"master {master!r}: the Ray back end is not built yet; use local[N]"
        )
    raise ValueError(f"unknown master {master!r}: expected local, local[N], local[*] or ray")
