"""StateDStream: ``updateStateByKey``, PySpark's semantics, as Spark's StateDStream computes it.

Batch ``t``'s state is built from the state of ``t - slide`` (found with
``_get_or_compute``, so a state restored from RDD checkpoint files is picked up as a
computed one) and the parent's batch ``t``: ``updateFunc(newValues, lastState)`` for
every key in either, a None result dropping the key. The state is hash-partitioned by
key into ``numPartitions``; each batch shuffles only its new data into that layout and
updates each partition in place of its predecessor (a :class:`StateRDD`), with no
shuffle of the state.

Columnar: an ``updateFunc`` registered for ``"updateStateByKey"`` with a reduction
(``register_kernel("updateStateByKey", f, "sum")`` promises ``f(vs, s) ==
sum(vs) + (s or 0)``; ``"min"``/``"max"`` likewise) keeps the state as Arrow
``(key, value)`` tables merged by the compiled core (``merge_partials``), where each
batch's partition is a (key, value) table the guard accepts; elsewhere ``updateFunc``
runs on Python rows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import partial
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from fastdstream.engine.columnar import kernels, registry
from fastdstream.engine.columnar.partition import PartitionData, is_columnar, iter_rows
from fastdstream.engine.explain import Form, describe_plan
from fastdstream.engine.partitioner import HashPartitioner
from fastdstream.engine.rdd import RDD
from fastdstream.engine.tasks import unify_tables
from fastdstream.streaming.dstream.dstream import DStream
from fastdstream.streaming.state import private_copy
from fastdstream.streaming.state_rdd import StateRDD

__all__ = ["StateDStream"]

OPERATION = "updateStateByKey"
registry.declare_operation(OPERATION, "reduce")

class StateDStream(DStream):
    """The stream of states ``updateStateByKey`` returns."""

    _must_checkpoint = True

    def __init__(self, parent: DStream, update_func: Callable[[list[Any], Any], Any],
                 num_partitions: int | None, initial_rdd: RDD | None):
        if not callable(update_func):
            raise TypeError(f"updateStateByKey: updateFunc must be callable, got "
                            f"{type(update_func).__name__}")
        super().__init__(parent._ssc, (parent,))
        n = num_partitions if num_partitions is not None else self._sc.defaultParallelism
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"updateStateByKey: numPartitions must be a positive int, got {n!r}")
        self._partitioner = HashPartitioner(n)
        self._update_func = update_func
        self._initial = initial_rdd.partitionBy(n) if initial_rdd is not None else None
        self._plan = _plan(update_func)
        # Spark persists the state stream: each batch's state is read by the next one.
        self.persist()

    def _compute(self, time_ms: int) -> RDD | None:
        prev = self._get_or_compute(time_ms - self.slideDuration)
        from_initial = prev is None and self._initial is not None
        if prev is None:
            prev = self._initial
        elif prev.partitioner != self._partitioner:
            # Restored from checkpoint files, which do not say how they were partitioned.
            prev = prev.partitionBy(self._partitioner.num_partitions)
        batch = self._dependencies[0]._get_or_compute(time_ms)
        n = self._partitioner.num_partitions
        data = batch.partitionBy(n) if batch is not None else None
        update = partial(_update_partition, self._update_func, self._plan, from_initial,
                         batch is None)
        return StateRDD(self._sc, prev, data, update, self._partitioner)

    def _explain_source(self) -> tuple[str, Form]:
        n = self._partitioner.num_partitions
        layout = (f"; state in {n} partitions by key hash, each batch shuffled into them "
                  "(no shuffle of the state)")
        from fastdstream.streaming.dstream.explain import form_of  # it imports this module

        text, form = describe_plan(self._plan, form_of(self._dependencies[0]))
        how = ("state held as Arrow tables, merged by the compiled core" if form.table
               else "state held as Python objects")
        return f"{text} ({how}){layout}", form


def _plan(update_func: Callable[..., Any]) -> registry.Plan:
    plan = registry.plan(OPERATION, update_func)
    if not plan.columnar:
        return plan
    assert isinstance(plan.kernel, str)
    # The plan's guard already runs the core's own check (no nulls, and no -0.0 for
    # sums or NaN for min/max) before the user's: registry.set_core_guard.
    condition = ("two columns: string, binary or integer keys; integer or float values, "
                 "no nulls" + (", no -0.0" if plan.kernel == "sum" else ", no NaN"))
    if plan.condition and plan.condition not in condition:
        condition += f", and {plan.condition}"
    return dataclasses.replace(plan, condition=condition)


# --- task side ------------------------------------------------------------------------


def _update_partition(update_func: Callable[[list[Any], Any], Any], plan: registry.Plan,
                      from_initial: bool, no_batch: bool, split: int,
                      prev: PartitionData | None, data: PartitionData | None) -> PartitionData:
    if no_batch:
        # No batch at all (not an empty one): PySpark keeps the state as it is.
        return prev if prev is not None else []
    if plan.columnar:
        merged = _columnar_update(plan, from_initial, prev, data)
        if merged is not None:
            return merged
    return _rows_update(update_func, from_initial, prev, data)


def _is_empty(data: PartitionData | None) -> bool:
    if data is None:
        return True
    if is_columnar(data):
        return bool(data.num_rows == 0)
    return isinstance(data, list) and not data


def _columnar_update(plan: registry.Plan, from_initial: bool, prev: PartitionData | None,
                     data: PartitionData | None) -> pa.Table | None:
    """The new state table, or None where the core cannot give what the rows would."""
    assert isinstance(plan.kernel, str)
    op = plan.kernel
    if prev is not None and _is_empty(prev):
        prev = None  # no state yet (an empty batch before left an empty list)
    if prev is not None and not is_columnar(prev):
        return None
    if prev is not None and not (plan.accepts(prev) and (not from_initial or _unique(prev))):
        return None
    if prev is not None and _is_empty(data):
        return _as_state(prev)  # op(s) of no new values is s: the state as it is
    if data is None or not (is_columnar(data) and plan.accepts(data)):
        return None  # (no state and nothing new: an empty list, as on rows)
    try:
        partial_agg = kernels.reduce_by_key(data.column(0), data.column(1), op)
        if prev is None:
            return partial_agg
        tables = unify_tables([_as_state(prev), partial_agg])
        if tables is None:
            return None
        return kernels.merge_partials(tables, op)
    except (TypeError, OverflowError):  # a type the core does not take, an int64 overflow
        return None


def _as_state(table: pa.Table) -> pa.Table:
    if table.column_names == ["key", "value"]:
        return table
    return table.rename_columns(["key", "value"])


def _unique(table: pa.Table) -> bool:
    # An initial RDD may hold a key twice; PySpark keeps its first state, a merge would
    # add them up.
    return bool(pc.count_distinct(table.column(0), mode="all").as_py() == table.num_rows)


def _rows_update(update_func: Callable[[list[Any], Any], Any], from_initial: bool,
                 prev: PartitionData | None, data: PartitionData | None
                 ) -> list[tuple[Any, Any]]:
    new_values: dict[Any, list[Any]] = {}
    if data is not None:
        for key, value in iter_rows(data):
            values = new_values.get(key)
            if values is None:
                new_values[key] = [value]
            else:
                values.append(value)
    out: list[tuple[Any, Any]] = []
    if prev is not None:
        seen: set[Any] | None = set() if from_initial else None
        for key, state in iter_rows(prev):
            if seen is not None:
                if key in seen:  # a key twice in the initial RDD: its first state counts
                    continue
                seen.add(key)
            # A private copy: a function that changes its state in place must not change
            # the state of the batch before (PySpark's states are pickled copies).
            updated = update_func(new_values.pop(key, []), private_copy(state))
            if updated is not None:
                out.append((key, updated))
    for key, values in new_values.items():
        updated = update_func(values, None)
        if updated is not None:
            out.append((key, updated))
    return out

