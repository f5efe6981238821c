"""The kinds of RDD: where each one's partitions come from.

``RDD`` (in :mod:`fastdstream.engine.rdd`) is the API; each subclass here says how
its partition function is built from its parents. Partition functions close over
data and task-side functions (:mod:`fastdstream.engine.tasks`) only.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from fastdstream.engine import rdd_checkpoint, tasks
from fastdstream.engine.backend import serde
from fastdstream.engine.backend.base import StageFn
from fastdstream.engine.backend.block_manager import BlockId
from fastdstream.engine.columnar.partition import PartitionData
from fastdstream.engine.partitioner import HashPartitioner
from fastdstream.engine.rdd import RDD
from fastdstream.engine.tasks import BlockFallback, PartitionFn, Step

if TYPE_CHECKING:
    from fastdstream.engine.context import Context
    from fastdstream.engine.explain import OpNote

class ParallelCollectionRDD(RDD):
    def __init__(self, ctx: Context, slices: list[PartitionData]):
        super().__init__(ctx, len(slices))
        self._slices = slices

    def _build_partition_fn(self) -> PartitionFn:
        return partial(tasks.slice_of, tuple(serde.ShippedPartition(s) for s in self._slices))


class ReliableCheckpointRDD(RDD):
    """An RDD read back from a reliable checkpoint directory (Spark's
    ReliableCheckpointRDD): it has no lineage, only its partition files, each verified
    by its CRC when a task reads it."""

    def __init__(self, ctx: Context, directory: str):
        paths = rdd_checkpoint.partition_paths(directory)
        super().__init__(ctx, len(paths))
        self._checkpoint = rdd_checkpoint.ReliableCheckpoint(directory, paths)

    def _build_partition_fn(self) -> PartitionFn:
        # Never called: _partition_fn reads the checkpoint files first.
        raise AssertionError("a ReliableCheckpointRDD reads its checkpoint files")


class EmptyRDD(RDD):
    def __init__(self, ctx: Context):
        super().__init__(ctx, 0)

    def _build_partition_fn(self) -> PartitionFn:
        return tasks.no_partition


class BlockRDD(RDD):
    """Partitions that are blocks on executors (received input): partition ``i`` is
    block ``block_ids[i]``, held by executor ``locations[i]``.

    ``fallbacks[i]``, where given, reloads the block from a durable copy (a receiver's
    write-ahead log) when its executor is gone, as Spark's WriteAheadLogBackedBlockRDD
    does; without one, a lost block is an error naming the block and the executor.
    ``handles[i]``, where given, lets a task on another executor read the block without
    a call to its holder (Ray's object store, see ``ray_block_manager``).
    """

    def __init__(self, ctx: Context, block_ids: list[BlockId], locations: list[str],
                 fallbacks: list[BlockFallback | None] | None = None,
                 handles: list[Any] | None = None):
        if len(block_ids) != len(locations):
            raise ValueError("BlockRDD: one location per block id")
        if fallbacks is not None and len(fallbacks) != len(block_ids):
            raise ValueError("BlockRDD: one fallback (or None) per block id")
        if handles is not None and len(handles) != len(block_ids):
            raise ValueError("BlockRDD: one handle (or None) per block id")
        super().__init__(ctx, len(block_ids))
        self.block_ids = block_ids
        self.locations = locations
        self.fallbacks = fallbacks
        self.handles = handles

    def _build_partition_fn(self) -> PartitionFn:
        fallbacks = tuple(self.fallbacks) if self.fallbacks is not None else None
        handles = tuple(self.handles) if self.handles is not None else None
        return partial(tasks.read_block, tuple(self.block_ids), tuple(self.locations),
                       fallbacks, handles)

    def _input_location(self, split: int) -> str | None:
        return self.locations[split]


class PipelinedRDD(RDD):
    """Narrow transformations fused into one pass over each partition."""

    _steps: tuple[Step, ...]

    def __init__(self, prev: RDD, step: Step, preserves_partitioning: bool = False):
        # A persisted or checkpointed RDD is a boundary: its own partitions are kept.
        if isinstance(prev, PipelinedRDD) and prev._is_pipelinable():
            parent, steps = prev._parents[0], (*prev._steps, step)
        else:
            parent, steps = prev, (step,)
        super().__init__(prev.ctx, prev.getNumPartitions(), (parent,))
        self._steps = steps
        self.partitioner = prev.partitioner if preserves_partitioning else None

    def _build_partition_fn(self) -> PartitionFn:
        return partial(tasks.run_steps, self._parents[0]._partition_fn(), self._steps)

    def _input_location(self, split: int) -> str | None:
        return self._parents[0]._preferred_location(split) if self._parents else None


class UnionRDD(RDD):
    def __init__(self, ctx: Context, rdds: list[RDD]):
        super().__init__(ctx, sum(r.getNumPartitions() for r in rdds), tuple(rdds))

    def _build_partition_fn(self) -> PartitionFn:
        table = [(p._partition_fn(), p.getNumPartitions()) for p in self._parents]
        return partial(tasks.union_partition, tuple(table))

    def _input_location(self, split: int) -> str | None:
        for parent in self._parents:
            if split < parent.getNumPartitions():
                return parent._preferred_location(split)
            split -= parent.getNumPartitions()
        return None


class CoPartitionedRDD(RDD):
    """Parents that share one partitioner, merged partition by partition, no shuffle.

    Partition ``i`` is ``merge(i, [partition i of each parent])``: with ``tasks.concat``
    Spark's PartitionerAwareUnionRDD (a window of batches reduced by the same
    partitioner); with a merge of reductions, the narrow cogroup of Spark's
    ReducedWindowedDStream. The result keeps the partitioner. ``note`` says what
    ``merge`` does, for the explain.
    """

    def __init__(self, parents: list[RDD], merge: Callable[[int, list[PartitionData]],
                                                            PartitionData],
                 note: OpNote):
        first = parents[0]
        if first.partitioner is None or any(p.partitioner != first.partitioner
                                            for p in parents):
            raise ValueError("CoPartitionedRDD: the parents must share one partitioner")
        super().__init__(first.ctx, first.getNumPartitions(), tuple(parents))
        self.partitioner = first.partitioner
        self.merge = merge
        self.note = note

    def _build_partition_fn(self) -> PartitionFn:
        return partial(tasks.copartitioned_partition,
                       tuple(p._partition_fn() for p in self._parents), self.merge)


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
        return partial(tasks.coalesced_partition, self._parents[0]._partition_fn(), self._groups)


class CartesianRDD(RDD):
    def __init__(self, left: RDD, right: RDD):
        super().__init__(left.ctx, left.getNumPartitions() * right.getNumPartitions(),
                         (left, right))

    def _build_partition_fn(self) -> PartitionFn:
        left, right = self._parents
        return partial(
            tasks.cartesian_partition, left._partition_fn(), right._partition_fn(),
            right.getNumPartitions(),
        )


class ZippedRDD(RDD):
    """Partition ``i`` pairs the elements of partition ``i`` of both parents, in order."""

    def __init__(self, left: RDD, right: RDD):
        if left.getNumPartitions() != right.getNumPartitions():
            raise ValueError(
                "Can only zip with RDD which has the same number of partitions: "
                f"{left.getNumPartitions()} and {right.getNumPartitions()}")
        super().__init__(left.ctx, left.getNumPartitions(), (left, right))

    def _build_partition_fn(self) -> PartitionFn:
        left, right = self._parents
        return partial(tasks.zip_partition, left._partition_fn(), right._partition_fn())


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
        parent.ctx._cleaner.register_shuffle(self, self.shuffle_id)

    @property
    def map_outputs_ready(self) -> bool:
        return self.ctx._map_output_tracker.contains(self.shuffle_id)

    def _build_partition_fn(self) -> PartitionFn:
        # Built once the map stage ran: the reduce tasks carry where its outputs are.
        statuses = self.ctx._map_output_tracker.statuses(self.shuffle_id)
        return partial(tasks.read_shuffle, self.shuffle_id, statuses, self.reduce_side)

    def _clear_dependencies(self) -> None:
        # Checkpointed: nothing reads this shuffle's outputs any more.
        self.ctx._cleaner.clean_now(("shuffle", self.shuffle_id))

    def map_stage_fn(self) -> StageFn:
        return partial(tasks.shuffle_map_task, self._parents[0]._partition_fn(), self.map_side,
                       self.shuffle_id)


