"""RDD: one batch of data, as partitions plus the lineage that computes them.

An RDD is built on the driver. Narrow transformations (map, filter, ...) are
pipelined into one function per partition; wide ones (reduceByKey, join,
repartition, ...) cut the lineage at a shuffle. Actions hand the partition
functions to the executor back end through the DAG scheduler. Partition
functions close over data and user functions only -- never over the RDD or the
Context -- so they can be shipped to executors.
"""

from __future__ import annotations

import builtins
import copy
import dataclasses
import heapq
import itertools
import math
import operator
import os
import random
import shutil
import sys
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator
from functools import partial, reduce
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from fastdstream.engine import closure_check, rdd_sampler, tasks
from fastdstream.engine.columnar import registry, sort
from fastdstream.engine.columnar.partition import PartitionData, iter_rows
from fastdstream.engine.partitioner import HashPartitioner, portable_hash
from fastdstream.engine.rdd_checkpoint import LocalCheckpoint, ReliableCheckpoint
from fastdstream.engine.stat_counter import StatCounter
from fastdstream.engine.tasks import PartitionFn, Step
from fastdstream.files import fsync_path
from fastdstream.storage_level import StorageLevel
from fastdstream.unsupported import NO_HADOOP, unsupported

if TYPE_CHECKING:
    from fastdstream.engine.context import Context


