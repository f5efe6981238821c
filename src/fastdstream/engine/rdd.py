"""RDD: one batch of data, as partitions plus the lineage that computes them.

An RDD is built on the driver. Narrow transformations (map, filter, ...) are
pipelined into one function per partition; wide ones (reduceByKey, join,
repartition, ...) cut the lineage at a shuffle. Actions hand the partition
functions to the executor back end through the DAG scheduler. Partition
functions close over data and user functions only -- never over the RDD or the
Context -- so they can be shipped to executors.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import operator
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator
from functools import partial, reduce
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from fastdstream.engine import tasks
from fastdstream.engine.columnar import registry
from fastdstream.engine.columnar.partition import PartitionData, iter_rows
from fastdstream.engine.partitioner import HashPartitioner, portable_hash
from fastdstream.engine.rdd_checkpoint import LocalCheckpoint, ReliableCheckpoint
from fastdstream.engine.tasks import PartitionFn, Step
from fastdstream.files import fsync_path

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
        self.id = ctx._next_rdd_id()
        self._num_partitions = num_partitions
        self._parents = parents
        self._persisted = False
        self.partitioner: HashPartitioner | None = None
        self._checkpoint_request: str | None = None  # "reliable" or "local", until done
        self._checkpoint: ReliableCheckpoint | LocalCheckpoint | None = None

    # --- lineage ------------------------------------------------------------------------

    def _build_partition_fn(self) -> PartitionFn:
        raise NotImplementedError

    def _partition_fn(self) -> PartitionFn:
        checkpoint = self._checkpoint
        if isinstance(checkpoint, ReliableCheckpoint):
            return partial(tasks.read_checkpoint_partition, checkpoint.paths)
        if isinstance(checkpoint, LocalCheckpoint):
            return partial(tasks.read_block, checkpoint.block_ids, checkpoint.locations, None)
        fn = self._build_partition_fn()
        if self._persisted:
            return partial(tasks.cached_partition, self.id, fn)
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
        return f"{type(self).__name__}[{self.id}] ({self._num_partitions} partitions)"

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
        if not self._persisted:
            self._persisted = True
            self.ctx._cleaner.register_rdd(self, self.id)
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
        self.ctx._cleaner.clean_now(("rdd", self.id))
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
            if node.id in seen or node._checkpoint is not None:
                continue
            seen.add(node.id)
            if node._checkpoint_request is not None:
                node._save_checkpoint()
            else:
                stack.extend(node._parents)

    def _save_checkpoint(self) -> None:
        scheduler = self.ctx._dag_scheduler
        if self._checkpoint_request == "reliable":
            directory = self.ctx._rdd_checkpoint_dir(self.id)
            paths = scheduler.run_job(self, partial(tasks.save_checkpoint_result, directory))
            self._checkpoint = ReliableCheckpoint(directory, tuple(paths))
            self.ctx._cleaner.register_checkpoint(self, directory)
        else:
            locations = scheduler.run_job(self, tasks.where_computed)
            block_ids = tuple(("rdd", self.id, split) for split in range(len(locations)))
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
            if node.id in seen:
                continue
            seen.add(node.id)
            yield node
            stack.extend(reversed(node._input_parents()))

    def _input_parents(self) -> tuple[RDD, ...]:
        """The parents this RDD's own input comes from: all of them, except in an RDD
        that carries a state from an earlier batch (whose offsets were consumed then)."""
        return self._parents

    # --- narrow transformations ---------------------------------------------------------

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
        step = tasks.make_step(lambda _, it: map(f, it), registry.plan("map", f))
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
        return self._pipe(
            tasks.make_step(lambda _, it: filter(f, it), registry.plan("filter", f)), True
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
        return self._pipe(tasks.make_step(lambda _, it: f(it)), preservesPartitioning)

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
        return self._pipe(tasks.make_step(lambda _, it: [list(it)]))

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
        return self._pipe(tasks.make_step(lambda _, it: ((k, f(v)) for k, v in it)), True)

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
        return self._pipe(
            tasks.make_step(lambda _, it: ((k, x) for k, v in it for x in f(v))), True
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
        plan = registry.plan("reduceByKey", func)
        if plan.columnar and partitionFunc is not portable_hash:
            # The core partitions by its own hash, which is portable_hash's: a custom
            # partitionFunc needs the row path.
            plan = dataclasses.replace(plan, kernel=None, reason="a custom partitionFunc")
        if not plan.columnar:
            shuffled = self.combineByKey(tasks.identity, func, func, numPartitions,
                                         partitionFunc)
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
        parts = self._run(lambda _, data: reduce(op, iter_rows(data), zeroValue))
        return reduce(op, parts, zeroValue)

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
        self._run(partial(tasks.foreach_partition, f))

    def foreachPartition(self, f: Callable[[Iterator[Any]], None]) -> None:
        """Apply ``f`` to each partition's iterator of elements, on the executors.

        As :meth:`foreach`, one call per partition: the place to open a connection once for
        many elements.
        """
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

    def saveAsTextFile(self, path: str) -> None:
        """Write partitions as ``part-NNNNN`` files under ``path``, which appears atomically."""
        if os.path.exists(path):
            raise FileExistsError(f"output directory {path} already exists")
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
        staging = os.path.join(parent, f".tmp-{os.path.basename(path)}-{uuid.uuid4().hex}")
        os.mkdir(staging)
        try:
            self._run(partial(tasks.save_partition, staging))
            fsync_path(staging)
            os.rename(staging, path)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        fsync_path(parent)


# The kinds of RDD subclass RDD, so they load once it exists (either import order works).
from fastdstream.engine import rdds  # noqa: E402
