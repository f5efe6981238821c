"""DAG scheduler: runs an RDD action as stages, cutting the lineage at shuffles.

Before the final (result) stage runs, every shuffle in its lineage whose map
outputs are missing runs as a map stage of its own, parents first. A map stage's
tasks return :class:`MapStatus` es, which go to the map-output tracker; the
reduce tasks are built with them, so they know where to read. A reduce task
that finds a map output gone (its executor was lost) fails with
``FetchFailedError``: the scheduler forgets that executor's outputs, runs the
missing map stages again and retries, as Spark does.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from fastdstream.engine.accumulator import AccumulatorRegistry
from fastdstream.engine.backend.shuffle import FetchFailedError
from fastdstream.engine.backend.task_context import TaskContext
from fastdstream.engine.columnar.partition import PartitionData
from fastdstream.engine.map_output_tracker import MapOutputTracker

if TYPE_CHECKING:
    from fastdstream.engine.backend.base import ExecutorBackend
    from fastdstream.engine.rdd import RDD
    from fastdstream.engine.rdds import ShuffledRDD
    from fastdstream.engine.tasks import PartitionFn

log = logging.getLogger(__name__)

MAX_STAGE_ATTEMPTS = 4  # Spark's spark.stage.maxConsecutiveAttempts


class DAGScheduler:
    def __init__(self, backend: ExecutorBackend, tracker: MapOutputTracker,
                 accumulators: AccumulatorRegistry | None = None):
        self.backend = backend
        self.map_output_tracker = tracker
        self.accumulators = accumulators or AccumulatorRegistry()
        self._stage_ids = itertools.count()
        # Two jobs sharing a shuffle must not both run its map stage.
        self._shuffle_lock = threading.RLock()
        backend.set_executor_lost_handler(self._executor_lost)

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
        merged: set[int] = set()  # the splits whose accumulator updates are in
        for attempt in itertools.count(1):
            self._materialize_shuffles(rdd)
            stage_fn = partial(_counted, partial(_result_task, rdd._partition_fn(), result_fn))
            try:
                outputs = self.backend.run_stage(
                    stage_fn, splits, stage_id=next(self._stage_ids),
                    description=f"result stage of {rdd!r}", preferred=rdd._preferred_location,
                    on_success=partial(self._merge_updates, merged),
                )
                return [value for value, _ in outputs]
            except FetchFailedError as exc:
                self._fetch_failed(exc, attempt)
        raise AssertionError("unreachable")

    def _materialize_shuffles(self, rdd: RDD) -> None:
        for shuffled in _shuffle_dependencies(rdd):
            if self.map_output_tracker.contains(shuffled.shuffle_id):
                continue
            with self._shuffle_lock:
                if self.map_output_tracker.contains(shuffled.shuffle_id):
                    continue
                parent = shuffled._parents[0]
                merged: set[int] = set()
                for attempt in itertools.count(1):
                    self._materialize_shuffles(parent)
                    try:
                        outputs = self.backend.run_stage(
                            partial(_counted, shuffled.map_stage_fn()),
                            list(range(parent.getNumPartitions())),
                            stage_id=next(self._stage_ids),
                            description=f"shuffle map stage of {shuffled!r}",
                            preferred=parent._preferred_location,
                            on_success=partial(self._merge_updates, merged),
                        )
                        statuses = [status for status, _ in outputs]
                    except FetchFailedError as exc:
                        self._fetch_failed(exc, attempt)
                        continue
                    break
                self.map_output_tracker.register(shuffled.shuffle_id, statuses)

    def _merge_updates(self, merged: set[int], split: int, output: tuple[Any, Any]) -> None:
        """A task succeeded: merge its accumulator updates, unless this stage's task for
        the same split already did (a stage run again after a fetch failure)."""
        updates = output[1]
        if updates and split not in merged:
            self.accumulators.merge(updates)
        merged.add(split)

    def _fetch_failed(self, exc: FetchFailedError, attempt: int) -> None:
        lost = self.map_output_tracker.remove_outputs_on_executor(exc.executor_id)
        self.map_output_tracker.unregister(exc.shuffle_id)
        if attempt >= MAX_STAGE_ATTEMPTS:
            raise exc
        log.warning("%s; running the map stage(s) of shuffle(s) %s again (attempt %d)",
                    exc, sorted({exc.shuffle_id, *lost}), attempt + 1)

    def _executor_lost(self, executor_id: str) -> None:
        lost = self.map_output_tracker.remove_outputs_on_executor(executor_id)
        if lost:
            log.warning("executor %s lost: map outputs of shuffle(s) %s will be recomputed",
                        executor_id, lost)


def _shuffle_dependencies(rdd: RDD) -> list[ShuffledRDD]:
    """The nearest shuffles under ``rdd``: the boundaries of its result stage."""
    from fastdstream.engine.rdds import ShuffledRDD

    found: list[ShuffledRDD] = []
    seen: set[int] = set()
    stack = [rdd]
    while stack:
        node = stack.pop()
        if node._id in seen:
            continue
        seen.add(node._id)
        if isinstance(node, ShuffledRDD) and node._checkpoint is None:
            found.append(node)
        else:
            stack.extend(node._parents)
    return found


def _counted(stage_fn: Callable[[TaskContext, int], Any], tc: TaskContext,
             split: int) -> tuple[Any, dict[int, Any] | None]:
    """Run a task; return its result with what it added to accumulators (None: nothing)."""
    value = stage_fn(tc, split)
    return value, (tc._accumulator_updates or None)


def _result_task(partition_fn: PartitionFn, result_fn: Callable[[int, PartitionData], Any],
                 tc: TaskContext, split: int) -> Any:
    return result_fn(split, partition_fn(tc, split))
