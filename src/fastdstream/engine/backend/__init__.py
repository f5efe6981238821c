"""Executor back ends: where partition tasks run, and the data plane they own.

``local[N]`` runs tasks on threads of the driver process, ``local-cluster[N,C,M]``
on N worker processes, ``ray`` / ``ray://host:port`` on Ray actors; all behind
:class:`ExecutorBackend`, each executor with its block manager, shuffle service
and per-executor state.
"""

from __future__ import annotations

from fastdstream.conf import SERIALIZE_CLOSURES, Conf
from fastdstream.engine.backend.base import ExecutorBackend
from fastdstream.engine.backend.local import LocalBackend, parse_local_master
from fastdstream.engine.backend.local_cluster import (
    LocalClusterBackend,
    parse_local_cluster_master,
)
from fastdstream.engine.backend.locality import locality_wait_s


def create_backend(master: str, conf: Conf) -> ExecutorBackend:
    """The back end a master string names."""
    threads = parse_local_master(master)
    if threads is not None:
        return LocalBackend(threads, conf.get_bool(SERIALIZE_CLOSURES, True))
    cluster = parse_local_cluster_master(master)
    if cluster is not None:
        workers, cores, memory_mb = cluster
        max_failures = int(conf.get("spark.task.maxFailures") or 4)
        return LocalClusterBackend(workers, cores, memory_mb, max_failures,
                                   locality_wait_s(conf))
    if master.strip() == "ray" or master.strip().startswith("ray://"):
        # Imported here: Ray is an optional dependency, and slow to import.
        try:
            from fastdstream.engine.backend.ray import RayBackend
        except ImportError as exc:
            raise ImportError(f"master {master!r} needs Ray: pip install 'fastdstream[ray]' "
                              f"({exc})") from exc
        return RayBackend(master, conf)
    raise ValueError(
        f"unknown master {master!r}: expected local, local[N], local[*], "
        "local-cluster[N,C,M] or ray"
    )