class RDD:
    """A resilient distributed dataset: the data of one batch.

    Examples
    --------
    >>> from fastdstream import Context
    >>> sc = Context("local[2]")
    >>> sc.parallelize(["a b", "b"], 2).flatMap(str.split).countByValue()
    {'a': 1, 'b': 2}
    >>> sc.stop()
    """

    def __init__(self, ctx: Context, num_partitions: int, parents: tuple[RDD, ...] = ()):
        self.ctx = ctx
        self._id = ctx._next_rdd_id()
        self._num_partitions = num_partitions
        self._parents = parents
        self._persisted = False
        self.partitioner: HashPartitioner | None = None
        self._checkpoint_request: str | None = None  # "reliable" or "local", until done
        self._checkpoint: ReliableCheckpoint | LocalCheckpoint | None = None
        self._name: str | None = None
        self._storage_level: StorageLevel | None = None

    # --- lineage ------------------------------------------------------------------------

    def _build_partition_fn(self) -> PartitionFn:
        raise NotImplementedError

    def _partition_fn(self) -> PartitionFn:
        checkpoint = self._checkpoint
        if isinstance(checkpoint, ReliableCheckpoint):
            return partial(tasks.read_checkpoint_partition, checkpoint.paths)
        if isinstance(checkpoint, LocalCheckpoint):
            return partial(tasks.read_block, checkpoint.block_ids, checkpoint.locations, None,
                           None)
        fn = self._build_partition_fn()
        if self._persisted:
            return partial(tasks.cached_partition, self._id, fn)
        return fn

    def _preferred_location(self, split: int) -> str | None:
        """The executor that holds this partition's input, if one does."""
        if isinstance(self._checkpoint, LocalCheckpoint):
            return self._checkpoint.locations[split]
        return self._input_location(split)

    def _input_location(self, split: int) -> str | None:
        """Where this kind of RDD's input for ``split`` is (received blocks), if anywhere."""
        return None

    def _is_pipelinable(self) -> bool:
        return not (self._persisted or self._checkpoint_request or self._checkpoint)

    def getNumPartitions(self) -> int:
        """The number of partitions of this RDD.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> sc.parallelize([1, 2, 3], 3).getNumPartitions()
        3
        >>> sc.stop()
        """
        return self._num_partitions

    @property
    def context(self) -> Context:
        """The :class:`Context` this RDD was created on."""
        return self.ctx

    def __repr__(self) -> str:
        return f"{type(self).__name__}[{self._id}] ({self._num_partitions} partitions)"

    # --- explain ------------------------------------------------------------------------

    _plan: registry.Plan | None = None  # a shuffle's registry decision, for the explain

    def explain(self) -> str:
        """The lineage, one line per RDD and pipelined step, saying how each step runs.

        For each step: ``columnar`` (an Arrow kernel, no Python object per record),
        ``columnar when ...`` (the kernel's guard, checked per partition; rows where it
        fails), or ``rows`` and why not columnar. The layout is PySpark's
        :meth:`toDebugString`: ``(N)`` partitions where a stage starts, ``+-`` at a
        shuffle. Decided when the RDDs were built; nothing runs.

        Returns
        -------
        str

        Examples
        --------
        >>> import operator
        >>> import pyarrow as pa
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> lines = sc.parallelize(pa.table({"value": ["a b", "b"]}), 2)
        >>> counts = (lines.flatMap(str.split).map(lambda w: (w, 1))
        ...           .reduceByKey(operator.add))
        >>> print(counts.explain())
        (2) ShuffledRDD[3] reduceByKey(operator.add) rows: its input is Python rows
            (from map(<lambda>))
         +-(2) PipelinedRDD[2] 2 steps
            |    map(<lambda>) rows: not a registered function for map
            |    flatMap(str.split) columnar when one string column, no nulls; else rows
            |  ParallelCollectionRDD[0] Arrow tables
        >>> sc.stop()
        """
        from fastdstream.engine.explain import debug_string

        return debug_string(self)

    def toDebugString(self) -> bytes:
        """:meth:`explain` as UTF-8 bytes: PySpark's ``toDebugString`` returns bytes."""
        return self.explain().encode("utf-8")

    # --- persistence --------------------------------------------------------------------

    def cache(self) -> RDD:
        """Keep computed partitions in their executors' memory: :meth:`persist`.

        Returns
        -------
        RDD
            This RDD.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> rdd = sc.parallelize([1, 2], 2).cache()
        >>> rdd.is_cached, rdd.sum()
        (True, 3)
        >>> sc.stop()
        """
        return self.persist()

    def persist(self, storageLevel: Any = None) -> RDD:
        """Keep computed partitions in their executors' memory, so later jobs reuse them.

        The blocks go when :meth:`unpersist` is called or the RDD is garbage-collected.
        """
        if storageLevel is not None:
            self._storage_level = storageLevel
        if not self._persisted:
            self._persisted = True
            self.ctx._cleaner.register_rdd(self, self._id)
        return self

    def unpersist(self, blocking: bool = False) -> RDD:
        """Stop keeping this RDD's partitions and remove its cached blocks from the executors.

        The removal is waited for, whatever ``blocking`` says (it is there for PySpark's
        signature).

        Returns
        -------
        RDD
            This RDD.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> rdd = sc.parallelize([1, 2], 2).cache()
        >>> rdd.unpersist().is_cached
        False
        >>> sc.stop()
        """
        self._persisted = False
        self.ctx._cleaner.clean_now(("rdd", self._id))
        return self

    @property
    def is_cached(self) -> bool:
        """Whether this RDD is marked to keep its partitions (:meth:`cache`, :meth:`persist`)."""
        return self._persisted

    # --- checkpoints (cutting the lineage) ------------------------------------------------

    def checkpoint(self) -> None:
        """Mark this RDD for checkpointing: after the next job that computes it, its
        partitions are saved under ``Context.setCheckpointDir`` and its parents dropped.

        Persist it first, or that job's partitions are computed a second time to be saved.

        Examples
        --------
        >>> import tempfile
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> sc.setCheckpointDir(tempfile.mkdtemp())
        >>> rdd = sc.parallelize(range(4), 2).map(lambda x: x + 1)
        >>> rdd.checkpoint()
        >>> rdd.sum(), rdd.isCheckpointed()
        (10, True)
        >>> sc.stop()
        """
        if self.ctx.getCheckpointDir() is None:
            raise ValueError("Checkpoint directory has not been set in the Context; call "
                             "sc.setCheckpointDir(directory) first")
        self._request_checkpoint("reliable")

    def localCheckpoint(self) -> None:
        """Mark this RDD for local checkpointing: after the next job that computes it, its
        partitions stay as blocks on their executors and its parents are dropped.

        Faster than :meth:`checkpoint` and needs no directory, but a partition is lost
        with its executor (a job that needs it then fails).
        """
        self.persist()
        self._request_checkpoint("local")

    def _request_checkpoint(self, kind: str) -> None:
        if self._checkpoint is None:
            self._checkpoint_request = kind
            self.ctx._checkpoints_requested = True

    def isCheckpointed(self) -> bool:
        """Whether this RDD has been checkpointed, reliably or locally.

        True once the first job after :meth:`checkpoint` or :meth:`localCheckpoint` has
        saved its partitions; False while it is only marked.
        """
        return self._checkpoint is not None

    def isLocallyCheckpointed(self) -> bool:
        """Whether this RDD has been checkpointed by :meth:`localCheckpoint`.

        True once the first job after :meth:`localCheckpoint` has computed its partitions
        (they stay as blocks on their executors); False while it is only marked.
        """
        return isinstance(self._checkpoint, LocalCheckpoint)

    def getCheckpointFile(self) -> str | None:
        """The directory of a reliably checkpointed RDD's files, else None."""
        checkpoint = self._checkpoint
        return checkpoint.directory if isinstance(checkpoint, ReliableCheckpoint) else None

    def _do_checkpoint(self) -> None:
        """After a job: save the RDDs of its lineage that were marked (Spark's doCheckpoint:
        a marked RDD is saved and the walk stops there; unmarked ones pass it on)."""
        if not self.ctx._checkpoints_requested:
            return
        seen: set[int] = set()
        stack: list[RDD] = [self]
        while stack:
            node = stack.pop()
            if node._id in seen or node._checkpoint is not None:
                continue
            seen.add(node._id)
            if node._checkpoint_request is not None:
                node._save_checkpoint()
            else:
                stack.extend(node._parents)

    def _save_checkpoint(self) -> None:
        scheduler = self.ctx._dag_scheduler
        if self._checkpoint_request == "reliable":
            directory = self.ctx._rdd_checkpoint_dir(self._id)
            paths = scheduler.run_job(self, partial(tasks.save_checkpoint_result, directory))
            self._checkpoint = ReliableCheckpoint(directory, tuple(paths))
            self.ctx._cleaner.register_checkpoint(self, directory)
        else:
            locations = scheduler.run_job(self, tasks.where_computed)
            block_ids = tuple(("rdd", self._id, split) for split in range(len(locations)))
            self._checkpoint = LocalCheckpoint(block_ids, tuple(locations))
        self._checkpoint_request = None
        self._parents = ()
        self._clear_dependencies()

    def _clear_dependencies(self) -> None:
        """Drop what only the lineage needed, once checkpointed (subclasses add theirs)."""

    # --- lineage -----------------------------------------------------------------------

    def _lineage(self) -> Iterator[RDD]:
        """This RDD and its ancestors, each once, depth-first in parent order (what a
        source's lineage-wide query, such as Kafka's ``offsetRanges``, walks).

        Only what this batch read: a state carried over from earlier batches is not
        walked into (see :meth:`_input_parents`)."""
        seen: set[int] = set()
        stack: list[RDD] = [self]
        while stack:
            node = stack.pop()
            if node._id in seen:
                continue
            seen.add(node._id)
            yield node
            stack.extend(reversed(node._input_parents()))

    def _input_parents(self) -> tuple[RDD, ...]:
        """The parents this RDD's own input comes from: all of them, except in an RDD
        that carries a state from an earlier batch (whose offsets were consumed then)."""
        return self._parents

    # --- narrow transformations ---------------------------------------------------------

    def _check(self, operation: str, *functions: Any, values: dict[str, Any] | None = None
               ) -> None:
        """Fail at the user's call, before any task runs, if a function (or value) given
        to ``operation`` cannot be shipped to executors (Spark's ensureSerializable)."""
        if self.ctx._backend.ships_closures:
            name = f"RDD.{operation}"
            for fn in functions:
                closure_check.check(name, fn)
            for label, value in (values or {}).items():
                closure_check.check_value(name, label, value)

    def _pipe(self, step: Step, preserves_partitioning: bool = False) -> RDD:
        return rdds.PipelinedRDD(self, step, preserves_partitioning)

    def map(self, f: Callable[[Any], Any], preservesPartitioning: bool = False) -> RDD:
        """Return a new RDD by applying ``f`` to each element.

        For a function the engine recognises -- ``str.lower``, ``str.upper``, ``str.title``,
        ``str.strip``, ``len``, ``operator.itemgetter(i)``, or one given to
        :func:`~fastdstream.register_kernel` -- a partition that is an Arrow table stays
        columnar where the kernel's guard holds (see :meth:`explain`); any other partition
        or function runs ``f`` on Python rows.

        Parameters
        ----------
        f : callable
        preservesPartitioning : bool, default False
            Whether ``f`` keeps the keys of (key, value) pairs, so the partitioner is kept.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> sc.parallelize([1, 2, 3], 2).map(lambda x: x * 2).collect()
        [2, 4, 6]
        >>> sc.stop()
        """
        self._check("map", f)
        step = tasks.make_step(partial(tasks.map_rows, f), registry.plan("map", f))
        return self._pipe(step, preservesPartitioning)

    def flatMap(
        self, f: Callable[[Any], Iterable[Any]], preservesPartitioning: bool = False
    ) -> RDD:
        """Return a new RDD by applying ``f`` to each element and flattening the results.

        ``str.split`` (or a function given to :func:`~fastdstream.register_kernel`) keeps a
        partition that is one string column without nulls columnar; otherwise ``f`` runs on
        Python rows. ``preservesPartitioning`` is as for :meth:`map`.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> sc.parallelize(["a b", "c"], 2).flatMap(str.split).collect()
        ['a', 'b', 'c']
        >>> sc.stop()
        """
        self._check("flatMap", f)
        fn = partial(tasks.flat_map, f)
        return self._pipe(tasks.make_step(fn, registry.plan("flatMap", f)), preservesPartitioning)

    def filter(self, f: Callable[[Any], bool]) -> RDD:
        """Return a new RDD of the elements for which ``f`` is true.

        ``None`` or ``bool`` keeps a partition that is one string or binary column columnar
        (its non-empty values); otherwise ``f`` runs on Python rows. Partitioning is kept.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> sc.parallelize(range(6), 2).filter(lambda x: x % 2 == 0).collect()
        [0, 2, 4]
        >>> sc.stop()
        """
        self._check("filter", f)
        return self._pipe(
            tasks.make_step(partial(tasks.filter_rows, f), registry.plan("filter", f)), True
        )

    def mapPartitions(
        self, f: Callable[[Iterator[Any]], Iterable[Any]], preservesPartitioning: bool = False
    ) -> RDD:
        """Return a new RDD by applying ``f`` to each partition.

        ``f`` gets an iterator of the partition's elements (Python rows) and returns an
        iterable. ``preservesPartitioning`` is as for :meth:`map`.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> sc.parallelize([1, 2, 3, 4], 2).mapPartitions(lambda it: [sum(it)]).collect()
        [3, 7]
        >>> sc.stop()
        """
        self._check("mapPartitions", f)
        return self._pipe(tasks.make_step(partial(tasks.map_partition, f)), preservesPartitioning)

    def mapPartitionsWithIndex(
        self, f: Callable[[int, Iterator[Any]], Iterable[Any]], preservesPartitioning: bool = False
    ) -> RDD:
        """Return a new RDD by applying ``f`` to each partition, with its index.

        ``f(index, iterator)`` gets the partition's index and an iterator of its elements
        (Python rows) and returns an iterable. ``preservesPartitioning`` is as for :meth:`map`.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> rdd = sc.parallelize([1, 2, 3, 4], 2)
        >>> rdd.mapPartitionsWithIndex(lambda i, it: [(i, sum(it))]).collect()
        [(0, 3), (1, 7)]
        >>> sc.stop()
        """
        self._check("mapPartitionsWithIndex", f)
        return self._pipe(tasks.make_step(f), preservesPartitioning)

    def mapInArrow(self, f: Callable[[Iterator[pa.RecordBatch]], Iterable[pa.RecordBatch]]) -> RDD:
        """Transform columnar partitions as Arrow record batches (PySpark's ``mapInArrow`` shape).

        The function gets an iterator of :class:`pyarrow.RecordBatch` for each
        partition and yields record batches; no Python object per record is made.
        A partition of Python objects is refused with a clear error.

        Examples
        --------
        >>> import pyarrow as pa, pyarrow.compute as pc
        >>> from fastdstream import Context
        >>> sc = Context("local[1]")
        >>> rdd = sc.parallelize(pa.table({"value": ["a", "B"]}))
        >>> def upper(batches):
        ...     for b in batches:
        ...         yield b.set_column(0, "value", pc.utf8_upper(b[0]))
        >>> up = rdd.mapInArrow(upper)
        >>> up.collect()
        ['A', 'B']
        >>> sc.stop()
        """
        self._check("mapInArrow", f)
        return self._pipe(partial(tasks.map_in_arrow, f))

    def glom(self) -> RDD:
        """Return an RDD with one element per partition: the list of its elements.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> sc.parallelize([1, 2, 3, 4], 2).glom().collect()
        [[1, 2], [3, 4]]
        >>> sc.stop()
        """
        return self._pipe(tasks.make_step(tasks.glom_rows))

    def mapValues(self, f: Callable[[Any], Any]) -> RDD:
        """Apply ``f`` to the value of each (key, value) pair, keeping the key and the
        partitioning.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> sc.parallelize([("a", 1), ("b", 2)]).mapValues(lambda v: v * 10).collect()
        [('a', 10), ('b', 20)]
        >>> sc.stop()
        """
        self._check("mapValues", f)
        return self._pipe(tasks.make_step(partial(tasks.map_values, f)), True)

    def flatMapValues(self, f: Callable[[Any], Iterable[Any]]) -> RDD:
        """Apply ``f`` to the value of each (key, value) pair and pair each item of the
        result with the key, keeping the partitioning.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> sc.parallelize([("a", "x y"), ("b", "z")]).flatMapValues(str.split).collect()
        [('a', 'x'), ('a', 'y'), ('b', 'z')]
        >>> sc.stop()
        """
        self._check("flatMapValues", f)
        return self._pipe(
            tasks.make_step(partial(tasks.flat_map_values, f)), True
        )

    def keys(self) -> RDD:
        """The key of each (key, value) pair.

        A partition that is a table of two or more columns stays columnar (its first column).

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> sc.parallelize([("a", 1), ("b", 2)]).keys().collect()
        ['a', 'b']
        >>> sc.stop()
        """
        return self.map(operator.itemgetter(0))

    def values(self) -> RDD:
        """The value of each (key, value) pair.

        A partition that is a table of two or more columns stays columnar (its second column).

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> sc.parallelize([("a", 1), ("b", 2)]).values().collect()
        [1, 2]
        >>> sc.stop()
        """
        return self.map(operator.itemgetter(1))

    def keyBy(self, f: Callable[[Any], Any]) -> RDD:
        """Pair each element ``x`` with a key: ``(f(x), x)``.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> sc.parallelize([1, 2, 3]).keyBy(lambda x: x % 2).collect()
        [(1, 1), (0, 2), (1, 3)]
        >>> sc.stop()
        """
        self._check("keyBy", f)
        return self.map(lambda x: (f(x), x))

    def union(self, other: RDD) -> RDD:
        """Return the union of this RDD and ``other``: the partitions of both, duplicates kept.

        No shuffle: partitions stay as they are (tables stay columnar).

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> sc.parallelize([1, 2], 1).union(sc.parallelize([2, 3], 1)).collect()
        [1, 2, 2, 3]
        >>> sc.stop()
        """
        return rdds.UnionRDD(self.ctx, [self, other])

    def cartesian(self, other: RDD) -> RDD:
        """Return every pair ``(a, b)`` with ``a`` in this RDD and ``b`` in ``other``.

        The result has one partition per pair of partitions of the two RDDs.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> sorted(sc.parallelize([1, 2]).cartesian(sc.parallelize(["x", "y"])).collect())
        [(1, 'x'), (1, 'y'), (2, 'x'), (2, 'y')]
        >>> sc.stop()
        """
        return rdds.CartesianRDD(self, other)

    def _map_raw(self, f: Callable[[int, PartitionData], PartitionData]) -> RDD:
        """Internal: a step that sees the raw partition (table or iterable)."""
        return self._pipe(f)

    # --- wide transformations -----------------------------------------------------------

    def _default_partitions(self, numPartitions: int | None) -> int:
        """PySpark's ``_defaultReducePartitions``: the conf's parallelism, else ours."""
        if numPartitions:
            return numPartitions
        if self.ctx.getConf().contains("spark.default.parallelism"):
            return self.ctx.defaultParallelism
        return max(1, self._num_partitions)

    def combineByKey(
        self,
        createCombiner: Callable[[Any], Any],
        mergeValue: Callable[[Any, Any], Any],
        mergeCombiners: Callable[[Any, Any], Any],
        numPartitions: int | None = None,
        partitionFunc: Callable[[Any], int] = portable_hash,
    ) -> RDD:
        """Combine the values of each key with custom aggregation functions.

        Turns (K, V) pairs into (K, C) pairs: within each partition ``createCombiner`` makes a
        C of a key's first value and ``mergeValue`` adds the others to it; after the shuffle
        ``mergeCombiners`` merges the C's of the partitions. Runs on Python rows.

        Parameters
        ----------
        createCombiner, mergeValue, mergeCombiners : callable
        numPartitions : int, optional
            Partitions of the result; default ``spark.default.parallelism`` if set, else this
            RDD's number of partitions.
        partitionFunc : callable, default portable_hash
            Key ``k`` goes to partition ``partitionFunc(k) % numPartitions``.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> pairs = sc.parallelize([("a", 1), ("b", 2), ("a", 3)], 2)
        >>> sorted(pairs.combineByKey(lambda v: [v], lambda c, v: c + [v],
        ...                           lambda c1, c2: c1 + c2).collect())
        [('a', [1, 3]), ('b', [2])]
        >>> sc.stop()
        """
        self._check("combineByKey", createCombiner, mergeValue, mergeCombiners, partitionFunc)
        partitioner = HashPartitioner(self._default_partitions(numPartitions), partitionFunc)
        map_side = partial(
            tasks.combine_map_side, createCombiner, mergeValue, partitioner
        )
        reduce_side = partial(tasks.combine_reduce_side, mergeCombiners)
        return rdds.ShuffledRDD(self, partitioner, map_side, reduce_side)

    def reduceByKey(
        self,
        func: Callable[[Any, Any], Any],
        numPartitions: int | None = None,
        partitionFunc: Callable[[Any], int] = portable_hash,
    ) -> RDD:
        """Merge the values of each key with an associative and commutative ``func``.

        Values are merged within each partition first, then across partitions after the
        shuffle. With ``operator.add``, ``min`` or ``max`` (or a function given to
        :func:`~fastdstream.register_kernel`) and the default ``partitionFunc``, a partition
        that is a two-column (key, value) table is reduced by the compiled core where the
        guard holds (string, binary or integer keys; integer or float values without nulls);
        other partitions run ``func`` on Python rows. ``numPartitions`` and
        ``partitionFunc`` are as for :meth:`combineByKey`.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> from operator import add
        >>> pairs = sc.parallelize([("a", 1), ("b", 1), ("a", 1)], 2)
        >>> sorted(pairs.reduceByKey(add).collect())
        [('a', 2), ('b', 1)]
        >>> sc.stop()
        """
        self._check("reduceByKey", func, partitionFunc)
        plan = registry.plan("reduceByKey", func)
        if plan.columnar and partitionFunc is not portable_hash:
            # The core partitions by its own hash, which is portable_hash's: a custom
            # partitionFunc needs the row path.
            plan = dataclasses.replace(plan, kernel=None, reason="a custom partitionFunc")
        if not plan.columnar:
            # combineByKey with the value itself as the first combiner (create=None):
            # no call per key for an identity createCombiner.
            partitioner = HashPartitioner(self._default_partitions(numPartitions), partitionFunc)
            shuffled = rdds.ShuffledRDD(
                self, partitioner, partial(tasks.combine_map_side, None, func, partitioner),
                partial(tasks.combine_reduce_side, func))
        else:
            assert isinstance(plan.kernel, str), "a reduction's kernel names a core op"
            partitioner = HashPartitioner(self._default_partitions(numPartitions))
            map_side = partial(tasks.reduce_map_side, func, plan, partitioner)
            reduce_side = partial(tasks.reduce_reduce_side, func, plan.kernel)
            shuffled = rdds.ShuffledRDD(self, partitioner, map_side, reduce_side)
        shuffled._plan = plan
        return shuffled

    def foldByKey(
        self, zeroValue: Any, func: Callable[[Any, Any], Any], numPartitions: int | None = None,
        partitionFunc: Callable[[Any], int] = portable_hash,
    ) -> RDD:
        """Merge the values of each key with ``func``, starting from ``zeroValue``.

        Each key in each partition starts from a deep copy of ``zeroValue``, which should
        be ``func``'s identity. Runs on Python rows; ``numPartitions`` and ``partitionFunc``
        are as for :meth:`combineByKey`.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> from operator import add
        >>> pairs = sc.parallelize([("a", 1), ("b", 1), ("a", 1)], 2)
        >>> sorted(pairs.foldByKey(0, add).collect())
        [('a', 2), ('b', 1)]
        >>> sc.stop()
        """
        self._check("foldByKey", func, partitionFunc, values={"zeroValue": zeroValue})
        return self.combineByKey(
            lambda v: func(copy.deepcopy(zeroValue), v), func, func, numPartitions,
            partitionFunc,
        )

    def aggregateByKey(
        self, zeroValue: Any, seqFunc: Callable[[Any, Any], Any],
        combFunc: Callable[[Any, Any], Any], numPartitions: int | None = None,
        partitionFunc: Callable[[Any], int] = portable_hash,
    ) -> RDD:
        """Aggregate the values of each key into a value of another type.

        Within each partition ``seqFunc(acc, value)`` folds a key's values into a deep copy
        of ``zeroValue``; after the shuffle ``combFunc(acc1, acc2)`` merges the partitions'
        results. Runs on Python rows; ``numPartitions`` and ``partitionFunc`` are as for
        :meth:`combineByKey`.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> pairs = sc.parallelize([("a", 1), ("a", 2), ("b", 3)], 2)
        >>> sum_count = pairs.aggregateByKey((0, 0), lambda acc, v: (acc[0] + v, acc[1] + 1),
        ...                                  lambda x, y: (x[0] + y[0], x[1] + y[1]))
        >>> sorted(sum_count.collect())
        [('a', (3, 2)), ('b', (3, 1))]
        >>> sc.stop()
        """
        self._check("aggregateByKey", seqFunc, combFunc, partitionFunc,
                    values={"zeroValue": zeroValue})
        return self.combineByKey(
            lambda v: seqFunc(copy.deepcopy(zeroValue), v), seqFunc, combFunc, numPartitions,
            partitionFunc,
        )

    def groupByKey(
        self, numPartitions: int | None = None, partitionFunc: Callable[[Any], int] = portable_hash
    ) -> RDD:
        """Group the values of each key into one list: ``(k, [values])``.

        The order of a key's values is not guaranteed. To aggregate, :meth:`reduceByKey` or
        :meth:`aggregateByKey` combine within partitions before the shuffle and move less.
        ``numPartitions`` and ``partitionFunc`` are as for :meth:`combineByKey`.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> pairs = sc.parallelize([("a", 1), ("b", 2), ("a", 3)], 2)
        >>> sorted((k, sorted(vs)) for k, vs in pairs.groupByKey().collect())
        [('a', [1, 3]), ('b', [2])]
        >>> sc.stop()
        """
        self._check("groupByKey", partitionFunc)
        return self.combineByKey(
            tasks.new_list, tasks.append, tasks.extend, numPartitions, partitionFunc
        )

    def countByValueRDD(self, numPartitions: int | None = None) -> RDD:
        """(value, count) pairs, by the columnar kernel where partitions are tables."""
        partitioner = HashPartitioner(self._default_partitions(numPartitions))
        plan = registry.plan("countByValue")
        shuffled = rdds.ShuffledRDD(
            self, partitioner, partial(tasks.count_map_side, plan, partitioner),
            partial(tasks.reduce_reduce_side, operator.add, "sum"),
        )
        shuffled._plan = plan
        return shuffled

    def partitionBy(
        self, numPartitions: int, partitionFunc: Callable[[Any], int] = portable_hash
    ) -> RDD:
        """Return an RDD of the (key, value) pairs partitioned by key.

        Key ``k`` goes to partition ``partitionFunc(k) % numPartitions``. An RDD already
        partitioned that way is returned as it is. With the default ``partitionFunc``, a
        partition that is a table is split by the compiled core's hash (the same as
        :func:`~fastdstream.portable_hash`) and stays columnar where it takes the key type.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> pairs = sc.parallelize([(1, "a"), (2, "b"), (3, "c")], 1)
        >>> pairs.partitionBy(2, lambda k: k).glom().collect()
        [[(2, 'b')], [(1, 'a'), (3, 'c')]]
        >>> sc.stop()
        """
        self._check("partitionBy", partitionFunc)
        partitioner = HashPartitioner(numPartitions, partitionFunc)
        if self.partitioner == partitioner:
            return self
        map_side = partial(tasks.partition_map_side, partitioner)
        return rdds.ShuffledRDD(self, partitioner, map_side, tasks.concat)

    def repartition(self, numPartitions: int) -> RDD:
        """Return an RDD of exactly ``numPartitions`` partitions, by a shuffle.

        Elements are dealt out by position, not by key, so the result has no partitioner.
        Table partitions stay tables. To reduce the number of partitions without a shuffle,
        use :meth:`coalesce`.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> rdd = sc.parallelize(range(6), 3).repartition(2)
        >>> rdd.getNumPartitions(), sorted(rdd.collect())
        (2, [0, 1, 2, 3, 4, 5])
        >>> sc.stop()
        """
        if numPartitions < 1:
            raise ValueError(f"number of partitions must be at least 1, got {numPartitions}")
        shuffled = rdds.ShuffledRDD(
            self, HashPartitioner(numPartitions), partial(tasks.round_robin, numPartitions),
            tasks.concat,
        )
        shuffled.partitioner = None  # rows are spread by position, not by key
        return shuffled

    def coalesce(self, numPartitions: int, shuffle: bool = False) -> RDD:
        """Fewer partitions; without ``shuffle`` neighbouring partitions are merged in place."""
        if shuffle:
            return self.repartition(numPartitions)
        if numPartitions < 1:
            raise ValueError(f"number of partitions must be at least 1, got {numPartitions}")
        if numPartitions >= self._num_partitions:
            return self
        return rdds.CoalescedRDD(self, numPartitions)

    def distinct(self, numPartitions: int | None = None) -> RDD:
        """Return the distinct elements, by a shuffle into ``numPartitions`` partitions.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> sorted(sc.parallelize([1, 2, 1, 3, 2], 2).distinct().collect())
        [1, 2, 3]
        >>> sc.stop()
        """
        return (
            self.map(lambda x: (x, None))
            .reduceByKey(lambda x, _: x, numPartitions)
            .map(operator.itemgetter(0))
        )

    def cogroup(self, other: RDD, numPartitions: int | None = None) -> RDD:
        """Group both RDDs by key: ``(k, (values_in_self, values_in_other))``."""
        return self.groupWith(other, numPartitions=numPartitions)

    def groupWith(self, other: RDD, *others: RDD, numPartitions: int | None = None) -> RDD:
        """Group this RDD and the others by key: ``(k, (values_in_self, values_in_other, ...))``.

        One list of values per RDD, empty where the key is not in that RDD; like
        :meth:`cogroup`, for any number of RDDs.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> x = sc.parallelize([("a", 1), ("b", 2)])
        >>> y = sc.parallelize([("a", 3)])
        >>> z = sc.parallelize([("b", 4)])
        >>> sorted(x.groupWith(y, z).collect())
        [('a', ([1], [3], [])), ('b', ([2], [], [4]))]
        >>> sc.stop()
        """
        rdds = (self, other, *others)
        n = len(rdds)
        tagged = [rdd._pipe(partial(tasks.tag_values, i)) for i, rdd in enumerate(rdds)]
        unioned = reduce(RDD.union, tagged)
        return unioned.combineByKey(
            partial(tasks.cogroup_create, n), tasks.cogroup_merge, tasks.cogroup_combine,
            self._default_partitions(numPartitions),
        ).mapValues(tuple)

    def join(self, other: RDD, numPartitions: int | None = None) -> RDD:
        """Inner join by key: ``(k, (v, w))`` for each ``(k, v)`` here and ``(k, w)`` in ``other``.

        Done by a :meth:`cogroup` (a shuffle of both) into ``numPartitions`` partitions.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> x = sc.parallelize([("a", 1), ("b", 2)])
        >>> y = sc.parallelize([("a", 3), ("a", 4), ("c", 5)])
        >>> sorted(x.join(y).collect())
        [('a', (1, 3)), ('a', (1, 4))]
        >>> sc.stop()
        """
        return self.cogroup(other, numPartitions).flatMapValues(
            lambda vw: itertools.product(vw[0], vw[1])
        )

    def leftOuterJoin(self, other: RDD, numPartitions: int | None = None) -> RDD:
        """Left outer join by key: as :meth:`join`, plus ``(k, (v, None))`` for each key
        of this RDD that is not in ``other``.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> x = sc.parallelize([("a", 1), ("b", 2)])
        >>> y = sc.parallelize([("a", 3), ("c", 5)])
        >>> sorted(x.leftOuterJoin(y).collect())
        [('a', (1, 3)), ('b', (2, None))]
        >>> sc.stop()
        """
        return self.cogroup(other, numPartitions).flatMapValues(
            lambda vw: itertools.product(vw[0], vw[1] or [None])
        )

    def rightOuterJoin(self, other: RDD, numPartitions: int | None = None) -> RDD:
        """Right outer join by key: as :meth:`join`, plus ``(k, (None, w))`` for each key
        of ``other`` that is not in this RDD.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> x = sc.parallelize([("a", 1), ("b", 2)])
        >>> y = sc.parallelize([("a", 3), ("c", 5)])
        >>> sorted(x.rightOuterJoin(y).collect())
        [('a', (1, 3)), ('c', (None, 5))]
        >>> sc.stop()
        """
        return self.cogroup(other, numPartitions).flatMapValues(
            lambda vw: itertools.product(vw[0] or [None], vw[1])
        )

    def fullOuterJoin(self, other: RDD, numPartitions: int | None = None) -> RDD:
        """Full outer join by key: as :meth:`join`, plus ``(k, (v, None))`` and
        ``(k, (None, w))`` for the keys found on one side only.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> x = sc.parallelize([("a", 1), ("b", 2)])
        >>> y = sc.parallelize([("a", 3), ("c", 5)])
        >>> sorted(x.fullOuterJoin(y).collect())
        [('a', (1, 3)), ('b', (2, None)), ('c', (None, 5))]
        >>> sc.stop()
        """
        return self.cogroup(other, numPartitions).flatMapValues(
            lambda vw: itertools.product(vw[0] or [None], vw[1] or [None])
        )

    # --- more transformations (PySpark's) ----------------------------------------------

    def id(self) -> int:
        """A unique ID for this RDD (within its Context).

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> sc.parallelize([1]).id() != sc.parallelize([1]).id()
        True
        >>> sc.stop()
        """
        return self._id

    def name(self) -> str | None:
        """The name given by :meth:`setName`, or None."""
        return self._name

    def setName(self, name: str) -> RDD:
        """Name this RDD (the explain and logs show it); returns this RDD.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> sc.parallelize([1]).setName("numbers").name()
        'numbers'
        >>> sc.stop()
        """
        self._name = name
        return self

    def getStorageLevel(self) -> StorageLevel:
        """The storage level given to :meth:`persist` (``MEMORY_ONLY`` for :meth:`cache`),
        or one that stores nothing when the RDD is not persisted."""
        if not self._persisted:
            return StorageLevel(False, False, False, False, 1)
        return self._storage_level or StorageLevel.MEMORY_ONLY  # type: ignore[attr-defined]

    @property
    def is_checkpointed(self) -> bool:
        """Whether this RDD has been checkpointed: :meth:`isCheckpointed`."""
        return self.isCheckpointed()

    has_resource_profile = False  # PySpark's: no ResourceProfile was attached

    def getResourceProfile(self) -> None:
        """The ResourceProfile of this RDD: None, as none can be attached here."""
        return None

    withResources = unsupported(
        "RDD", "withResources", "stage-level resource scheduling (ResourceProfile) needs a "
        "cluster manager that allocates executors by resources; fastdstream's back ends run "
        "fixed executors")
    barrier = unsupported(
        "RDD", "barrier", "barrier execution needs gang scheduling of all tasks of a stage "
        "and a BarrierTaskContext; fastdstream's back ends schedule tasks one by one")
    toDF = unsupported(
        "RDD", "toDF", "fastdstream has no SQL/DataFrame layer; toArrow() gives a "
        "pyarrow.Table of a columnar RDD")

    def __add__(self, other: RDD) -> RDD:
        """``rdd + other`` is ``rdd.union(other)``."""
        if not isinstance(other, RDD):
            return NotImplemented
        return self.union(other)

    def mapPartitionsWithSplit(
        self, f: Callable[[int, Iterator[Any]], Iterable[Any]], preservesPartitioning: bool = False
    ) -> RDD:
        """Deprecated alias of :meth:`mapPartitionsWithIndex` (as in PySpark)."""
        warnings.warn("mapPartitionsWithSplit is deprecated; use mapPartitionsWithIndex "
                      "instead", FutureWarning, stacklevel=2)
        return self.mapPartitionsWithIndex(f, preservesPartitioning)

    def groupBy(self, f: Callable[[Any], Any], numPartitions: int | None = None,
                partitionFunc: Callable[[Any], int] = portable_hash) -> RDD:
        """Group the elements by ``f``: ``(f(x), [elements with that key])``.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> grouped = sc.parallelize([1, 1, 2, 3, 5, 8]).groupBy(lambda x: x % 2)
        >>> sorted((k, sorted(v)) for k, v in grouped.collect())
        [(0, [2, 8]), (1, [1, 1, 3, 5])]
        >>> sc.stop()
        """
        self._check("groupBy", f, partitionFunc)
        return self.map(lambda x: (f(x), x)).groupByKey(numPartitions, partitionFunc)

    def pipe(self, command: str, env: dict[str, str] | None = None,
             checkCode: bool = False) -> RDD:
        """Pipe each partition's elements, one per line, to ``command``; the lines it
        prints are the new RDD.

        ``env`` is the command's whole environment (empty by default, as in PySpark).
        With ``checkCode`` a non-zero exit status fails the task.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> sc.parallelize(["1", "2", "", "3"]).pipe("cat").collect()
        ['1', '2', '', '3']
        >>> sc.stop()
        """
        return self._pipe(partial(tasks.pipe_partition, command, dict(env or {}), checkCode))

    def sample(self, withReplacement: bool, fraction: float, seed: int | None = None) -> RDD:
        """A sampled subset of this RDD.

        Parameters
        ----------
        withReplacement : bool
            Whether an element can be sampled more than once.
        fraction : float
            Without replacement, the probability that each element is chosen (in [0, 1]);
            with replacement, the expected number of times each is chosen (>= 0). The
            size of the sample is not exactly ``fraction`` of the RDD's.
        seed : int, optional
            The same seed gives the same sample of the same RDD.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> rdd = sc.parallelize(range(100), 4)
        >>> 6 <= rdd.sample(False, 0.1, 81).count() <= 14
        True
        >>> sc.stop()
        """
        if not fraction >= 0.0:
            raise ValueError(f"Negative fraction value: {fraction}")
        if not withReplacement and fraction > 1.0:
            raise ValueError(f"fraction must be at most 1 without replacement, got {fraction}")
        sampler = rdd_sampler.poisson if withReplacement else rdd_sampler.bernoulli
        return self._pipe(partial(sampler, fraction, _seed(seed)), True)

    def randomSplit(self, weights: list[float], seed: int | None = None) -> list[RDD]:
        """Randomly split this RDD with the given weights: disjoint RDDs that together
        hold every element, each about its weight's share (weights are normalised).

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> a, b = sc.parallelize(range(500), 2).randomSplit([2, 3], 17)
        >>> a.count() + b.count(), set(a.collect()) & set(b.collect())
        (500, set())
        >>> sc.stop()
        """
        if not all(w >= 0 for w in weights):
            raise ValueError("Weights must be nonnegative")
        total = float(sum(weights))
        if not total > 0:
            raise ValueError("Sum of weights must be positive")
        bounds = [0.0]
        for w in weights:
            bounds.append(bounds[-1] + w / total)
        bounds[-1] = 1.0  # no element may fall above the last split by rounding
        s = _seed(seed)
        return [self._pipe(partial(rdd_sampler.range_sample, lb, ub, s), True)
                for lb, ub in itertools.pairwise(bounds)]

    def sampleByKey(self, withReplacement: bool, fractions: dict[Any, float],
                    seed: int | None = None) -> RDD:
        """A sample of the (key, value) pairs with a fraction per key (stratified sampling).

        Every key must be in ``fractions``.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> pairs = sc.parallelize([("a", i) for i in range(100)] + [("b", i) for i in range(100)])
        >>> sample = pairs.sampleByKey(False, {"a": 0.0, "b": 1.0}, 2).collect()
        >>> {k for k, _ in sample}, len(sample)
        ({'b'}, 100)
        >>> sc.stop()
        """
        for key, fraction in fractions.items():
            if not fraction >= 0.0:
                raise ValueError(f"Negative fraction value {fraction} for key {key!r}")
        return self._pipe(tasks.make_step(partial(
            rdd_sampler.stratified, withReplacement, dict(fractions), _seed(seed))), True)

    def zip(self, other: RDD) -> RDD:
        """Pair the elements of this RDD with those of ``other``, in order: the first with
        the first, and so on.

        Both RDDs need the same number of partitions and the same number of elements in
        each partition (as from a ``map`` of one another). Two one-column tables stay
        columnar.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> x = sc.parallelize(range(3), 2)
        >>> x.zip(x.map(lambda v: v * 10)).collect()
        [(0, 0), (1, 10), (2, 20)]
        >>> sc.stop()
        """
        return rdds.ZippedRDD(self, other)

    def zipWithIndex(self) -> RDD:
        """Pair each element with its index: ``(element, index)``, in partition order.

        With more than one partition this runs a job first, to count each partition's
        elements. A one-column table stays columnar (an ``index`` column is added).

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> sc.parallelize(["a", "b", "c", "d"], 3).zipWithIndex().collect()
        [('a', 0), ('b', 1), ('c', 2), ('d', 3)]
        >>> sc.stop()
        """
        starts = [0]
        if self.getNumPartitions() > 1:
            counts = self._run(tasks.count_partition)
            for n in counts[:-1]:
                starts.append(starts[-1] + n)
        return self._pipe(partial(tasks.index_step, tuple(starts)))

    def zipWithUniqueId(self) -> RDD:
        """Pair each element with a unique id: element ``i`` of partition ``k`` of ``n``
        gets ``i * n + k``; ids may leave gaps, and no job runs.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> sc.parallelize(["a", "b", "c", "d", "e"], 3).zipWithUniqueId().collect()
        [('a', 0), ('b', 1), ('c', 4), ('d', 2), ('e', 5)]
        >>> sc.stop()
        """
        return self._pipe(partial(tasks.unique_id_step, self.getNumPartitions()))

    # --- sorting --------------------------------------------------------------------------

    def _sort_plan(self, keyfunc: Callable[[Any], Any], ascending: bool,
                   operation: str) -> registry.Plan:
        order: sort.Order = "ascending" if ascending else "descending"
        label = f"ascending={ascending}"
        if keyfunc is not tasks.identity:
            return registry.Plan(operation, label, reason="a keyfunc: Python sorts its keys")
        return registry.Plan(
            operation, label, kernel=partial(sort.sort_table, order=order, by=0),
            guard=tasks.key_orderable,
            condition="the key column orders as in Python (integers, strings, binary, "
                      "booleans, floats without NaN or zeros; no nulls): Arrow sorts")

    def _sort_within(self, ascending: bool, keyfunc: Callable[[Any], Any],
                     operation: str) -> RDD:
        plan = self._sort_plan(keyfunc, ascending, operation)
        step = tasks.make_step(partial(tasks.sort_rows, ascending, keyfunc), plan)
        return self._pipe(step, True)

    def sortByKey(self, ascending: bool = True, numPartitions: int | None = None,
                  keyfunc: Callable[[Any], Any] = tasks.identity) -> RDD:
        """Sort the (key, value) pairs by key, into range-partitioned partitions.

        As PySpark: the keys are sampled (a job) to find ``numPartitions - 1`` bounds;
        a shuffle sends each pair to the range of its key, and each partition is sorted,
        so the partitions in order hold the sorted RDD. Equal keys keep their order. Where
        the partitions are tables whose key column Arrow orders as Python does (and
        ``keyfunc`` is the default), the ranges are cut and sorted by Arrow; the explain
        says which.

        Parameters
        ----------
        ascending : bool, default True
        numPartitions : int, optional
            As for :meth:`combineByKey`.
        keyfunc : callable, optional
            Sort by ``keyfunc(key)``.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> tmp = [("a", 1), ("b", 2), ("1", 3), ("d", 4), ("2", 5)]
        >>> sc.parallelize(tmp).sortByKey().first()
        ('1', 3)
        >>> sc.parallelize(tmp).sortByKey(True, 2).collect()
        [('1', 3), ('2', 5), ('a', 1), ('b', 2), ('d', 4)]
        >>> sc.parallelize(tmp).sortByKey(False, 1, keyfunc=str.upper).keys().collect()
        ['d', 'b', 'a', '2', '1']
        >>> sc.stop()
        """
        self._check("sortByKey", keyfunc)
        n = self._default_partitions(numPartitions)
        if n == 1:
            source = self.coalesce(1) if self.getNumPartitions() > 1 else self
            return source._sort_within(ascending, keyfunc, "sortByKey")
        size = self.count()
        if not size:
            return self
        # Spark's RangePartitioner samples about 20 keys per partition.
        fraction = min(n * 20.0 / max(size, 1), 1.0)
        samples = sorted(
            keyfunc(k) for k in self.sample(False, fraction, 1).map(
                operator.itemgetter(0)).collect())
        bounds = [samples[int(len(samples) * (i + 1) / n)] for i in range(n - 1)] if samples \
            else []
        plan = self._sort_plan(keyfunc, ascending, "sortByKey")
        partitioner = HashPartitioner(
            len(bounds) + 1, partial(tasks.range_partition, bounds, ascending, keyfunc))
        shuffled = rdds.ShuffledRDD(
            self, partitioner,
            partial(tasks.range_map_side, bounds, ascending, keyfunc, plan),
            partial(tasks.sort_reduce_side, ascending, keyfunc, plan),
        )
        shuffled._plan = plan
        return shuffled

    def sortBy(self, keyfunc: Callable[[Any], Any], ascending: bool = True,
               numPartitions: int | None = None) -> RDD:
        """Sort the elements by ``keyfunc(element)`` (see :meth:`sortByKey`).

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> tmp = [("a", 1), ("b", 2), ("1", 3), ("d", 4), ("2", 5)]
        >>> sc.parallelize(tmp).sortBy(lambda x: x[1], False).collect()
        [('2', 5), ('d', 4), ('1', 3), ('b', 2), ('a', 1)]
        >>> sc.stop()
        """
        self._check("sortBy", keyfunc)
        return self.keyBy(keyfunc).sortByKey(ascending, numPartitions).values()

    def repartitionAndSortWithinPartitions(
        self, numPartitions: int | None = None,
        partitionFunc: Callable[[Any], int] = portable_hash, ascending: bool = True,
        keyfunc: Callable[[Any], Any] = tasks.identity,
    ) -> RDD:
        """Partition the (key, value) pairs by ``partitionFunc`` and sort each partition
        by key: one shuffle, sorted by Arrow where :meth:`sortByKey` would be.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> rdd = sc.parallelize([(0, 5), (3, 8), (2, 6), (0, 8), (3, 8), (1, 3)])
        >>> rdd.repartitionAndSortWithinPartitions(2, lambda x: x % 2).glom().collect()
        [[(0, 5), (0, 8), (2, 6)], [(1, 3), (3, 8), (3, 8)]]
        >>> sc.stop()
        """
        self._check("repartitionAndSortWithinPartitions", partitionFunc, keyfunc)
        return self.partitionBy(self._default_partitions(numPartitions), partitionFunc
                                )._sort_within(ascending, keyfunc,
                                               "repartitionAndSortWithinPartitions")

    # --- set operations -------------------------------------------------------------------

    def intersection(self, other: RDD) -> RDD:
        """The distinct elements found in both RDDs (a shuffle).

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> a = sc.parallelize([1, 10, 2, 3, 4, 5])
        >>> b = sc.parallelize([1, 6, 2, 3, 7, 8])
        >>> sorted(a.intersection(b).collect())
        [1, 2, 3]
        >>> sc.stop()
        """
        return (self.map(lambda v: (v, None)).cogroup(other.map(lambda v: (v, None)))
                .filter(lambda k_vs: all(k_vs[1])).keys())

    def subtract(self, other: RDD, numPartitions: int | None = None) -> RDD:
        """The elements of this RDD that are not in ``other`` (duplicates kept).

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> x = sc.parallelize([("a", 1), ("b", 4), ("b", 5), ("a", 3)])
        >>> y = sc.parallelize([("a", 3), ("c", None)])
        >>> sorted(x.subtract(y).collect())
        [('a', 1), ('b', 4), ('b', 5)]
        >>> sc.stop()
        """
        marked = other.map(lambda x: (x, True))
        return self.map(lambda x: (x, True)).subtractByKey(marked, numPartitions).keys()

    def subtractByKey(self, other: RDD, numPartitions: int | None = None) -> RDD:
        """The (key, value) pairs of this RDD whose key is not in ``other``.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> x = sc.parallelize([("a", 1), ("b", 4), ("b", 5), ("a", 2)])
        >>> y = sc.parallelize([("a", 3), ("c", None)])
        >>> sorted(x.subtractByKey(y).collect())
        [('b', 4), ('b', 5)]
        >>> sc.stop()
        """
        return (self.cogroup(other, numPartitions)
                .filter(lambda pair: bool(pair[1][0]) and not pair[1][1])
                .flatMapValues(operator.itemgetter(0)))

    # --- actions ------------------------------------------------------------------------

    def _run(self, result_fn: Callable[[int, PartitionData], Any], splits: list[int] | None = None
             ) -> list[Any]:
        results = self.ctx._dag_scheduler.run_job(self, result_fn, splits)
        self._do_checkpoint()
        return results

    def collect(self) -> list[Any]:
        """Return all the elements as a list, in partition order.

        A partition that is a table gives its values (one column) or tuples of its columns
        (more than one). The list is built on the driver: keep it small.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> import pyarrow as pa
        >>> sc.parallelize(pa.table({"k": ["a", "b"], "v": [1, 2]}), 2).collect()
        [('a', 1), ('b', 2)]
        >>> sc.stop()
        """
        return [x for part in self._run(tasks.collect_partition) for x in part]

    def toArrow(self) -> pa.Table:
        """Collect a columnar RDD as one :class:`pyarrow.Table` (no Python object per row)."""
        parts = self._run(tasks.arrow_partition)
        tables = [p for p in parts if p is not None]
        if len(tables) != len(parts):
            raise TypeError(f"{self!r} has partitions of Python objects; toArrow needs tables")
        if not tables:
            return pa.table({})
        return pa.concat_tables(tables, promote_options="default")

    def count(self) -> int:
        """The number of elements; a table partition is counted without Python rows.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> sc.parallelize(range(5), 2).count()
        5
        >>> sc.stop()
        """
        return sum(self._run(tasks.count_partition))

    def isEmpty(self) -> bool:
        """Whether this RDD has no element, scanning as few partitions as :meth:`take` does.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> sc.emptyRDD().isEmpty(), sc.parallelize([1], 2).isEmpty()
        (True, False)
        >>> sc.stop()
        """
        return self._num_partitions == 0 or len(self.take(1)) == 0

    def take(self, num: int) -> list[Any]:
        """First ``num`` elements, scanning as few partitions as possible (as Spark does)."""
        items: list[Any] = []
        total = self._num_partitions
        scanned = 0
        while len(items) < num and scanned < total:
            tries = 1 if scanned == 0 else min(total - scanned, max(1, scanned * 4))
            splits = list(range(scanned, min(scanned + tries, total)))
            left = num - len(items)
            for part in self._run(partial(tasks.take_partition, left), splits):
                items.extend(part[: num - len(items)])
            scanned += len(splits)
        return items

    def first(self) -> Any:
        """The first element, as ``take(1)`` finds it; ValueError if the RDD is empty.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> sc.parallelize([3, 1, 2], 2).first()
        3
        >>> sc.stop()
        """
        items = self.take(1)
        if not items:
            raise ValueError("RDD is empty")
        return items[0]

    def reduce(self, f: Callable[[Any, Any], Any]) -> Any:
        """Reduce the elements with an associative and commutative binary ``f``.

        Each partition is reduced on its executor, then the partitions' results on the
        driver. ValueError if the RDD is empty.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> from operator import add
        >>> sc.parallelize([1, 2, 3, 4], 2).reduce(add)
        10
        >>> sc.stop()
        """
        self._check("reduce", f)
        parts = [p for p in self._run(partial(tasks.reduce_partition, f)) if p]
        if not parts:
            raise ValueError("Can not reduce() empty RDD")
        return reduce(f, (p[0] for p in parts))

    def fold(self, zeroValue: Any, op: Callable[[Any, Any], Any]) -> Any:
        """Aggregate the elements with ``op``, starting from ``zeroValue``.

        Each partition is folded from ``zeroValue`` on its executor, then the partitions'
        results are folded from ``zeroValue`` on the driver, so ``zeroValue`` should be
        ``op``'s identity (it is used once per partition and once more).

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> from operator import add
        >>> sc.parallelize([1, 2, 3], 2).fold(0, add)
        6
        >>> sc.stop()
        """
        self._check("fold", op, values={"zeroValue": zeroValue})
        parts = self._run(partial(tasks.fold_partition, zeroValue, op))
        return reduce(op, parts, copy.deepcopy(zeroValue))

    def sum(self) -> Any:
        """The sum of the elements.

        A partition that is one integer or float column is summed by Arrow, except where
        an integer sum could overflow int64: there Python's ``sum`` gives the exact int.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> sc.parallelize([1, 2, 3], 2).sum()
        6
        >>> sc.stop()
        """
        return sum(self._run(tasks.sum_partition))

    def foreach(self, f: Callable[[Any], None]) -> None:
        """Apply ``f`` to each element, on the executors; nothing is returned.

        ``f`` is serialized with the task, so what it changes in driver variables is not
        seen on the driver; use it for side effects such as writing to an external system.
        """
        self._check("foreach", f)
        self._run(partial(tasks.foreach_partition, f))

    def foreachPartition(self, f: Callable[[Iterator[Any]], None]) -> None:
        """Apply ``f`` to each partition's iterator of elements, on the executors.

        As :meth:`foreach`, one call per partition: the place to open a connection once for
        many elements.
        """
        self._check("foreachPartition", f)
        self._run(lambda _, data: f(iter_rows(data)))

    def countByValue(self) -> dict[Any, int]:
        """Count each distinct element: ``{value: count}``, built on the driver.

        A partition that is one column of string, binary or integer values is counted by the
        compiled core without Python rows.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> sorted(sc.parallelize(["a", "b", "a"], 2).countByValue().items())
        [('a', 2), ('b', 1)]
        >>> sc.stop()
        """
        return dict(self.countByValueRDD().collect())

    def countByKey(self) -> dict[Any, int]:
        """Count the pairs of each key: ``{key: count}``, built on the driver.

        A partition that is a table of two or more columns is counted columnar (by its first
        column), as :meth:`countByValue` counts.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> sorted(sc.parallelize([("a", 1), ("b", 1), ("a", 2)]).countByKey().items())
        [('a', 2), ('b', 1)]
        >>> sc.stop()
        """
        return self.map(operator.itemgetter(0)).countByValue()

    def collectAsMap(self) -> dict[Any, Any]:
        """Return the (key, value) pairs as a dict, built on the driver.

        Of pairs with the same key, the last in partition order wins.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> sc.parallelize([("a", 1), ("b", 2), ("a", 3)], 2).collectAsMap()
        {'a': 3, 'b': 2}
        >>> sc.stop()
        """
        return dict(self.collect())

    def saveAsTextFile(self, path: str, compressionCodecClass: str | None = None) -> None:
        """Write partitions as ``part-NNNNN`` files under ``path``, which appears atomically.

        Each element is written as ``str(element)`` on a line. ``compressionCodecClass``
        (a Hadoop codec class name) is refused: there is no Hadoop codec here.
        """
        if compressionCodecClass is not None:
            raise NotImplementedError(
                f"saveAsTextFile(compressionCodecClass={compressionCodecClass!r}): Hadoop "
                "compression codecs run in the JVM, which fastdstream does not have")
        self._save(path, tasks.save_partition)

    def _save(self, path: str, writer: Callable[[str, int, PartitionData], None]) -> None:
        if os.path.exists(path):
            raise FileExistsError(f"output directory {path} already exists")
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
        staging = os.path.join(parent, f".tmp-{os.path.basename(path)}-{uuid.uuid4().hex}")
        os.mkdir(staging)
        try:
            self._run(partial(writer, staging))
            # Hadoop's output committer marks a complete directory with an empty
            # _SUCCESS file; readers and PySpark programs wait for it.
            with open(os.path.join(staging, "_SUCCESS"), "wb") as marker:
                os.fsync(marker.fileno())
            fsync_path(staging)
            os.rename(staging, path)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        fsync_path(parent)

    # --- more actions (PySpark's) ----------------------------------------------------------

    def aggregate(self, zeroValue: Any, seqOp: Callable[[Any, Any], Any],
                  combOp: Callable[[Any, Any], Any]) -> Any:
        """Aggregate the elements of each partition with ``seqOp`` from ``zeroValue``, then
        the partitions' results with ``combOp`` from ``zeroValue``.

        Each partition starts from its own copy of ``zeroValue``, so both functions may
        change and return their first argument.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> seq = lambda acc, x: (acc[0] + x, acc[1] + 1)
        >>> comb = lambda a, b: (a[0] + b[0], a[1] + b[1])
        >>> sc.parallelize([1, 2, 3, 4]).aggregate((0, 0), seq, comb)
        (10, 4)
        >>> sc.emptyRDD().aggregate((0, 0), seq, comb)
        (0, 0)
        >>> sc.stop()
        """
        self._check("aggregate", seqOp, combOp, values={"zeroValue": zeroValue})
        parts = self._run(partial(tasks.fold_partition, zeroValue, seqOp))
        return reduce(combOp, parts, copy.deepcopy(zeroValue))

    def treeAggregate(self, zeroValue: Any, seqOp: Callable[[Any, Any], Any],
                      combOp: Callable[[Any, Any], Any], depth: int = 2) -> Any:
        """:meth:`aggregate` in a multi-level tree: the partitions' results are combined
        by shuffles of fewer and fewer partitions before the driver gets them.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> from operator import add
        >>> sc.parallelize(range(-5, 5), 10).treeAggregate(0, add, add, depth=3)
        -5
        >>> sc.stop()
        """
        self._check("treeAggregate", seqOp, combOp, values={"zeroValue": zeroValue})
        if depth < 1:
            raise ValueError(f"Depth cannot be smaller than 1 but got {depth}.")
        if self.getNumPartitions() == 0:
            return zeroValue
        partial_aggs = self._pipe(partial(tasks.fold_step, zeroValue, seqOp))
        num = float(partial_aggs.getNumPartitions())
        scale = max(math.ceil(num ** (1.0 / depth)), 2)
        while num > scale + num / scale:
            num /= scale
            current = int(num)
            partial_aggs = (partial_aggs._pipe(partial(tasks.key_by_split, current))
                            .reduceByKey(combOp, current).values())
        return partial_aggs.reduce(combOp)

    def treeReduce(self, f: Callable[[Any, Any], Any], depth: int = 2) -> Any:
        """:meth:`reduce` in a multi-level tree (see :meth:`treeAggregate`).

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> from operator import add
        >>> sc.parallelize([-5, -4, -3, -2, -1, 1, 2, 3, 4], 10).treeReduce(add, 2)
        -5
        >>> sc.stop()
        """
        self._check("treeReduce", f)
        if depth < 1:
            raise ValueError(f"Depth cannot be smaller than 1 but got {depth}.")

        def op(x: tuple[Any, bool], y: tuple[Any, bool]) -> tuple[Any, bool]:
            # The flag marks the zero value, which f never sees.
            if x[1]:
                return y
            if y[1]:
                return x
            return f(x[0], y[0]), False

        reduced = self.map(lambda x: (x, False)).treeAggregate((None, True), op, op, depth)
        if reduced[1]:
            raise ValueError("Cannot reduce empty RDD.")
        return reduced[0]

    def max(self, key: Callable[[Any], Any] | None = None) -> Any:
        """The largest element (by ``key``, if given); ValueError if the RDD is empty.

        One column of a table that orders as in Python is reduced by Arrow.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> rdd = sc.parallelize([1.0, 5.0, 43.0, 10.0])
        >>> rdd.max(), rdd.max(key=str)
        (43.0, 5.0)
        >>> sc.stop()
        """
        self._check("max", key)
        return self._extreme(True, key)

    def min(self, key: Callable[[Any], Any] | None = None) -> Any:
        """The smallest element (by ``key``, if given); ValueError if the RDD is empty.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> rdd = sc.parallelize([2.0, 5.0, 43.0, 10.0])
        >>> rdd.min(), rdd.min(key=str)
        (2.0, 10.0)
        >>> sc.stop()
        """
        self._check("min", key)
        return self._extreme(False, key)

    def _extreme(self, largest: bool, key: Callable[[Any], Any] | None) -> Any:
        parts = [x for p in self._run(partial(tasks.extreme_partition, largest, key)) for x in p]
        if not parts:
            raise ValueError("Can not reduce() empty RDD")
        pick = builtins.max if largest else builtins.min
        return pick(parts, key=key) if key is not None else pick(parts)

    def top(self, num: int, key: Callable[[Any], Any] | None = None) -> list[Any]:
        """The ``num`` largest elements (by ``key``, if given), largest first.

        Each partition gives its ``num`` largest -- by Arrow's ``select_k`` where the
        partition is a table that orders as in Python -- and the driver merges them.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> sc.parallelize([10, 4, 2, 12, 3]).top(1)
        [12]
        >>> sc.parallelize([2, 3, 4, 5, 6], 2).top(3, key=str)
        [6, 5, 4]
        >>> sc.stop()
        """
        self._check("top", key)
        return self._select(num, key, largest=True)

    def takeOrdered(self, num: int, key: Callable[[Any], Any] | None = None) -> list[Any]:
        """The ``num`` smallest elements (by ``key``, if given), smallest first.

        As :meth:`top`, from the other end.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> sc.parallelize([10, 1, 2, 9, 3, 4, 5, 6, 7]).takeOrdered(6)
        [1, 2, 3, 4, 5, 6]
        >>> sc.parallelize([10, 1, 2, 9, 3, 4, 5, 6, 7], 2).takeOrdered(6, key=lambda x: -x)
        [10, 9, 7, 6, 5, 4]
        >>> sc.stop()
        """
        self._check("takeOrdered", key)
        if num < 0:
            raise ValueError(f"top N cannot be negative, got {num}")
        return self._select(num, key, largest=False)

    def _select(self, num: int, key: Callable[[Any], Any] | None, largest: bool) -> list[Any]:
        parts = self._run(partial(tasks.select_partition, num, key, largest))
        if not parts:
            raise ValueError("Can not reduce() empty RDD")
        pick = heapq.nlargest if largest else heapq.nsmallest
        return pick(num, (x for p in parts for x in p), key=key)

    def takeSample(self, withReplacement: bool, num: int, seed: int | None = None) -> list[Any]:
        """A sample of exactly ``num`` elements (fewer only if the RDD has fewer and
        ``withReplacement`` is False), in random order, as PySpark draws it.

        The whole sample is returned to the driver: keep ``num`` small.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> rdd = sc.parallelize(range(0, 10))
        >>> len(rdd.takeSample(True, 20, 1)), len(rdd.takeSample(False, 5, 2))
        (20, 5)
        >>> sorted(rdd.takeSample(False, 15, 3))
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
        >>> sc.stop()
        """
        num_stdev = 10.0
        max_size = sys.maxsize - int(num_stdev * math.sqrt(sys.maxsize))
        if num < 0:
            raise ValueError("Sample size cannot be negative.")
        if num > max_size:
            raise ValueError(f"Sample size cannot be greater than {max_size}.")
        if num == 0 or self.getNumPartitions() == 0:
            return []
        initial = self.count()
        if initial == 0:
            return []
        rand = random.Random(seed)
        if not withReplacement and num >= initial:
            samples = self.collect()
            rand.shuffle(samples)
            return samples
        fraction = _fraction_for_sample_size(num, initial, withReplacement)
        samples = self.sample(withReplacement, fraction, seed).collect()
        # A sample can come out short (rarely, at this fraction): draw again.
        while len(samples) < num:
            samples = self.sample(withReplacement, fraction,
                                  rand.randint(0, sys.maxsize)).collect()
        rand.shuffle(samples)
        return samples[:num]

    def stats(self) -> StatCounter:
        """A :class:`~fastdstream.engine.stat_counter.StatCounter` of the elements: count,
        mean, variance, max and min in one pass.

        A partition that is one numeric column without nulls is summarised by Arrow
        (its mean and variance rounded as Arrow computes them).

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> sc.parallelize([1, 2, 3]).stats()
        (count: 3, mean: 2.0, stdev: 0.816496580927726, max: 3, min: 1)
        >>> sc.stop()
        """
        parts = self._run(tasks.stats_partition)
        if not parts:
            raise ValueError("Can not reduce() empty RDD")
        return reduce(StatCounter.mergeStats, parts[1:], parts[0])

    def mean(self) -> float:
        """The mean of the elements (see :meth:`stats`).

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> sc.parallelize([1, 2, 3]).mean()
        2.0
        >>> sc.stop()
        """
        return self.stats().mean()

    def variance(self) -> float:
        """The population variance of the elements (see :meth:`stats`).

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> sc.parallelize([1, 2, 3]).variance()
        0.6666666666666666
        >>> sc.stop()
        """
        return self.stats().variance()

    def stdev(self) -> float:
        """The population standard deviation of the elements (see :meth:`stats`)."""
        return self.stats().stdev()

    def sampleVariance(self) -> float:
        """The sample variance of the elements, dividing by N-1 (see :meth:`stats`).

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> sc.parallelize([1, 2, 3]).sampleVariance()
        1.0
        >>> sc.stop()
        """
        return self.stats().sampleVariance()

    def sampleStdev(self) -> float:
        """The sample standard deviation of the elements, dividing by N-1."""
        return self.stats().sampleStdev()

    def histogram(self, buckets: int | list[Any] | tuple[Any, ...]
                  ) -> tuple[list[Any] | tuple[Any, ...], list[int]]:
        """Count the elements in buckets: PySpark's ``histogram``.

        ``buckets`` is a number of evenly spaced buckets between the smallest and the
        largest element, or the sorted bucket bounds ``[1, 10, 20, 50]`` (buckets
        ``[1, 10) [10, 20) [20, 50]``: the last one closed). Elements outside the bounds,
        None and NaN are not counted. Returns (bounds, counts).

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> rdd = sc.parallelize(range(51))
        >>> rdd.histogram(2)
        ([0, 25, 50], [25, 26])
        >>> rdd.histogram([0, 5, 25, 50])
        ([0, 5, 25, 50], [5, 20, 26])
        >>> sc.stop()
        """
        even = False
        inc: Any = None
        returned: Any = None  # bounds given are returned as given (a tuple stays one)
        if isinstance(buckets, int):
            if buckets < 1:
                raise ValueError("number of buckets must be >= 1")
            filtered = self.filter(_comparable)
            try:
                minv = filtered.min()
                maxv = filtered.max()
            except ValueError:
                raise ValueError("can not generate buckets from empty RDD") from None
            if minv == maxv or buckets == 1:
                return [minv, maxv], [filtered.count()]
            try:
                inc = (maxv - minv) / buckets
            except TypeError:
                raise TypeError("Can not generate buckets with non-number in RDD") from None
            if math.isinf(inc):
                raise ValueError("Can not generate buckets with infinite value")
            # Integer buckets where they are exact, as PySpark keeps them.
            inc = int(inc)
            if inc * buckets != maxv - minv:
                inc = (maxv - minv) * 1.0 / buckets
            bounds = [i * inc + minv for i in range(buckets)]
            bounds.append(maxv)  # no accumulated rounding at the top
            even = True
        elif isinstance(buckets, list | tuple):
            if len(buckets) < 2:
                raise ValueError("buckets should have more than one value")
            if any(b is None or (isinstance(b, float) and math.isnan(b)) for b in buckets):
                raise ValueError("can not have None or NaN in buckets")
            if sorted(buckets) != list(buckets):
                raise ValueError("buckets should be sorted")
            if len(set(buckets)) != len(buckets):
                raise ValueError("buckets should not contain duplicated values")
            bounds = list(buckets)
            returned = buckets
            try:
                steps = [bounds[i + 1] - bounds[i] for i in range(len(bounds) - 1)]
            except TypeError:
                pass  # bounds that cannot be subtracted are searched
            else:
                if builtins.max(steps) - builtins.min(steps) < 1e-10:  # precision errors
                    even = True
                    inc = (bounds[-1] - bounds[0]) / (len(bounds) - 1)
        else:
            raise TypeError("buckets should be a list or tuple or number(int or long)")
        parts = self._run(partial(tasks.histogram_partition, bounds, even, inc))
        counts = [builtins.sum(c) for c in zip(*parts, strict=True)] if parts \
            else [0] * (len(bounds) - 1)
        return (bounds if returned is None else returned), counts

    def lookup(self, key: Any) -> list[Any]:
        """The values of ``key`` in this RDD of (key, value) pairs.

        Where the RDD is partitioned by key, only the key's partition is searched.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> rdd = sc.parallelize([(x, x * 2) for x in range(100)], 4)
        >>> rdd.lookup(42), rdd.partitionBy(8).lookup(42), rdd.lookup(1024)
        ([84], [84], [])
        >>> sc.stop()
        """
        values = self.filter(lambda kv: kv[0] == key).values()
        if self.partitioner is not None:
            return [x for part in values._run(tasks.collect_partition,
                                              [self.partitioner(key)]) for x in part]
        return values.collect()

    def reduceByKeyLocally(self, func: Callable[[Any, Any], Any]) -> dict[Any, Any]:
        """Merge the values of each key with ``func``, returning a dict to the driver
        (each partition merges its own first).

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> from operator import add
        >>> sorted(sc.parallelize([("a", 1), ("b", 1), ("a", 1)]).reduceByKeyLocally(add).items())
        [('a', 2), ('b', 1)]
        >>> sc.stop()
        """
        self._check("reduceByKeyLocally", func)
        parts = self._run(partial(tasks.reduce_by_key_locally, func))
        merged: dict[Any, Any] = {}
        for part in parts:
            for k, v in part.items():
                merged[k] = func(merged[k], v) if k in merged else v
        return merged

    def toLocalIterator(self, prefetchPartitions: bool = False) -> Iterator[Any]:
        """An iterator over the elements, one partition (one job) at a time: the driver
        holds one partition at once, not the whole RDD. ``prefetchPartitions`` is there
        for PySpark's signature.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> list(sc.parallelize(range(5), 3).toLocalIterator())
        [0, 1, 2, 3, 4]
        >>> sc.stop()
        """
        for split in range(self.getNumPartitions()):
            yield from self._run(tasks.collect_partition, [split])[0]

    def countApprox(self, timeout: int, confidence: float = 0.95) -> int:
        """The number of elements within ``timeout`` ms: here always the exact count,
        as Spark gives when every task finishes in time."""
        return self.count()

    def sumApprox(self, timeout: int, confidence: float = 0.95) -> BoundedFloat:
        """The sum within ``timeout`` ms, as a :class:`BoundedFloat`: here always exact
        (its bounds are the sum itself), as Spark gives when every task finishes in time.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> sc.parallelize(range(1000), 10).sumApprox(1000) == 499500.0
        True
        >>> sc.stop()
        """
        total = float(self.sum())
        return BoundedFloat(total, confidence, total, total)

    def meanApprox(self, timeout: int, confidence: float = 0.95) -> BoundedFloat:
        """The mean within ``timeout`` ms, as a :class:`BoundedFloat`: here always exact."""
        mean = float(self.mean())
        return BoundedFloat(mean, confidence, mean, mean)

    def countApproxDistinct(self, relativeSD: float = 0.05) -> int:
        """The number of distinct elements: Spark estimates it (HyperLogLog) within
        ``relativeSD``; here it is counted exactly (a shuffle), which is within any bound.

        Examples
        --------
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> sc.parallelize(range(1000)).map(str).countApproxDistinct()
        1000
        >>> sc.stop()
        """
        if relativeSD < 0.000017:
            raise ValueError("relativeSD should be greater than 0.000017")
        return self.distinct().count()

    def collectWithJobGroup(self, groupId: str, description: str,
                            interruptOnCancel: bool = False) -> list[Any]:
        """Deprecated in PySpark: :meth:`collect` with the job group set
        (:meth:`Context.setJobGroup`)."""
        warnings.warn("collectWithJobGroup is deprecated; use setJobGroup and collect",
                      FutureWarning, stacklevel=2)
        self.ctx.setJobGroup(groupId, description, interruptOnCancel)
        return self.collect()

    def cleanShuffleDependencies(self, blocking: bool = False) -> None:
        """Remove the shuffle outputs this RDD's lineage holds on the executors.

        A later job that needs them runs their map stages again. The removal is waited
        for, whatever ``blocking`` says.
        """
        from fastdstream.engine.rdds import ShuffledRDD

        for node in self._lineage():
            if isinstance(node, ShuffledRDD):
                self.ctx._cleaner.clean_now(("shuffle", node.shuffle_id))

    def saveAsPickleFile(self, path: str, batchSize: int = 10) -> None:
        """Save the partitions under ``path`` (which appears atomically), for
        :meth:`Context.pickleFile` to read back.

        Each partition is one serde frame: Arrow IPC for a table, pickle for objects.
        (PySpark writes a Hadoop SequenceFile; ``batchSize`` is there for its signature.)

        Examples
        --------
        >>> import os, tempfile
        >>> from fastdstream import Context
        >>> sc = Context("local[2]")
        >>> path = os.path.join(tempfile.mkdtemp(), "out")
        >>> sc.parallelize([1, 2, "spark", "rdd"]).saveAsPickleFile(path)
        >>> sorted(sc.pickleFile(path).collect(), key=str)
        [1, 2, 'rdd', 'spark']
        >>> sc.stop()
        """
        self._save(path, tasks.save_pickled_partition)

    saveAsSequenceFile = unsupported("RDD", "saveAsSequenceFile", NO_HADOOP)
    saveAsHadoopFile = unsupported("RDD", "saveAsHadoopFile", NO_HADOOP)
    saveAsHadoopDataset = unsupported("RDD", "saveAsHadoopDataset", NO_HADOOP)
    saveAsNewAPIHadoopFile = unsupported("RDD", "saveAsNewAPIHadoopFile", NO_HADOOP)
    saveAsNewAPIHadoopDataset = unsupported("RDD", "saveAsNewAPIHadoopDataset", NO_HADOOP)


