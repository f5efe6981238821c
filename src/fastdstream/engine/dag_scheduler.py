"""DAG scheduler: runs an RDD action as stages, cutting the lineage at shuffles.

Before the final (result) stage runs, every shuffle in its lineage whose map
outputs are missing runs as a map stage of its own, parents first.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from fastdstream.engine.columnar.partition import PartitionData

if TYPE_CHECKING:
    from fastdstream.engine.backend.base import ExecutorBackend
    from fastdstream.engine.rdd import RDD
    from fastdstream.engine.rdds import ShuffledRDD


class DAGScheduler:
    def __init__(self, backend: ExecutorBackend):
        self.backend = backend
        # Two jobs sharing a shuffle must not both run its map stage.
        self._shuffle_lock = threading.RLock()

    def run_job(
        self,
        rdd: RDD,
        result_fn: Callable[[int, PartitionData], Any],
        splits: list[int] | None = None,
    ) -> list[Any]:
        if splits is None:
            splits = list(range(rdd.getNumPartitions()))
        if not splits:
            return []
        self._materialize_shuffles(rdd)
        stage_fn = partial(_result_task, rdd._partition_fn(), result_fn)
        return self.backend.run_stage(stage_fn, splits, description=f"result stage of {rdd!r}")

    def _materialize_shuffles(self, rdd: RDD) -> None:
        for shuffled in _shuffle_dependencies(rdd):
            if shuffled.map_outputs_ready:
                continue
            with self._shuffle_lock:
                if shuffled.map_outputs_ready:
                    continue
                parent = shuffled._parents[0]
                self._materialize_shuffles(parent)
                self.backend.run_stage(
                    shuffled.map_stage_fn(),
                    list(range(parent.getNumPartitions())),
                    description=f"shuffle map stage of {shuffled!r}",
                )
                shuffled.map_outputs_ready = True


def _shuffle_dependencies(rdd: RDD) -> list[ShuffledRDD]:
    """The nearest shuffles under ``rdd``: the boundaries of its result stage."""
    from fastdstream.engine.rdds import ShuffledRDD

    found: list[ShuffledRDD] = []
    seen: set[int] = set()
    stack = [rdd]
    while stack:
        node = stack.pop()
        if node.id in seen:
            continue
        seen.add(node.id)
        if isinstance(node, ShuffledRDD):
            found.append(node)
        else:
            stack.extend(node._parents)
    return found


def _result_task(partition_fn: Callable[[int], PartitionData],
                 result_fn: Callable[[int, PartitionData], Any], split: int) -> Any:
    return result_fn(split, partition_fn(split))
