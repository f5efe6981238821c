"""StateRDD: one batch of a stateful stream, from the previous batch's state and the new data.

Both parents are partitioned by the same partitioner (the state by key hash; the new
batch shuffled into it), so partition ``i`` of the new state is a narrow step over
partition ``i`` of each: only the new batch crosses a shuffle. The kind of RDD
Spark's ``MapWithStateRDD`` is, shared by ``updateStateByKey`` and ``mapWithState``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from fastdstream.engine.backend.task_context import TaskContext
from fastdstream.engine.columnar.partition import PartitionData
from fastdstream.engine.context import Context
from fastdstream.engine.partitioner import HashPartitioner
from fastdstream.engine.rdd import RDD
from fastdstream.engine.tasks import PartitionFn

# update(split, previous state partition or None, new data partition or None) -> state
StateUpdate = Callable[[int, PartitionData | None, PartitionData | None], PartitionData]

__all__ = ["StateRDD", "StateUpdate"]


class StateRDD(RDD):
    """Partition ``i`` is ``update(i, prev[i], data[i])``; either parent may be absent.

    Parameters
    ----------
    ctx : Context
    prev : RDD or None
        The previous state, partitioned by ``partitioner`` (None: no state yet).
    data : RDD or None
        The batch's new data, partitioned by ``partitioner`` (None: no batch).
    update : callable
        Task-side function (module level, or a partial of one) building a partition.
    partitioner : HashPartitioner
    """

    def __init__(self, ctx: Context, prev: RDD | None, data: RDD | None, update: StateUpdate,
                 partitioner: HashPartitioner):
        for parent in (prev, data):
            if parent is not None and parent.getNumPartitions() != partitioner.num_partitions:
                raise ValueError(f"{parent!r} has {parent.getNumPartitions()} partitions; the "
                                 f"state has {partitioner.num_partitions}")
        super().__init__(ctx, partitioner.num_partitions,
                         tuple(p for p in (prev, data) if p is not None))
        self.partitioner = partitioner
        self._prev = prev
        self._data = data
        self._update = update

    def _build_partition_fn(self) -> PartitionFn:
        prev_fn = self._prev._partition_fn() if self._prev is not None else None
        data_fn = self._data._partition_fn() if self._data is not None else None
        return partial(_state_partition, prev_fn, data_fn, self._update)

    def _input_parents(self) -> tuple[RDD, ...]:
        # What this batch read is its new data; the previous state was read by the
        # batches before (so offsetRanges() names only this batch's Kafka ranges).
        return (self._data,) if self._data is not None and self._parents else ()

    def _clear_dependencies(self) -> None:
        # Checkpointed: the earlier states and batches can go (this is what bounds the
        # lineage and the blocks of a long-running state).
        self._prev = None
        self._data = None


def _state_partition(prev_fn: PartitionFn | None, data_fn: PartitionFn | None,
                     update: StateUpdate, tc: TaskContext, split: int) -> PartitionData:
    prev = prev_fn(tc, split) if prev_fn is not None else None
    data = data_fn(tc, split) if data_fn is not None else None
    return update(split, prev, data)