class BoundedFloat(float):
    """A float with bounds: what the approximate actions return (PySpark's)."""

    confidence: float
    low: float
    high: float

    def __new__(cls, mean: float, confidence: float, low: float, high: float) -> BoundedFloat:
        obj = float.__new__(cls, mean)
        obj.confidence = confidence
        obj.low = low
        obj.high = high
        return obj


def _seed(seed: int | None) -> int:
    """A sample's seed: the one given, else a random one fixed when the RDD is built."""
    return random.randint(0, 2**63 - 1) if seed is None else seed


def _comparable(x: Any) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x))


def _fraction_for_sample_size(lower_bound: int, total: int, with_replacement: bool) -> float:
    """PySpark's ``_computeFractionForSampleSize``: a fraction that gives at least
    ``lower_bound`` elements 99.99 % of the time."""
    fraction = float(lower_bound) / total
    if with_replacement:
        num_stdev = 9 if lower_bound < 12 else 5
        return fraction + num_stdev * math.sqrt(fraction / total)
    delta = 0.00005
    gamma = -math.log(delta) / total
    return builtins.min(1.0, fraction + gamma + math.sqrt(gamma * gamma + 2 * gamma * fraction))


# The kinds of RDD subclass RDD, so they load once it exists (either import order works).
from fastdstream.engine import rdds  # noqa: E402
