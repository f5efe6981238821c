"""The kinds of RDD: where each one's partitions come from.

``RDD`` (in :mod:`fastdstream.engine.rdd`) is the API; each subclass here says how
its partition function is built from its parents. Partition functions close over
data and task-side functions (:mod:`fastdstream.engine.tasks`) only.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from fastdstream.engine import tasks
from fastdstream.engine.backend.block_manager import block_store
from fastdstream.engine.columnar.partition import PartitionData
from fastdstream.engine.partitioner import HashPartitioner
from fastdstream.engine.rdd import RDD
from fastdstream.engine.tasks import PartitionFn, Step

if TYPE_CHECKING:
    from fastdstream.engine.context import Context

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
        return tasks.no_partition


class BlockRDD(RDD):
    """Partitions that are blocks in the block store (received input)."""

    def __init__(self, ctx: Context, block_ids: list[tuple[Any, ...]]):
        super().__init__(ctx, len(block_ids))
        self.block_ids = block_ids

    def _build_partition_fn(self) -> PartitionFn:
        return partial(tasks.read_block, tuple(self.block_ids))


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
        return partial(tasks.run_steps, self._parent._partition_fn(), self._steps)


class UnionRDD(RDD):
    def __init__(self, ctx: Context, rdds: list[RDD]):
        super().__init__(ctx, sum(r.getNumPartitions() for r in rdds), tuple(rdds))

    def _build_partition_fn(self) -> PartitionFn:
        table = [(p._partition_fn(), p.getNumPartitions()) for p in self._parents]
        return partial(tasks.union_partition, tuple(table))


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
            tasks.read_shuffle, self.shuffle_id, self._parents[0].getNumPartitions(),
            self.reduce_side,
        )

    def map_stage_fn(self) -> Callable[[int], int]:
        return partial(tasks.shuffle_map_task, self._parents[0]._partition_fn(), self.map_side,
                       self.shuffle_id)

    def cleanup(self) -> None:
        block_store().remove_prefix("shuffle", self.shuffle_id)
        self.map_outputs_ready = False


