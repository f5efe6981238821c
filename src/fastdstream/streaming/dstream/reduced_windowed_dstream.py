"""ReducedWindowedDStream: a reduction by key over a sliding window, incremental where it can.

Spark's class of that name, with PySpark's behaviour (PythonReducedWindowedDStream).
Its parent is the stream reduced per batch (``reduceByKey(func, numPartitions)``), so
every batch's RDD is partitioned by one partitioner and a window is merged partition by
partition, without a shuffle:

- With an inverse function, and a window of at least five slides, each window is
  the previous window's RDD, minus the batches that left it (``invFunc``), plus the
  batches that entered it (``func``): the work per batch follows the slide, not the
  window. Keys only the left batches had are gone; keys whose value reaches the
  function's zero stay, unless ``filterFunc`` drops them. The stream is stateful, so
  it is checkpointed (``_must_checkpoint``) and persisted.
- Otherwise (no inverse, or a window shorter than five slides, where one reduction of
  the window beats two: PySpark's rule) every window is reduced whole.

Over Arrow partitions, a reduction the registry knows (``operator.add``, ``min``,
``max``) merges the window's batches with the compiled core; incrementally, the
inverse the registry knows for it (``operator.sub`` after ``operator.add``) does too.
Anything else, or a partition the guard refuses, merges Python rows with the user's
functions, giving what Python gives.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from functools import partial
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from fastdstream.engine import rdds, tasks
from fastdstream.engine.columnar import functions, kernels, registry
from fastdstream.engine.columnar.partition import (
    PartitionData,
    is_columnar,
    iter_rows,
    num_rows,
    to_list,
)
from fastdstream.engine.columnar.registry import Plan
from fastdstream.engine.explain import OpNote
from fastdstream.engine.rdd import RDD
from fastdstream.streaming.dstream.dstream import DStream
from fastdstream.streaming.dstream.windowed_dstream import WindowedDStream, seconds

__all__ = ["ReducedWindowedDStream", "count_if_any", "count_is_positive", "drop_first",
           "keyed_by_one", "singleton", "subtractable_pairs"]

# A window no longer than this many slides is reduced whole, even with an inverse
# function: PySpark's "for small window, reduce once will be better than twice".
INCREMENTAL_MIN_SLIDES = 5


class ReducedWindowedDStream(WindowedDStream):
    """``func`` over each window of ``reduced``'s batches (see the module's text).

    Parameters
    ----------
    reduced : DStream
        The parent reduced per batch: pairs, one per key per batch, partitioned by
        ``HashPartitioner(num_partitions)``.
    func, inv_func : callable
        The reduction, and its inverse (None: each window reduced whole).
    filter_func : callable or None
        Applied to every window's (key, value) pairs; what it rejects leaves the window.
    window_ms, slide_ms : int
        As for :class:`WindowedDStream`.
    num_partitions : int
        The partitions of ``reduced``'s batches and of the windows.
    """

    def __init__(self, reduced: DStream, func: Callable[[Any, Any], Any],
                 inv_func: Callable[[Any, Any], Any] | None,
                 filter_func: Callable[[Any], bool] | None, window_ms: int, slide_ms: int,
                 num_partitions: int):
        super().__init__(reduced, window_ms, slide_ms)
        self._func = func
        self._inv_func = inv_func
        self._filter_func = filter_func
        self._num_partitions = num_partitions
        self._incremental = (inv_func is not None
                             and window_ms >= INCREMENTAL_MIN_SLIDES * slide_ms)
        self._plan = registry.plan("reduceByKey", func)
        inverse = registry.plan("reduceByKeyAndWindow", inv_func) if inv_func else None
        self._inv_plan = inverse
        if inv_func is not None:
            # Each window is built on the one before: keep it, and cut its lineage by
            # checkpoints, as Spark does for every reduceByKeyAndWindow with an inverse.
            self._must_checkpoint = True
            self.persist()
        self.note = OpNote(self._plan_for_explain().step, plan=self._plan_for_explain())

    def persist(self, storageLevel: object = None) -> DStream:
        """Persist this stream's windows and the parent's reduced batches (Spark's
        ReducedWindowedDStream keeps both: each is read by the windows that follow).

        Returns
        -------
        DStream
            This DStream.
        """
        DStream.persist(self, storageLevel)
        self._dependencies[0].persist(storageLevel)
        return self

    def _plan_for_explain(self) -> Plan:
        labels = [registry.function_label(self._func), registry.function_label(self._inv_func)]
        if self._filter_func is not None:
            labels.append(f"filterFunc={registry.function_label(self._filter_func)}")
        labels.append(f"window {seconds(self._window_ms)}, slide {seconds(self._slide_ms)}")
        label = ", ".join(labels)
        plan, inverse = self._plan, self._inv_plan
        if not self._incremental:
            how = "each window reduced whole by the core"
            if not plan.columnar:
                return Plan("reduceByKeyAndWindow", label, reason=plan.reason)
            return Plan("reduceByKeyAndWindow", label, plan.kernel, plan.guard,
                        f"{plan.condition} ({how})")
        assert inverse is not None
        if not plan.columnar:
            return Plan("reduceByKeyAndWindow", label, reason=plan.reason)
        if inverse.kernel != plan.kernel:
            why = inverse.reason if not inverse.columnar else (
                f"{inverse.label} inverts the core's {inverse.kernel}, not {plan.kernel}")
            return Plan("reduceByKeyAndWindow", label,
                        reason=f"incremental; the inverse is not the core's: {why}")
        return Plan("reduceByKeyAndWindow", label, plan.kernel, inverse.guard,
                    f"{inverse.condition} (incremental: the previous window, minus the "
                    "batches that left, plus those that entered)")

    def _compute(self, time_ms: int) -> RDD | None:
        parent = self._dependencies[0]
        step = parent.slideDuration
        previous = None
        if self._incremental:
            # The window before, as generated (or restored from a checkpoint). One that
            # is not there is not computed from the one before it, and so on back to the
            # zero time: the whole window is reduced instead, from the batches.
            with self._generated_lock:
                previous = self._generated.get(time_ms - self._slide_ms)
        if previous is None:
            # No previous window (the first one) or no inverse: reduce the whole window.
            batch_rdds = self._window_rdds(time_ms)
            if not batch_rdds:
                return None
            merged = rdds.CoPartitionedRDD(
                self._aligned(batch_rdds), partial(merge_window, self._func, self._plan),
                self.note)
        else:
            assert self._inv_func is not None and self._inv_plan is not None
            previous_end = time_ms - self._slide_ms
            begin = time_ms - self._window_ms + step
            old = parent.slice(previous_end - self._window_ms + step, begin - step)
            new = parent.slice(previous_end + step, time_ms)
            merge = partial(merge_incremental, self._func, self._inv_func, len(old),
                            self._plan, self._inv_plan)
            merged = rdds.CoPartitionedRDD(self._aligned([previous, *old, *new]), merge,
                                           self.note)
        if self._filter_func is not None:
            return merged.filter(self._filter_func)
        return merged

    def _aligned(self, batch_rdds: list[RDD]) -> list[RDD]:
        # Every batch is reduced by the same HashPartitioner; an RDD that is not (none
        # is, unless a checkpoint lost it) is partitioned first rather than mismatched.
        return [rdd.partitionBy(self._num_partitions) for rdd in batch_rdds]


# --- task side: merging partition i of the window's batches -------------------------------


def _non_empty(parts: list[PartitionData]) -> list[PartitionData]:
    # An empty batch reduces to an empty list of rows: it adds nothing, and must not
    # turn a window of tables into rows.
    kept = [p if is_columnar(p) else to_list(p) for p in parts]
    return [p for p in kept if num_rows(p)]


def _reduce_rows(func: Callable[[Any, Any], Any], parts: list[PartitionData]
                 ) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for part in parts:  # oldest batch first, as Spark reduces them
        for k, v in iter_rows(part):
            out[k] = func(out[k], v) if k in out else v
    return out


def _columns(tables: list[pa.Table]) -> tuple[pa.ChunkedArray, pa.ChunkedArray] | None:
    """The key and value columns of (key, value) tables, as one of each."""
    unified = tasks.unify_tables(tables)
    if unified is None:
        return None
    keys = pa.chunked_array([c for t in unified for c in t.column(0).chunks],
                            unified[0].schema.types[0])
    values = pa.chunked_array([c for t in unified for c in t.column(1).chunks],
                              unified[0].schema.types[1])
    return keys, values


def _reduce_tables(tables: list[pa.Table], op: str) -> pa.Table | None:
    columns = _columns(tables)
    if columns is None:
        return None
    try:
        return kernels.reduce_by_key(columns[0], columns[1], op)
    except (TypeError, OverflowError):  # a key type the core lacks, or int64 would wrap
        return None


def merge_window(func: Callable[[Any, Any], Any], plan: Plan, split: int,
                 parts: list[PartitionData]) -> PartitionData:
    """Partition ``split`` of a whole window: each batch's partition, reduced by key."""
    parts = _non_empty(parts)
    if not parts:
        return []
    if (plan.columnar and all(is_columnar(p) and plan.accepts(p) for p in parts)):
        assert isinstance(plan.kernel, str)
        reduced = _reduce_tables(parts, plan.kernel)
        if reduced is not None:
            return reduced
    return list(_reduce_rows(func, parts).items())


