"""Context: the SparkContext analogue -- master, executor back end, RDD creation."""

from __future__ import annotations

import itertools
import logging
import os
import threading
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa

from fastdstream.conf import CLEAN_CHECKPOINTS, Conf
from fastdstream.engine.backend import create_backend
from fastdstream.engine.backend.block_manager import BlockId
from fastdstream.engine.context_cleaner import ContextCleaner
from fastdstream.engine.dag_scheduler import DAGScheduler
from fastdstream.engine.map_output_tracker import MapOutputTracker
from fastdstream.engine.rdd import RDD
from fastdstream.engine.rdds import (
    EmptyRDD,
    ParallelCollectionRDD,
    ReliableCheckpointRDD,
    UnionRDD,
)

log = logging.getLogger(__name__)


class Context:
    """Entry point for RDDs: the counterpart of :class:`pyspark.SparkContext`.

    Parameters
    ----------
    master : str, optional
        ``local`` (one thread), ``local[N]`` or ``local[*]`` (one thread per core) run
        tasks on threads of this process; ``local-cluster[N,C,M]`` on N worker processes
        with C task threads each. Defaults to the conf's ``spark.master``, else
        ``local[*]``.
    appName : str, optional
    conf : Conf or mapping, optional

    Examples
    --------
    >>> sc = Context("local[2]", "example")
    >>> sc.parallelize(range(10), 3).map(lambda x: x * x).sum()
    285
    >>> sc.stop()
    """

    _active: Context | None = None
    _active_lock = threading.Lock()

    def __init__(
        self,
        master: str | None = None,
        appName: str | None = None,
        conf: Conf | Mapping[str, Any] | None = None,
    ):
        self._conf = conf if isinstance(conf, Conf) else Conf(conf)
        if master is not None:
            self._conf.setMaster(master)
        if appName is not None:
            self._conf.setAppName(appName)
        self.master = self._conf.get("spark.master") or "local[*]"
        self.appName = self._conf.get("spark.app.name") or "fastdstream"
        self._backend = create_backend(self.master, self._conf)
        self._map_output_tracker = MapOutputTracker()
        self._dag_scheduler = DAGScheduler(self._backend, self._map_output_tracker)
        self._cleaner = ContextCleaner(
            self._backend, self._map_output_tracker,
            clean_checkpoints=self._conf.get_bool(CLEAN_CHECKPOINTS, False),
        )
        self._checkpoint_dir: str | None = None
        self._checkpoints_requested = False
        self._rdd_ids = itertools.count()
        self._shuffle_ids = itertools.count()
        self._stopped = False
        with Context._active_lock:
            Context._active = self

    @classmethod
    def getOrCreate(cls, conf: Conf | None = None) -> Context:
        """The active Context, or a new one made from ``conf`` if none is running.

        The active Context is the one created last, unless it has been stopped.

        Examples
        --------
        >>> sc = Context("local[2]")
        >>> Context.getOrCreate() is sc
        True
        >>> sc.stop()
        """
        with cls._active_lock:
            active = cls._active
        return active if active is not None and not active._stopped else cls(conf=conf)

    def getConf(self) -> Conf:
        """This Context's configuration.

        It is the Context's own :class:`~fastdstream.Conf`, not a copy (PySpark's is a copy).

        Examples
        --------
        >>> sc = Context("local[2]", "example")
        >>> sc.getConf().get("spark.app.name")
        'example'
        >>> sc.stop()
        """
        return self._conf

    def setCheckpointDir(self, dirName: str) -> None:
        """Set the directory under which RDDs are checkpointed (:meth:`RDD.checkpoint`).

        As in Spark, each Context writes into a new subdirectory of ``dirName``.
        """
        path = os.path.join(os.path.abspath(dirName), str(uuid.uuid4()))
        try:
            os.makedirs(path, exist_ok=True)
        except OSError as exc:
            raise OSError(f"cannot create checkpoint directory {path}: {exc}") from exc
        self._checkpoint_dir = path

    def getCheckpointDir(self) -> str | None:
        """The directory RDD checkpoints go to, or None if none was set."""
        return self._checkpoint_dir

    def _checkpointFile(self, path: str) -> RDD:
        """An RDD made from a reliable checkpoint directory (PySpark's
        ``SparkContext._checkpointFile``): what :meth:`RDD.getCheckpointFile` of a
        checkpointed RDD names, read back, e.g. by a recovering streaming job.

        Each partition file is verified (CRC-32) when a task reads it; a missing
        directory or partition file is an error here, naming it.
        """
        return ReliableCheckpointRDD(self, path)

    def _rdd_checkpoint_dir(self, rdd_id: int) -> str:
        if self._checkpoint_dir is None:
            raise ValueError("Checkpoint directory has not been set in the Context")
        path = os.path.join(self._checkpoint_dir, f"rdd-{rdd_id}")
        os.makedirs(path, exist_ok=True)
        return path

    @property
    def defaultParallelism(self) -> int:
        """The default number of partitions of :meth:`parallelize`, and of shuffles when
        ``spark.default.parallelism`` is set.

        That setting if set, else the back end's task slots: ``N`` for ``local[N]``, ``N * C``
        for ``local-cluster[N,C,M]``.

        Examples
        --------
        >>> sc = Context("local[2]")
        >>> sc.defaultParallelism
        2
        >>> sc.stop()
        """
        configured = self._conf.get("spark.default.parallelism")
        return int(configured) if configured else self._backend.parallelism

    def _next_rdd_id(self) -> int:
        return next(self._rdd_ids)

    def _next_shuffle_id(self) -> int:
        return next(self._shuffle_ids)

    def parallelize(self, c: Iterable[Any] | pa.Table | pa.RecordBatch,
                    numSlices: int | None = None) -> RDD:
        """Distribute a local collection (or an Arrow table, kept columnar) to form an RDD.

        Examples
        --------
        >>> sc = Context("local[2]")
        >>> sc.parallelize([1, 2, 3, 4], 2).glom().collect()
        [[1, 2], [3, 4]]
        >>> import pyarrow as pa
        >>> sc.parallelize(pa.table({"value": ["x", "y"]})).collect()
        ['x', 'y']
        >>> sc.stop()
        """
        n = numSlices if numSlices is not None else self.defaultParallelism
        if n < 1:
            raise ValueError(f"numSlices must be at least 1, got {n}")
        if isinstance(c, pa.RecordBatch):
            c = pa.Table.from_batches([c])
        if isinstance(c, pa.Table):
            size = c.num_rows
            slices: list[Any] = [
                c.slice(size * i // n, size * (i + 1) // n - size * i // n) for i in range(n)
            ]
        else:
            items = c if isinstance(c, list) else list(c)
            size = len(items)
            slices = [items[size * i // n: size * (i + 1) // n] for i in range(n)]
        return ParallelCollectionRDD(self, slices)

    # --- blocks the driver hands to executors (received input) ---------------------------

    def _store_block(self, block_id: BlockId, data: Any) -> str:
        """Store a block on an executor; return where it is."""
        return self._backend.store_block(block_id, data)

    def _remove_block(self, block_id: BlockId, executor_id: str) -> None:
        if not self._stopped:
            self._backend.remove_block(block_id, executor_id)

    def emptyRDD(self) -> RDD:
        """An RDD with no partitions and no elements.

        Examples
        --------
        >>> sc = Context("local[2]")
        >>> rdd = sc.emptyRDD()
        >>> rdd.getNumPartitions(), rdd.collect()
        (0, [])
        >>> sc.stop()
        """
        return EmptyRDD(self)

    def union(self, rdds: list[RDD]) -> RDD:
        """The union of a list of RDDs: their partitions, one after another, duplicates kept.

        A list of one RDD gives that RDD; an empty list raises ValueError.

        Examples
        --------
        >>> sc = Context("local[2]")
        >>> sc.union([sc.parallelize([1, 2], 1), sc.parallelize([2, 3], 1)]).collect()
        [1, 2, 2, 3]
        >>> sc.stop()
        """
        if not rdds:
            raise ValueError("union needs at least one RDD")
        return rdds[0] if len(rdds) == 1 else UnionRDD(self, list(rdds))

    def stop(self) -> None:
        """Shut down this Context: its executors and its cleaner. Stopping it again does nothing.

        On ``local[N]`` the tasks already running finish and queued ones are dropped; on
        ``local-cluster`` the worker processes end at once and the jobs still running fail.
        """
        if self._stopped:
            return
        self._stopped = True
        self._cleaner.stop()
        self._backend.stop()
        with Context._active_lock:
            if Context._active is self:
                Context._active = None

    def __enter__(self) -> Context:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"Context(master={self.master!r}, appName={self.appName!r})"
