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
        return self._num_partitions

    @property
    def context(self) -> Context:
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
        self._persisted = False
        self.ctx._cleaner.clean_now(("rdd", self.id))
        return self

    @property
    def is_cached(self) -> bool:
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
        return self._checkpoint is not None

    def isLocallyCheckpointed(self) -> bool:
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
        source's lineage-wide query, such as Kafka's ``offsetRanges``, walks)."""
        seen: set[int] = set()
        stack: list[RDD] = [self]
        while stack:
            node = stack.pop()
            if node.id in seen:
                continue
            seen.add(node.id)
            yield node
            stack.extend(reversed(node._parents))

    # --- narrow transformations ---------------------------------------------------------

    def _pipe(self, step: Step, preserves_partitioning: bool = False) -> RDD:
        return rdds.PipelinedRDD(self, step, preserves_partitioning)

    def map(self, f: Callable[[Any], Any], preservesPartitioning: bool = False) -> RDD:
        step = tasks.make_step(lambda _, it: map(f, it), registry.plan("map", f))
        return self._pipe(step, preservesPartitioning)

    def flatMap(
        self, f: Callable[[Any], Iterable[Any]], preservesPartitioning: bool = False
    ) -> RDD:
        fn = partial(tasks.flat_map, f)
        return self._pipe(tasks.make_step(fn, registry.plan("flatMap", f)), preservesPartitioning)

    def filter(self, f: Callable[[Any], bool]) -> RDD:
        return self._pipe(
            tasks.make_step(lambda _, it: filter(f, it), registry.plan("filter", f)), True
        )

    def mapPartitions(
        self, f: Callable[[Iterator[Any]], Iterable[Any]], preservesPartitioning: bool = False
    ) -> RDD:
        return self._pipe(tasks.make_step(lambda _, it: f(it)), preservesPartitioning)

    def mapPartitionsWithIndex(
        self, f: Callable[[int, Iterator[Any]], Iterable[Any]], preservesPartitioning: bool = False
    ) -> RDD:
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
        return self._pipe(tasks.make_step(lambda _, it: [list(it)]))

    def mapValues(self, f: Callable[[Any], Any]) -> RDD:
        return self._pipe(tasks.make_step(lambda _, it: ((k, f(v)) for k, v in it)), True)

    def flatMapValues(self, f: Callable[[Any], Iterable[Any]]) -> RDD:
        return self._pipe(
            tasks.make_step(lambda _, it: ((k, x) for k, v in it for x in f(v))), True
        )

    def keys(self) -> RDD:
        return self.map(operator.itemgetter(0))

    def values(self) -> RDD:
        return self.map(operator.itemgetter(1))

    def keyBy(self, f: Callable[[Any], Any]) -> RDD:
        return self.map(lambda x: (f(x), x))

    def union(self, other: RDD) -> RDD:
        return rdds.UnionRDD(self.ctx, [self, other])

    def cartesian(self, other: RDD) -> RDD:
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
        return self.combineByKey(
            lambda v: func(copy.deepcopy(zeroValue), v), func, func, numPartitions,
            partitionFunc,
        )

    def aggregateByKey(
        self, zeroValue: Any, seqFunc: Callable[[Any, Any], Any],
        combFunc: Callable[[Any, Any], Any], numPartitions: int | None = None,
        partitionFunc: Callable[[Any], int] = portable_hash,
    ) -> RDD:
        return self.combineByKey(
            lambda v: seqFunc(copy.deepcopy(zeroValue), v), seqFunc, combFunc, numPartitions,
            partitionFunc,
        )

    def groupByKey(
        self, numPartitions: int | None = None, partitionFunc: Callable[[Any], int] = portable_hash
    ) -> RDD:
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
        partitioner = HashPartitioner(numPartitions, partitionFunc)
        if self.partitioner == partitioner:
            return self
        map_side = partial(tasks.partition_map_side, partitioner)
        return rdds.ShuffledRDD(self, partitioner, map_side, tasks.concat)

    def repartition(self, numPartitions: int) -> RDD:
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
        return (
            self.map(lambda x: (x, None))
            .reduceByKey(lambda x, _: x, numPartitions)
            .map(operator.itemgetter(0))
        )

    def cogroup(self, other: RDD, numPartitions: int | None = None) -> RDD:
        """Group both RDDs by key: ``(k, (values_in_self, values_in_other))``."""
        return self.groupWith(other, numPartitions=numPartitions)

    def groupWith(self, other: RDD, *others: RDD, numPartitions: int | None = None) -> RDD:
        rdds = (self, other, *others)
        n = len(rdds)
        tagged = [rdd._pipe(partial(tasks.tag_values, i)) for i, rdd in enumerate(rdds)]
        unioned = reduce(RDD.union, tagged)
        return unioned.combineByKey(
            partial(tasks.cogroup_create, n), tasks.cogroup_merge, tasks.cogroup_combine,
            self._default_partitions(numPartitions),
        ).mapValues(tuple)

    def join(self, other: RDD, numPartitions: int | None = None) -> RDD:
        return self.cogroup(other, numPartitions).flatMapValues(
            lambda vw: itertools.product(vw[0], vw[1])
        )

    def leftOuterJoin(self, other: RDD, numPartitions: int | None = None) -> RDD:
        return self.cogroup(other, numPartitions).flatMapValues(
            lambda vw: itertools.product(vw[0], vw[1] or [None])
        )

    def rightOuterJoin(self, other: RDD, numPartitions: int | None = None) -> RDD:
        return self.cogroup(other, numPartitions).flatMapValues(
            lambda vw: itertools.product(vw[0] or [None], vw[1])
        )

    def fullOuterJoin(self, other: RDD, numPartitions: int | None = None) -> RDD:
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
        return sum(self._run(tasks.count_partition))

    def isEmpty(self) -> bool:
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
        items = self.take(1)
        if not items:
            raise ValueError("RDD is empty")
        return items[0]

    def reduce(self, f: Callable[[Any, Any], Any]) -> Any:
        parts = [p for p in self._run(partial(tasks.reduce_partition, f)) if p]
        if not parts:
            raise ValueError("Can not reduce() empty RDD")
        return reduce(f, (p[0] for p in parts))

    def fold(self, zeroValue: Any, op: Callable[[Any, Any], Any]) -> Any:
        parts = self._run(lambda _, data: reduce(op, iter_rows(data), zeroValue))
        return reduce(op, parts, zeroValue)

    def sum(self) -> Any:
        return sum(self._run(tasks.sum_partition))

    def foreach(self, f: Callable[[Any], None]) -> None:
        self._run(partial(tasks.foreach_partition, f))

    def foreachPartition(self, f: Callable[[Iterator[Any]], None]) -> None:
        self._run(lambda _, data: f(iter_rows(data)))

    def countByValue(self) -> dict[Any, int]:
        return dict(self.countByValueRDD().collect())

    def countByKey(self) -> dict[Any, int]:
        return self.map(operator.itemgetter(0)).countByValue()

    def collectAsMap(self) -> dict[Any, Any]:
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