def merge_incremental(func: Callable[[Any, Any], Any], inv_func: Callable[[Any, Any], Any],
                      num_old: int, plan: Plan, inv_plan: Plan, split: int,
                      parts: list[PartitionData]) -> PartitionData:
    """Partition ``split`` of a window from the previous one: ``parts`` is the previous
    window's partition, then the batches that left (``num_old``), then those that entered.

    Per key: the previous value, ``inv_func(value, reduce(left))`` where batches that
    left have the key, then ``func(value, reduce(entered))`` where entered ones do; a
    key new to the window is ``reduce(entered)``; a key the previous window lacks and no
    entered batch has is not in the window (PySpark's left outer join does the same).
    """
    previous = _non_empty(parts[:1])
    old = _non_empty(parts[1:1 + num_old])
    new = _non_empty(parts[1 + num_old:])
    if not old and not new:
        return previous[0] if previous else []
    if previous and not is_columnar(previous[0]):
        # A window that once fell back to rows (a batch the guard refused) would stay
        # rows for as long as its keys last: back to a table where the batches are.
        like = next((p for p in (*old, *new) if is_columnar(p)), None)
        if like is not None:
            previous = [_rows_as_table(previous[0], like)]
    if (plan.columnar and inv_plan.columnar and inv_plan.kernel == plan.kernel == "sum"
            and all(is_columnar(p) and inv_plan.accepts(p) for p in (*previous, *old, *new))):
        merged = _sum_incremental(previous, old, new)
        if merged is not None:
            return merged
    left = _reduce_rows(func, old)
    entered = _reduce_rows(func, new)
    out = []
    for part in previous:
        for k, v in iter_rows(part):
            if k in left:
                v = inv_func(v, left[k])
            if k in entered:
                v = func(v, entered.pop(k))
            out.append((k, v))
    out.extend(entered.items())  # keys the previous window did not have
    return out


