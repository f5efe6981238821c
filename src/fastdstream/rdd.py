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
import itertools
import operator
import os
import pickle
import shutil
import uuid
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from functools import partial, reduce
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from fastdstream import columnar, kernels
from fastdstream.block_store import block_store
from fastdstream.columnar import PartitionData, is_columnar, iter_rows, num_rows, to_list
from fastdstream.files import fsync_path
from fastdstream.partitioner import HashPartitioner, portable_hash

if TYPE_CHECKING:
    from fastdstream.context import Context

PartitionFn = Callable[[int], PartitionData]
Step = Callable[[int, PartitionData], PartitionData]


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

    # --- lineage ------------------------------------------------------------------------

    def _build_partition_fn(self) -> PartitionFn:
        raise NotImplementedError

    def _partition_fn(self) -> PartitionFn:
        fn = self._build_partition_fn()
        if self._persisted:
            return partial(_cached_partition, self.id, fn)
        return fn

    def getNumPartitions(self) -> int:
        return self._num_partitions

    @property
    def context(self) -> Context:
        return self.ctx

    def __repr__(self) -> str:
        return f"{type(self).__name__}[{self.id}] ({self._num_partitions} partitions)"

    # --- persistence --------------------------------------------------------------------

    def cache(self) -> RDD:
        return self.persist()

    def persist(self, storageLevel: Any = None) -> RDD:
        """Keep computed partitions in the block store (memory), so later jobs reuse them."""
        if not self._persisted:
            self._persisted = True
            weakref.finalize(self, block_store().remove_prefix, "rdd", self.id)
        return self

    def unpersist(self, blocking: bool = False) -> RDD:
        self._persisted = False
        block_store().remove_prefix("rdd", self.id)
        return self

    @property
    def is_cached(self) -> bool:
        return self._persisted

    # --- Kafka offsets (HasOffsetRanges) ------------------------------------------------

    _own_offset_ranges: tuple[Any, ...] | None = None  # set by KafkaRDD

    def offsetRanges(self) -> list[Any]:
        """The Kafka offset ranges this RDD was computed from.

        Spark offers this on the direct stream's own RDDs only; here any RDD derived
        from them (by map, reduceByKey, union, ...) answers too, so a pipeline can
        commit what it consumed after any transformation.
        """
        ranges: list[Any] = []
        seen: set[int] = set()
        found = False
        stack: list[RDD] = [self]
        while stack:
            node = stack.pop()
            if node.id in seen:
                continue
            seen.add(node.id)
            if node._own_offset_ranges is not None:
                found = True
                ranges.extend(node._own_offset_ranges)
            stack.extend(reversed(node._parents))
        if not found:
            raise TypeError(f"{self!r} is not derived from a Kafka direct stream's RDD")
        return ranges

    # --- narrow transformations ---------------------------------------------------------

    def _pipe(self, step: Step, preserves_partitioning: bool = False) -> RDD:
        return PipelinedRDD(self, step, preserves_partitioning)

    def map(self, f: Callable[[Any], Any], preservesPartitioning: bool = False) -> RDD:
        return self._pipe(
            _step(lambda _, it: map(f, it), columnar.columnar_map(f)), preservesPartitioning
        )

    def flatMap(
        self, f: Callable[[Any], Iterable[Any]], preservesPartitioning: bool = False
    ) -> RDD:
        fn = partial(_flat_map, f)
        return self._pipe(_step(fn, columnar.columnar_flat_map(f)), preservesPartitioning)

    def filter(self, f: Callable[[Any], bool]) -> RDD:
        return self._pipe(
            _step(lambda _, it: filter(f, it), columnar.columnar_filter(f)), True
        )

    def mapPartitions(
        self, f: Callable[[Iterator[Any]], Iterable[Any]], preservesPartitioning: bool = False
    ) -> RDD:
        return self._pipe(_step(lambda _, it: f(it)), preservesPartitioning)

    def mapPartitionsWithIndex(
        self, f: Callable[[int, Iterator[Any]], Iterable[Any]], preservesPartitioning: bool = False
    ) -> RDD:
        return self._pipe(_step(f), preservesPartitioning)

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
        return self._pipe(partial(_map_in_arrow, f))

    def glom(self) -> RDD:
        return self._pipe(_step(lambda _, it: [list(it)]))

    def mapValues(self, f: Callable[[Any], Any]) -> RDD:
        return self._pipe(_step(lambda _, it: ((k, f(v)) for k, v in it)), True)

    def flatMapValues(self, f: Callable[[Any], Iterable[Any]]) -> RDD:
        return self._pipe(_step(lambda _, it: ((k, x) for k, v in it for x in f(v))), True)

    def keys(self) -> RDD:
        return self.map(operator.itemgetter(0))

    def values(self) -> RDD:
        return self.map(operator.itemgetter(1))

    def keyBy(self, f: Callable[[Any], Any]) -> RDD:
        return self.map(lambda x: (f(x), x))

    def union(self, other: RDD) -> RDD:
        return UnionRDD(self.ctx, [self, other])

    def cartesian(self, other: RDD) -> RDD:
        return CartesianRDD(self, other)

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
            _combine_map_side, createCombiner, mergeValue, partitioner
        )
        reduce_side = partial(_combine_reduce_side, mergeCombiners)
        return ShuffledRDD(self, partitioner, map_side, reduce_side)

    def reduceByKey(
        self,
        func: Callable[[Any, Any], Any],
        numPartitions: int | None = None,
        partitionFunc: Callable[[Any], int] = portable_hash,
    ) -> RDD:
        op = columnar.REDUCE_OPS.get(func)
        if op is None or partitionFunc is not portable_hash:
            return self.combineByKey(_identity, func, func, numPartitions, partitionFunc)
        partitioner = HashPartitioner(self._default_partitions(numPartitions))
        map_side = partial(_reduce_map_side, func, op, partitioner)
        reduce_side = partial(_reduce_reduce_side, func, op)
        return ShuffledRDD(self, partitioner, map_side, reduce_side)

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
            _new_list, _append, _extend, numPartitions, partitionFunc
        )

    def countByValueRDD(self, numPartitions: int | None = None) -> RDD:
        """(value, count) pairs, by the columnar kernel where partitions are tables."""
        partitioner = HashPartitioner(self._default_partitions(numPartitions))
        return ShuffledRDD(
            self, partitioner, partial(_count_map_side, partitioner),
            partial(_reduce_reduce_side, operator.add, "sum"),
        )

    def partitionBy(
        self, numPartitions: int, partitionFunc: Callable[[Any], int] = portable_hash
    ) -> RDD:
        partitioner = HashPartitioner(numPartitions, partitionFunc)
        if self.partitioner == partitioner:
            return self
        return ShuffledRDD(self, partitioner, partial(_partition_map_side, partitioner), _concat)

    def repartition(self, numPartitions: int) -> RDD:
        if numPartitions < 1:
            raise ValueError(f"number of partitions must be at least 1, got {numPartitions}")
        shuffled = ShuffledRDD(
            self, HashPartitioner(numPartitions), partial(_round_robin, numPartitions), _concat
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
        return CoalescedRDD(self, numPartitions)

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
        tagged = [rdd._pipe(partial(_tag_values, i)) for i, rdd in enumerate(rdds)]
        unioned = reduce(RDD.union, tagged)
        return unioned.combineByKey(
            partial(_cogroup_create, n), _cogroup_merge, _cogroup_combine,
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
        return self.ctx._dag_scheduler.run_job(self, result_fn, splits)

    def collect(self) -> list[Any]:
        return [x for part in self._run(_collect_partition) for x in part]

    def toArrow(self) -> pa.Table:
        """Collect a columnar RDD as one :class:`pyarrow.Table` (no Python object per row)."""
        parts = self._run(_arrow_partition)
        tables = [p for p in parts if p is not None]
        if len(tables) != len(parts):
            raise TypeError(f"{self!r} has partitions of Python objects; toArrow needs tables")
        if not tables:
            return pa.table({})
        return pa.concat_tables(tables, promote_options="default")

    def count(self) -> int:
        return sum(self._run(_count_partition))

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
            for part in self._run(partial(_take_partition, left), splits):
                items.extend(part[: num - len(items)])
            scanned += len(splits)
        return items

    def first(self) -> Any:
        items = self.take(1)
        if not items:
            raise ValueError("RDD is empty")
        return items[0]

    def reduce(self, f: Callable[[Any, Any], Any]) -> Any:
        parts = [p for p in self._run(partial(_reduce_partition, f)) if p]
        if not parts:
            raise ValueError("Can not reduce() empty RDD")
        return reduce(f, (p[0] for p in parts))

    def fold(self, zeroValue: Any, op: Callable[[Any, Any], Any]) -> Any:
        parts = self._run(lambda _, data: reduce(op, iter_rows(data), zeroValue))
        return reduce(op, parts, zeroValue)

    def sum(self) -> Any:
        return sum(self._run(_sum_partition))

    def foreach(self, f: Callable[[Any], None]) -> None:
        self._run(partial(_foreach_partition, f))

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
            self._run(partial(_save_partition, staging))
            fsync_path(staging)
            os.rename(staging, path)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        fsync_path(parent)


class ParallelCollectionRDD(RDD):
    def __init__(self, ctx: Context, slices: list[PartitionData]):
        super().__init__(ctx, len(slices))
        self._slices = slices

    def _build_partition_fn(self) -> PartitionFn:
        return self._slices.__getitem__


class EmptyRDD(RDD):
    def __init__(self, ctx: Context):
        super().__init__(ctx, 0)

    def _build_partition_fn(self) -> PartitionFn:
        return _no_partition


class BlockRDD(RDD):
    """Partitions that are blocks in the block store (received input)."""

    def __init__(self, ctx: Context, block_ids: list[tuple[Any, ...]]):
        super().__init__(ctx, len(block_ids))
        self.block_ids = block_ids

    def _build_partition_fn(self) -> PartitionFn:
        return partial(_read_block, tuple(self.block_ids))


class PipelinedRDD(RDD):
    """Narrow transformations fused into one pass over each partition."""

    def __init__(self, prev: RDD, step: Step, preserves_partitioning: bool = False):
        if isinstance(prev, PipelinedRDD) and not prev._persisted:
            parent, steps = prev._parent, (*prev._steps, step)
        else:
            parent, steps = prev, (step,)
        super().__init__(prev.ctx, prev.getNumPartitions(), (parent,))
        self._parent = parent
        self._steps = steps
        self.partitioner = prev.partitioner if preserves_partitioning else None

    def _build_partition_fn(self) -> PartitionFn:
        return partial(_run_steps, self._parent._partition_fn(), self._steps)


class UnionRDD(RDD):
    def __init__(self, ctx: Context, rdds: list[RDD]):
        super().__init__(ctx, sum(r.getNumPartitions() for r in rdds), tuple(rdds))

    def _build_partition_fn(self) -> PartitionFn:
        table = [(p._partition_fn(), p.getNumPartitions()) for p in self._parents]
        return partial(_union_partition, tuple(table))


class CoalescedRDD(RDD):
    """Narrow coalesce: each partition concatenates a run of the parent's partitions."""

    def __init__(self, prev: RDD, num_partitions: int):
        super().__init__(prev.ctx, num_partitions, (prev,))
        n = prev.getNumPartitions()
        self._groups = tuple(
            tuple(range(n * i // num_partitions, n * (i + 1) // num_partitions))
            for i in range(num_partitions)
        )

    def _build_partition_fn(self) -> PartitionFn:
        return partial(_coalesced_partition, self._parents[0]._partition_fn(), self._groups)


class CartesianRDD(RDD):
    def __init__(self, left: RDD, right: RDD):
        super().__init__(left.ctx, left.getNumPartitions() * right.getNumPartitions(),
                         (left, right))

    def _build_partition_fn(self) -> PartitionFn:
        left, right = self._parents
        return partial(
            _cartesian_partition, left._partition_fn(), right._partition_fn(),
            right.getNumPartitions(),
        )


class ShuffledRDD(RDD):
    """The reduce side of a shuffle; its map side runs as a stage of its own first."""

    def __init__(
        self,
        parent: RDD,
        partitioner: HashPartitioner,
        map_side: Callable[[int, PartitionData], list[PartitionData]],
        reduce_side: Callable[[int, list[PartitionData]], PartitionData],
    ):
        super().__init__(parent.ctx, partitioner.num_partitions, (parent,))
        self.partitioner = partitioner
        self.shuffle_id = parent.ctx._next_shuffle_id()
        self.map_side = map_side
        self.reduce_side = reduce_side
        self.map_outputs_ready = False
        weakref.finalize(self, block_store().remove_prefix, "shuffle", self.shuffle_id)

    def _build_partition_fn(self) -> PartitionFn:
        return partial(
            _read_shuffle, self.shuffle_id, self._parents[0].getNumPartitions(), self.reduce_side
        )

    def map_stage_fn(self) -> Callable[[int], int]:
        return partial(_shuffle_map_task, self._parents[0]._partition_fn(), self.map_side,
                       self.shuffle_id)

    def cleanup(self) -> None:
        block_store().remove_prefix("shuffle", self.shuffle_id)
        self.map_outputs_ready = False


# --- task-side functions (module level: shipped by reference, close over no RDD) ----------


def _identity(x: Any) -> Any:
    return x


def _new_list(v: Any) -> list[Any]:
    return [v]


def _append(acc: list[Any], v: Any) -> list[Any]:
    acc.append(v)
    return acc


def _extend(a: list[Any], b: list[Any]) -> list[Any]:
    a.extend(b)
    return a


def _no_partition(split: int) -> PartitionData:
    raise IndexError(f"empty RDD has no partition {split}")


def _flat_map(f: Callable[[Any], Iterable[Any]], _: int, it: Iterator[Any]) -> Iterator[Any]:
    for x in it:
        yield from f(x)


def _step(
    py_fn: Callable[[int, Iterator[Any]], Iterable[Any]],
    col_fn: Callable[[pa.Table], pa.Table | None] | None = None,
) -> Step:
    if col_fn is None:
        return partial(_object_step, py_fn)
    return partial(_columnar_step, py_fn, col_fn)


def _object_step(py_fn: Callable[[int, Iterator[Any]], Iterable[Any]], split: int,
                 data: PartitionData) -> PartitionData:
    return py_fn(split, iter_rows(data))


def _columnar_step(
    py_fn: Callable[[int, Iterator[Any]], Iterable[Any]],
    col_fn: Callable[[pa.Table], pa.Table | None],
    split: int,
    data: PartitionData,
) -> PartitionData:
    if is_columnar(data):
        out = col_fn(data)
        if out is not None:
            return out
    return py_fn(split, iter_rows(data))


def _map_in_arrow(f: Callable[[Iterator[pa.RecordBatch]], Iterable[pa.RecordBatch]], split: int,
                  data: PartitionData) -> pa.Table:
    if not is_columnar(data):
        raise TypeError(
            f"mapInArrow: partition {split} holds Python objects, not an Arrow table; "
            "use mapPartitions for object partitions"
        )
    batches = list(f(iter(data.to_batches())))
    if not batches:
        return pa.table({})
    return pa.Table.from_batches(batches)


def _run_steps(parent_fn: PartitionFn, steps: tuple[Step, ...], split: int) -> PartitionData:
    data = parent_fn(split)
    for step in steps:
        data = step(split, data)
    return data


def _cached_partition(rdd_id: int, fn: PartitionFn, split: int) -> PartitionData:
    store = block_store()
    block_id = ("rdd", rdd_id, split)
    data = store.get_or_none(block_id)
    if data is None:
        data = fn(split)
        if not is_columnar(data):
            data = to_list(data)
        store.put(block_id, data)
    return data


def _read_block(block_ids: tuple[tuple[Any, ...], ...], split: int) -> PartitionData:
    return block_store().get(block_ids[split])


def _union_partition(parts: tuple[tuple[PartitionFn, int], ...], split: int) -> PartitionData:
    for fn, n in parts:
        if split < n:
            return fn(split)
        split -= n
    raise IndexError(split)


def _coalesced_partition(parent_fn: PartitionFn, groups: tuple[tuple[int, ...], ...],
                         split: int) -> PartitionData:
    return _concat(split, [parent_fn(i) for i in groups[split]])


def _cartesian_partition(left: PartitionFn, right: PartitionFn, n_right: int, split: int
                         ) -> PartitionData:
    right_rows = to_list(right(split % n_right))
    return itertools.product(iter_rows(left(split // n_right)), right_rows)


def _shuffle_map_task(parent_fn: PartitionFn,
                      map_side: Callable[[int, PartitionData], list[PartitionData]],
                      shuffle_id: int, split: int) -> int:
    buckets = map_side(split, parent_fn(split))
    store = block_store()
    for reduce_id, bucket in enumerate(buckets):
        # Arrow tables are immutable; object buckets are stored serialized, as a real
        # shuffle would, so no reader can mutate what a second action reads.
        stored = bucket if is_columnar(bucket) else _serialize(to_list(bucket))
        store.put(("shuffle", shuffle_id, split, reduce_id), stored)
    return len(buckets)


def _serialize(rows: list[Any]) -> bytes:
    try:
        return pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError):
        import cloudpickle

        return cloudpickle.dumps(rows)


def _read_shuffle(shuffle_id: int, num_maps: int,
                  reduce_side: Callable[[int, list[PartitionData]], PartitionData],
                  split: int) -> PartitionData:
    store = block_store()
    buckets = [store.get(("shuffle", shuffle_id, m, split)) for m in range(num_maps)]
    buckets = [pickle.loads(b) if isinstance(b, bytes) else b for b in buckets]
    return reduce_side(split, buckets)


def _bucket_rows(partitioner: HashPartitioner, rows: Iterable[tuple[Any, Any]]
                 ) -> list[list[Any]]:
    buckets: list[list[Any]] = [[] for _ in range(partitioner.num_partitions)]
    for row in rows:
        buckets[partitioner(row[0])].append(row)
    return buckets


def _combine_map_side(create: Callable[[Any], Any], merge_value: Callable[[Any, Any], Any],
                      partitioner: HashPartitioner, _: int, data: PartitionData) -> list[Any]:
    combiners: dict[Any, Any] = {}
    for k, v in iter_rows(data):
        if k in combiners:
            combiners[k] = merge_value(combiners[k], v)
        else:
            combiners[k] = create(v)
    return _bucket_rows(partitioner, combiners.items())


def _combine_reduce_side(merge: Callable[[Any, Any], Any], _: int, buckets: list[Any]
                         ) -> list[tuple[Any, Any]]:
    merged: dict[Any, Any] = {}
    for bucket in buckets:
        for k, c in iter_rows(bucket):
            if k in merged:
                merged[k] = merge(merged[k], c)
            else:
                merged[k] = c
    return list(merged.items())


def _partition_table(table: pa.Table, partitioner: HashPartitioner) -> list[pa.Table] | None:
    if not partitioner.is_default:
        return None
    try:
        return kernels.partition_table(table, 0, partitioner.num_partitions)
    except TypeError:  # key type the kernel does not take: use the object path
        return None


def _reduce_map_side(func: Callable[[Any, Any], Any], op: str, partitioner: HashPartitioner,
                     split: int, data: PartitionData) -> list[Any]:
    if columnar.is_pair_table(data):
        try:
            partial_agg = kernels.reduce_by_key(data.column(0), data.column(1), op)
        except (TypeError, OverflowError):  # a type the kernel lacks, or int64 would wrap
            partial_agg = None
        if partial_agg is not None:
            parts = _partition_table(partial_agg, partitioner)
            if parts is not None:
                return parts
    return _combine_map_side(_identity, func, partitioner, split, data)


def _count_map_side(partitioner: HashPartitioner, split: int, data: PartitionData) -> list[Any]:
    if is_columnar(data) and data.num_columns == 1:
        try:
            counts = kernels.reduce_by_key(data.column(0), None, "count")
        except TypeError:
            counts = None
        if counts is not None:
            parts = _partition_table(counts, partitioner)
            if parts is not None:
                return parts
    counter: dict[Any, int] = defaultdict(int)
    for x in iter_rows(data):
        counter[x] += 1
    return _bucket_rows(partitioner, counter.items())


def _reduce_reduce_side(func: Callable[[Any, Any], Any], op: str, split: int,
                        buckets: list[Any]) -> PartitionData:
    if buckets and all(is_columnar(b) for b in buckets):
        tables = _unify(buckets)
        if tables is not None:
            try:
                return kernels.merge_partials(tables, op)
            except OverflowError:
                pass  # int64 would wrap: Python's ints give the exact answer
    return _combine_reduce_side(func, split, buckets)


def _unify(tables: list[pa.Table]) -> list[pa.Table] | None:
    """Cast partial aggregates to one schema (string vs large_string, int32 vs int64)."""
    first = tables[0].schema
    if all(t.schema.equals(first) for t in tables):
        return tables
    try:
        schema = pa.unify_schemas([t.schema for t in tables], promote_options="permissive")
        return [t.cast(schema) for t in tables]
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None


def _partition_map_side(partitioner: HashPartitioner, _: int, data: PartitionData) -> list[Any]:
    if is_columnar(data):
        parts = _partition_table(data, partitioner)
        if parts is not None:
            return parts
    return _bucket_rows(partitioner, iter_rows(data))


def _round_robin(n: int, split: int, data: PartitionData) -> list[Any]:
    if is_columnar(data):
        size = data.num_rows
        bounds = [size * i // n for i in range(n + 1)]
        chunks = [data.slice(bounds[i], bounds[i + 1] - bounds[i]) for i in range(n)]
        # Rotate by the map split so small partitions do not all pile into reducer 0.
        return [chunks[(i - split) % n] for i in range(n)]
    buckets: list[list[Any]] = [[] for _ in range(n)]
    for i, x in enumerate(iter_rows(data)):
        buckets[(split + i) % n].append(x)
    return buckets


def _concat(_: int, buckets: list[Any]) -> PartitionData:
    tables = [b for b in buckets if is_columnar(b)]
    if len(tables) == len(buckets) and tables:
        return pa.concat_tables(tables, promote_options="default")
    return [x for b in buckets for x in iter_rows(b)]


def _tag_values(tag: int, _: int, data: PartitionData) -> Iterator[tuple[Any, Any]]:
    return ((k, (tag, v)) for k, v in iter_rows(data))


def _cogroup_create(n: int, tagged: tuple[int, Any]) -> list[list[Any]]:
    groups: list[list[Any]] = [[] for _ in range(n)]
    groups[tagged[0]].append(tagged[1])
    return groups


def _cogroup_merge(groups: list[list[Any]], tagged: tuple[int, Any]) -> list[list[Any]]:
    groups[tagged[0]].append(tagged[1])
    return groups


def _cogroup_combine(a: list[list[Any]], b: list[list[Any]]) -> list[list[Any]]:
    for mine, theirs in zip(a, b, strict=True):
        mine.extend(theirs)
    return a


def _collect_partition(_: int, data: PartitionData) -> list[Any]:
    return to_list(data)


def _arrow_partition(_: int, data: PartitionData) -> pa.Table | None:
    return data if is_columnar(data) else None


def _count_partition(_: int, data: PartitionData) -> int:
    return num_rows(data)


def _take_partition(num: int, _: int, data: PartitionData) -> list[Any]:
    if is_columnar(data):
        return to_list(data.slice(0, num))
    return list(itertools.islice(iter_rows(data), num))


def _reduce_partition(f: Callable[[Any, Any], Any], _: int, data: PartitionData) -> list[Any]:
    it = iter_rows(data)
    try:
        first = next(it)
    except StopIteration:
        return []
    return [reduce(f, it, first)]


def _sum_partition(_: int, data: PartitionData) -> Any:
    if is_columnar(data) and data.num_columns == 1 and _sum_cannot_overflow(data.column(0)):
        total = pc.sum(data.column(0)).as_py()
        return 0 if total is None else total
    return sum(iter_rows(data))


def _sum_cannot_overflow(column: pa.ChunkedArray) -> bool:
    """pc.sum wraps int64 silently; take it only where no partial sum can leave int64."""
    if pa.types.is_floating(column.type):
        return True
    if not pa.types.is_integer(column.type):
        return False
    bounds = pc.min_max(column).as_py()
    if bounds["min"] is None:
        return True
    largest = max(abs(bounds["min"]), abs(bounds["max"]))
    return largest * len(column) < 2**63


def _foreach_partition(f: Callable[[Any], None], _: int, data: PartitionData) -> None:
    for x in iter_rows(data):
        f(x)


def _save_partition(directory: str, split: int, data: PartitionData) -> None:
    path = os.path.join(directory, f"part-{split:05d}")
    with open(path, "w", encoding="utf-8") as out:
        for x in iter_rows(data):
            out.write(f"{x}\n")
        out.flush()
        os.fsync(out.fileno())