def _sum_incremental(previous: list[pa.Table], old: list[pa.Table], new: list[pa.Table]
                     ) -> pa.Table | None:
    """previous - sum(old) + sum(new) per key, columnar; None where rows must do it."""
    unified = tasks.unify_tables([*previous, *old, *new])
    if unified is None:
        return None
    prev_t = unified[:len(previous)]
    old_t = unified[len(previous):len(previous) + len(old)]
    new_t = unified[len(previous) + len(old):]
    value_type = unified[0].schema.types[1]
    if pa.types.is_integer(value_type):
        return _integer_sum_incremental(prev_t, old_t, new_t)
    if pa.types.is_floating(value_type):
        return _float_sum_incremental(prev_t, old_t, new_t)
    return None


def _integer_sum_incremental(prev_t: list[pa.Table], old_t: list[pa.Table],
                             new_t: list[pa.Table]) -> pa.Table | None:
    # Integers: one sum of previous, -old and new by the core gives Python's exact
    # result whatever the order (an int64 overflow falls back to rows).
    try:
        negated = [t.set_column(1, t.schema.names[1], pc.negate_checked(t.column(1)))
                   for t in old_t]
        columns = _columns([*prev_t, *negated, *new_t])
        if columns is None:
            return None
        keys, values = columns
        merged = kernels.reduce_by_key(keys, values, "sum")
    except (TypeError, OverflowError, pa.ArrowInvalid):
        return None
    if not old_t:
        return merged
    # Keys that only the batches that left had are not in the window.
    kept = pa.chunked_array([c for t in (*prev_t, *new_t) for c in t.column(0).chunks],
                            keys.type)
    return merged.filter(pc.is_in(merged.column(0), value_set=kept.combine_chunks()))


def _float_sum_incremental(prev_t: list[pa.Table], old_t: list[pa.Table],
                           new_t: list[pa.Table]) -> pa.Table | None:
    # Floats: the row path's operations in its order, per key -- (previous - sum(old))
    # + sum(new) -- so rounding is the same. Joins do not match null keys: rows do those.
    if any(t.column(0).null_count for t in (*prev_t, *old_t, *new_t)):
        return None
    window = _pairs_table(prev_t, (*old_t, *new_t)[0])
    left = _reduce_tables(old_t, "sum") if old_t else None
    if left is not None:
        joined = window.join(left.rename_columns(["key", "left"]), "key",
                             join_type="left outer")
        value, gone = joined.column("value"), joined.column("left")
        window = pa.table({"key": joined.column("key"), "value": pc.if_else(
            pc.is_null(gone), value, pc.subtract(value, gone))})
    elif old_t:
        return None
    entered = _reduce_tables(new_t, "sum") if new_t else None
    if entered is not None:
        joined = window.join(entered.rename_columns(["key", "entered"]), "key",
                             join_type="full outer")
        value, came = joined.column("value"), joined.column("entered")
        window = pa.table({"key": joined.column("key"), "value": pc.if_else(
            pc.is_null(came), value,
            pc.if_else(pc.is_null(value), came, pc.add(value, came)))})
    elif new_t:
        return None
    return window


def _pairs_table(tables: list[pa.Table], like: pa.Table) -> pa.Table:
    """The previous window's partition as one (key, value) table; empty if it had none."""
    if not tables:
        return like.schema.empty_table().rename_columns(["key", "value"])
    table = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
    return table.rename_columns(["key", "value"])


def _rows_as_table(rows: list[Any], like: pa.Table) -> pa.Table | list[Any]:
    """(key, value) rows as a table of ``like``'s types, or the rows where they do not
    fit exactly (an int beyond int64, a key of another type)."""
    key_type, value_type = like.schema.types[:2]
    try:
        keys = pa.array([k for k, _ in rows], key_type)
        values = pa.array([v for _, v in rows], value_type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        return rows
    # A conversion that changed a value or its type (True -> 1, 1.0 -> 1) would not give
    # what the rows give.
    back = zip(keys.to_pylist(), values.to_pylist(), strict=True)
    for (k, v), (k2, v2) in zip(rows, back, strict=True):
        if type(k) is not type(k2) or type(v) is not type(v2) or k != k2 or v != v2:
            return rows
    return pa.table({"key": keys, "value": values})


# --- the functions PySpark's window operations are built of --------------------------------


def count_if_any(_: int, data: PartitionData) -> list[tuple[None, int]]:
    """A partition's count as a pair, for ``countByWindow``; an empty partition adds no
    pair, as PySpark's ``map(lambda x: 1)`` over it would not."""
    n = num_rows(data)
    return [(None, n)] if n else []


def keyed_by_one(x: Any) -> tuple[int, Any]:
    """``reduceByWindow`` reduces by key: all elements under one key."""
    return (1, x)


def singleton(x: Any) -> list[Any]:
    """``groupByKeyAndWindow`` reduces lists of values."""
    return [x]


def drop_first(values: list[Any], left: list[Any]) -> list[Any]:
    """``groupByKeyAndWindow``'s inverse: the batches that left the window are the
    oldest, so their values come first. A new list, never the cached one changed
    (PySpark's lists are copies made for each task; ours may be a cached block)."""
    return values[len(left):]


# --- the registry's entries for windows ---------------------------------------------------


def subtractable_pairs(table: pa.Table) -> bool:
    """(key, value) as for sums: string, binary or integer keys; integer or float values
    without nulls or -0.0 (integers are exact in any order; floats are computed in the
    row path's order)."""
    return functions.summable_pairs(table)


def count_is_positive(kv: tuple[Any, int]) -> bool:
    """Whether a (value, count) pair counts anything: ``countByValueAndWindow`` drops
    the values whose count in the window fell to 0."""
    return kv[1] > 0


def integer_value_pairs(table: pa.Table) -> bool:
    """Two columns, the second integers without nulls (``None > 0`` raises)."""
    return (table.num_columns == 2 and pa.types.is_integer(table.schema.types[1])
            and table.column(1).null_count == 0)


def positive_values(table: pa.Table) -> pa.Table:
    return table.filter(pc.greater(table.column(1), 0))


_OWNER = __name__
registry.declare_operation("reduceByKeyAndWindow", "reduce")
registry.register(
    # The same check as the core's sum (registry.set_core_guard), so it runs once.
    "reduceByKeyAndWindow", operator.sub, "sum", guard=functions.summable_pairs, owner=_OWNER,
    description="invFunc after operator.add: two columns: string, binary or integer keys; "
                "integer or float values, no nulls, no -0.0")
registry.register(
    "filter", count_is_positive, positive_values, guard=integer_value_pairs, owner=_OWNER,
    label="count_is_positive",
    description="two columns, integer values without nulls (countByValueAndWindow)")
