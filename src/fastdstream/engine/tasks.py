"""Task-side functions: what runs on executors.

Module level, so they ship by reference; they close over data and user functions,
never over an RDD or the Context.
"""

from __future__ import annotations

import bisect
import contextlib
import copy
import heapq
import itertools
import logging
import math
import os
import shlex
import subprocess
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from functools import partial, reduce
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fastdstream import _core
from fastdstream.engine import rdd_checkpoint
from fastdstream.engine.backend import serde
from fastdstream.engine.backend.block_manager import (
    BlockId,
    BlockNotFoundError,
    format_block_id,
)
from fastdstream.engine.backend.shuffle import MapStatus
from fastdstream.engine.backend.task_context import TaskContext
from fastdstream.engine.columnar import kernels, sort
from fastdstream.engine.columnar.partition import (
    PartitionData,
    is_columnar,
    is_pair_table,
    iter_rows,
    num_rows,
    to_list,
)
from fastdstream.engine.columnar.registry import Plan
from fastdstream.engine.partitioner import HashPartitioner, portable_hash
from fastdstream.engine.stat_counter import StatCounter

log = logging.getLogger(__name__)

PartitionFn = Callable[[TaskContext, int], PartitionData]
BlockFallback = Callable[[], PartitionData]  # reloads a lost block from a durable copy
Step = Callable[[int, PartitionData], PartitionData]

def identity(x: Any) -> Any:
    return x


def new_list(v: Any) -> list[Any]:
    return [v]


def append(acc: list[Any], v: Any) -> list[Any]:
    acc.append(v)
    return acc


def extend(a: list[Any], b: list[Any]) -> list[Any]:
    a.extend(b)
    return a


def no_partition(tc: TaskContext, split: int) -> PartitionData:
    raise IndexError(f"empty RDD has no partition {split}")


def flat_map(f: Callable[[Any], Iterable[Any]], _: int, it: Iterator[Any]) -> Iterator[Any]:
    # chain/map run in C: no generator frame resumed per element.
    return itertools.chain.from_iterable(map(f, it))


# The row functions of RDD.map, filter, mapPartitions, glom, mapValues and
# flatMapValues, named at module level like flat_map: a stage's closure is pickled
# once per stage (every batch of a stream), and cloudpickle ships a lambda made inside a
# method by value (its code object, cells, globals) but a module's function by name --
# at 10 ms batches the map lambda of rdd.values() alone was most of a batch's pickling.
def map_rows(f: Callable[[Any], Any], _: int, it: Iterator[Any]) -> Iterator[Any]:
    return map(f, it)


def filter_rows(f: Callable[[Any], Any], _: int, it: Iterator[Any]) -> Iterator[Any]:
    return filter(f, it)


def map_partition(f: Callable[[Iterator[Any]], Iterable[Any]], _: int,
                  it: Iterator[Any]) -> Iterable[Any]:
    return f(it)


def glom_rows(_: int, it: Iterator[Any]) -> list[list[Any]]:
    return [list(it)]


def map_values(f: Callable[[Any], Any], _: int, it: Iterator[Any]) -> Iterator[Any]:
    return ((k, f(v)) for k, v in it)


def flat_map_values(f: Callable[[Any], Iterable[Any]], _: int,
                    it: Iterator[Any]) -> Iterator[Any]:
    return ((k, x) for k, v in it for x in f(v))


def make_step(
    py_fn: Callable[[int, Iterator[Any]], Iterable[Any]],
    plan: Plan | None = None,
) -> Step:
    """A pipelined step: ``py_fn`` over rows, or ``plan``'s kernel where its guard passes.

    The plan was chosen on the driver (registry lookup); the step only closes over it.
    """
    if plan is None:
        return partial(_object_step, py_fn)
    return partial(_columnar_step, py_fn, plan)


def _object_step(py_fn: Callable[[int, Iterator[Any]], Iterable[Any]], split: int,
                 data: PartitionData) -> PartitionData:
    return py_fn(split, iter_rows(data))


def _columnar_step(
    py_fn: Callable[[int, Iterator[Any]], Iterable[Any]],
    plan: Plan,
    split: int,
    data: PartitionData,
) -> PartitionData:
    if plan.accepts(data):
        return plan.run(data)
    return py_fn(split, iter_rows(data))


def map_in_arrow(f: Callable[[Iterator[pa.RecordBatch]], Iterable[pa.RecordBatch]], split: int,
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


def run_steps(parent_fn: PartitionFn, steps: tuple[Step, ...], tc: TaskContext,
              split: int) -> PartitionData:
    data = parent_fn(tc, split)
    for step in steps:
        data = step(split, data)
    return data


def slice_of(slices: tuple[serde.ShippedPartition, ...], tc: TaskContext,
             split: int) -> PartitionData:
    return slices[split].data


def cached_partition(rdd_id: int, fn: PartitionFn, tc: TaskContext,
                     split: int) -> PartitionData:
    blocks = tc.block_manager
    block_id = ("rdd", rdd_id, split)
    data = blocks.get_local_or_none(block_id)
    if data is None:
        data = fn(tc, split)
        if not is_columnar(data):
            data = to_list(data)
        blocks.put(block_id, data)
    return data


def save_checkpoint_result(directory: str, split: int, data: PartitionData) -> str:
    path = rdd_checkpoint.partition_path(directory, split)
    rdd_checkpoint.write_partition(path, data if is_columnar(data) else to_list(data))
    return path


def where_computed(split: int, data: PartitionData) -> str:
    """The executor a (locally checkpointed, so cached) partition was computed on."""
    context = TaskContext.get()
    assert context is not None, "runs inside a task"
    return context.executor.executor_id


def read_checkpoint_partition(paths: tuple[str, ...], tc: TaskContext,
                              split: int) -> PartitionData:
    return rdd_checkpoint.read_partition(paths[split])


def read_block(block_ids: tuple[BlockId, ...], locations: tuple[str, ...],
               fallbacks: tuple[BlockFallback | None, ...] | None,
               handles: tuple[Any, ...] | None, tc: TaskContext,
               split: int) -> PartitionData:
    block_id, location = block_ids[split], locations[split]
    handle = handles[split] if handles is not None else None
    try:
        return tc.block_manager.get_many([block_id], location,
                                         None if handle is None else [handle])[0]
    except (BlockNotFoundError, ConnectionError) as exc:
        fallback = fallbacks[split] if fallbacks is not None else None
        if fallback is None:
            raise BlockNotFoundError(
                f"block {format_block_id(block_id)} was lost with executor {location} and "
                f"has no durable copy (enable the receivers' write-ahead log to keep one): "
                f"{exc}"
            ) from exc
        log.warning("block %s is gone with executor %s; reading its durable copy",
                    format_block_id(block_id), location)
        return fallback()


def union_partition(parts: tuple[tuple[PartitionFn, int], ...], tc: TaskContext,
                    split: int) -> PartitionData:
    for fn, n in parts:
        if split < n:
            return fn(tc, split)
        split -= n
    raise IndexError(split)


def copartitioned_partition(parent_fns: tuple[PartitionFn, ...],
                            merge: Callable[[int, list[PartitionData]], PartitionData],
                            tc: TaskContext, split: int) -> PartitionData:
    return merge(split, [fn(tc, split) for fn in parent_fns])


def coalesced_partition(parent_fn: PartitionFn, groups: tuple[tuple[int, ...], ...],
                        tc: TaskContext, split: int) -> PartitionData:
    return concat(split, [parent_fn(tc, i) for i in groups[split]])


def cartesian_partition(left: PartitionFn, right: PartitionFn, n_right: int, tc: TaskContext,
                        split: int) -> PartitionData:
    right_rows = to_list(right(tc, split % n_right))
    return itertools.product(iter_rows(left(tc, split // n_right)), right_rows)


def shuffle_map_task(parent_fn: PartitionFn,
                     map_side: Callable[[int, PartitionData], list[PartitionData]],
                     shuffle_id: int, tc: TaskContext, split: int) -> MapStatus:
    buckets = map_side(split, parent_fn(tc, split))
    return tc.shuffle.write(shuffle_id, split, buckets)


def read_shuffle(shuffle_id: int, statuses: tuple[MapStatus, ...],
                 reduce_side: Callable[[int, list[PartitionData]], PartitionData],
                 tc: TaskContext, split: int) -> PartitionData:
    return reduce_side(split, tc.shuffle.read(shuffle_id, split, statuses))


def _bucket_rows(partitioner: HashPartitioner, rows: Iterable[tuple[Any, Any]]
                 ) -> list[list[Any]]:
    buckets: list[list[Any]] = [[] for _ in range(partitioner.num_partitions)]
    for row in rows:
        buckets[partitioner(row[0])].append(row)
    return buckets


def _bucket_combiners(partitioner: HashPartitioner, combiners: dict[Any, Any]
                      ) -> list[list[Any]]:
    """(key, combiner) pairs per output partition, the partition computed once per key."""
    if partitioner.is_default:
        # The core hashes str/bytes/int keys itself, as portable_hash does.
        return _core.partition_items(combiners, partitioner.num_partitions, portable_hash)
    return _bucket_rows(partitioner, combiners.items())


def combine_map_side(create: Callable[[Any], Any] | None,
                     merge_value: Callable[[Any, Any], Any],
                     partitioner: HashPartitioner, _: int, data: PartitionData) -> list[Any]:
    """One dict of combiners for the partition, then split by key.

    ``create`` is called once for each key's first value (None: the value is the
    combiner, as reduceByKey wants), ``merge_value`` once for every other value.
    """
    combiners: dict[Any, Any] = {}
    _core.combine_rows(iter_rows(data), create, merge_value, combiners)
    return _bucket_combiners(partitioner, combiners)


def combine_reduce_side(merge: Callable[[Any, Any], Any], _: int, buckets: list[Any]
                        ) -> list[tuple[Any, Any]]:
    merged: dict[Any, Any] = {}
    for bucket in buckets:
        # A bucket's first combiner of a key is taken as it is, later ones merged.
        _core.combine_rows(iter_rows(bucket), None, merge, merged)
    return list(merged.items())


def _partition_table(table: pa.Table, partitioner: HashPartitioner) -> list[pa.Table] | None:
    if not partitioner.is_default:
        return None
    try:
        return kernels.partition_table(table, 0, partitioner.num_partitions)
    except TypeError:  # key type the kernel does not take: use the object path
        return None


def reduce_map_side(func: Callable[[Any, Any], Any], plan: Plan, partitioner: HashPartitioner,
                     split: int, data: PartitionData) -> list[Any]:
    if is_pair_table(data) and plan.accepts(data):
        assert isinstance(plan.kernel, str)
        try:
            partial_agg = kernels.reduce_by_key(data.column(0), data.column(1), plan.kernel)
        except (TypeError, OverflowError):  # int64 would wrap (or a user guard let a type by)
            partial_agg = None
        if partial_agg is not None:
            parts = _partition_table(partial_agg, partitioner)
            if parts is not None:
                return parts
    return combine_map_side(None, func, partitioner, split, data)


def count_map_side(plan: Plan, partitioner: HashPartitioner, split: int, data: PartitionData
                   ) -> list[Any]:
    if plan.accepts(data):
        try:
            counts = kernels.reduce_by_key(data.column(0), None, "count")
        except TypeError:
            counts = None
        if counts is not None:
            parts = _partition_table(counts, partitioner)
            if parts is not None:
                return parts
    return _bucket_combiners(partitioner, Counter(iter_rows(data)))


def reduce_reduce_side(func: Callable[[Any, Any], Any], op: str, split: int,
                        buckets: list[Any]) -> PartitionData:
    if buckets and all(is_columnar(b) for b in buckets):
        tables = unify_tables(buckets)
        if tables is not None:
            try:
                return kernels.merge_partials(tables, op)
            except OverflowError:
                pass  # int64 would wrap: Python's ints give the exact answer
    return combine_reduce_side(func, split, buckets)


def unify_tables(tables: list[pa.Table]) -> list[pa.Table] | None:
    """Cast partial aggregates to one schema (string vs large_string, int32 vs int64)."""
    first = tables[0].schema
    if all(t.schema.equals(first) for t in tables):
        return tables
    try:
        schema = pa.unify_schemas([t.schema for t in tables], promote_options="permissive")
        return [t.cast(schema) for t in tables]
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None


def partition_map_side(partitioner: HashPartitioner, _: int, data: PartitionData) -> list[Any]:
    if is_columnar(data):
        parts = _partition_table(data, partitioner)
        if parts is not None:
            return parts
    return _bucket_rows(partitioner, iter_rows(data))


def round_robin(n: int, split: int, data: PartitionData) -> list[Any]:
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


def concat(_: int, buckets: list[Any]) -> PartitionData:
    tables = [b for b in buckets if is_columnar(b)]
    if len(tables) == len(buckets) and tables:
        return pa.concat_tables(tables, promote_options="default")
    return [x for b in buckets for x in iter_rows(b)]


def tag_values(tag: int, _: int, data: PartitionData) -> Iterator[tuple[Any, Any]]:
    return ((k, (tag, v)) for k, v in iter_rows(data))


def cogroup_create(n: int, tagged: tuple[int, Any]) -> list[list[Any]]:
    groups: list[list[Any]] = [[] for _ in range(n)]
    groups[tagged[0]].append(tagged[1])
    return groups


def cogroup_merge(groups: list[list[Any]], tagged: tuple[int, Any]) -> list[list[Any]]:
    groups[tagged[0]].append(tagged[1])
    return groups


def cogroup_combine(a: list[list[Any]], b: list[list[Any]]) -> list[list[Any]]:
    for mine, theirs in zip(a, b, strict=True):
        mine.extend(theirs)
    return a


def collect_partition(_: int, data: PartitionData) -> list[Any]:
    return to_list(data)


def arrow_partition(_: int, data: PartitionData) -> pa.Table | None:
    return data if is_columnar(data) else None


def count_partition(_: int, data: PartitionData) -> int:
    return num_rows(data)


def take_partition(num: int, _: int, data: PartitionData) -> list[Any]:
    if is_columnar(data):
        return to_list(data.slice(0, num))
    return list(itertools.islice(iter_rows(data), num))


def reduce_partition(f: Callable[[Any, Any], Any], _: int, data: PartitionData) -> list[Any]:
    it = iter_rows(data)
    try:
        first = next(it)
    except StopIteration:
        return []
    return [reduce(f, it, first)]


def sum_partition(_: int, data: PartitionData) -> Any:
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


def foreach_partition(f: Callable[[Any], None], _: int, data: PartitionData) -> None:
    for x in iter_rows(data):
        f(x)


def save_partition(directory: str, split: int, data: PartitionData) -> None:
    path = os.path.join(directory, f"part-{split:05d}")
    with open(path, "w", encoding="utf-8") as out:
        for x in iter_rows(data):
            out.write(f"{x}\n")
        out.flush()
        os.fsync(out.fileno())


# --- ordering: sortByKey, top, takeOrdered, min, max ------------------------------------


def key_orderable(table: pa.Table) -> bool:
    """Guard of the columnar sort by key: pairs (or wider rows) whose key column orders
    in Arrow as in Python."""
    return table.num_columns >= 2 and sort.orderable(table, 1)


def sort_rows(ascending: bool, keyfunc: Callable[[Any], Any], _: int,
              rows: Iterable[Any]) -> list[Any]:
    return sorted(rows, key=lambda kv: keyfunc(kv[0]), reverse=not ascending)


def range_partition(bounds: list[Any], ascending: bool, keyfunc: Callable[[Any], Any],
                    key: Any) -> int:
    """PySpark's range partitioner of ``sortByKey``: the range a key falls in."""
    p = bisect.bisect_left(bounds, keyfunc(key))
    return p if ascending else len(bounds) - p


def range_map_side(bounds: list[Any], ascending: bool, keyfunc: Callable[[Any], Any],
                   plan: Plan, split: int, data: PartitionData) -> list[Any]:
    if plan.accepts(data):
        return sort.range_split(sort.sort_table(data, "ascending"), bounds, ascending)
    buckets: list[list[Any]] = [[] for _ in range(len(bounds) + 1)]
    for row in iter_rows(data):
        buckets[range_partition(bounds, ascending, keyfunc, row[0])].append(row)
    return buckets


def sort_reduce_side(ascending: bool, keyfunc: Callable[[Any], Any], plan: Plan, split: int,
                     buckets: list[Any]) -> PartitionData:
    if buckets and all(is_columnar(b) for b in buckets):
        tables = unify_tables(buckets)
        if tables is not None:
            table = pa.concat_tables(tables)
            if plan.accepts(table):
                return plan.run(table)
    return sort_rows(ascending, keyfunc, split, (x for b in buckets for x in iter_rows(b)))


def select_partition(num: int, key: Callable[[Any], Any] | None, largest: bool, _: int,
                     data: PartitionData) -> list[Any]:
    """The ``num`` largest (or smallest) elements of a partition, sorted, as heapq gives
    them; a table ordered in Arrow as in Python is selected by Arrow."""
    if key is None and is_columnar(data) and sort.orderable(data):
        return to_list(sort.select_k(data, num, "descending" if largest else "ascending"))
    pick = heapq.nlargest if largest else heapq.nsmallest
    return pick(num, iter_rows(data), key=key)


def extreme_partition(largest: bool, key: Callable[[Any], Any] | None, _: int,
                      data: PartitionData) -> list[Any]:
    """[max] or [min] of a partition ([] if empty); one orderable column by Arrow."""
    if (key is None and is_columnar(data) and data.num_columns == 1
            and sort.orderable(data)):
        low, high = sort.min_max(data.column(0))
        return [] if data.num_rows == 0 else [high if largest else low]
    rows = iter_rows(data)
    pick = max if largest else min
    try:
        return [pick(rows, key=key)] if key is not None else [pick(rows)]
    except ValueError:  # an empty partition
        return []


def stats_partition(_: int, data: PartitionData) -> StatCounter:
    if is_columnar(data) and data.num_columns == 1:
        column = data.column(0)
        kind = column.type
        if (pa.types.is_integer(kind) or pa.types.is_floating(kind)) and not column.null_count:
            return StatCounter.of_column(column)
    return StatCounter(iter_rows(data))


# --- zip, indices ------------------------------------------------------------------------


def zip_partition(left: PartitionFn, right: PartitionFn, tc: TaskContext,
                  split: int) -> PartitionData:
    a, b = left(tc, split), right(tc, split)
    if (is_columnar(a) and is_columnar(b) and a.num_columns == 1 and b.num_columns == 1
            and a.num_rows == b.num_rows):
        return pa.table([a.column(0), b.column(0)], names=["_1", "_2"])
    xs, ys = to_list(a), to_list(b)
    if len(xs) != len(ys):
        raise ValueError(
            f"Can only zip RDDs with same number of elements in each partition: partition "
            f"{split} has {len(xs)} and {len(ys)}")
    return list(zip(xs, ys, strict=True))


def _with_numbers(data: PartitionData, numbers: Callable[[int], Any]) -> PartitionData:
    if is_columnar(data) and data.num_columns == 1:
        return pa.table([data.column(0), pa.array(numbers(data.num_rows), pa.int64())],
                        names=[data.column_names[0], "index"])
    rows = to_list(data)
    return list(zip(rows, numbers(len(rows)).tolist(), strict=True))


def index_step(starts: tuple[int, ...], split: int, data: PartitionData) -> PartitionData:
    """:meth:`RDD.zipWithIndex`: (element, its index in the RDD)."""
    return _with_numbers(data, lambda n: np.arange(starts[split], starts[split] + n))


def unique_id_step(num_partitions: int, split: int, data: PartitionData) -> PartitionData:
    """:meth:`RDD.zipWithUniqueId`: element ``i`` of partition ``k`` gets ``i * n + k``."""
    return _with_numbers(data, lambda n: np.arange(n, dtype=np.int64) * num_partitions + split)


# --- pipe, pickle files --------------------------------------------------------------------


def pipe_partition(command: str, env: dict[str, str], check_code: bool, _: int,
                   data: PartitionData) -> list[str]:
    """:meth:`RDD.pipe`: each element as a line to ``command``'s stdin; its stdout lines."""
    process = subprocess.Popen(shlex.split(command), env=env, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE)
    assert process.stdin is not None and process.stdout is not None

    def feed(out: Any) -> None:
        try:
            for x in iter_rows(data):
                out.write((str(x).rstrip("\n") + "\n").encode("utf-8"))
        except BrokenPipeError:
            pass  # the command stopped reading; its exit code says whether that is an error
        finally:
            with contextlib.suppress(BrokenPipeError):
                out.close()

    writer = threading.Thread(target=feed, args=(process.stdin,), daemon=True)
    writer.start()
    lines = [line.rstrip(b"\n").decode("utf-8") for line in process.stdout]
    process.stdout.close()
    code = process.wait()
    writer.join()
    if check_code and code:
        raise RuntimeError(f"Pipe function `{command}' exited with error code {code}")
    return lines


def save_pickled_partition(directory: str, split: int, data: PartitionData) -> None:
    path = os.path.join(directory, f"part-{split:05d}")
    with open(path, "wb") as out:
        out.write(serde.encode_partition(data if is_columnar(data) else to_list(data)))
        out.flush()
        os.fsync(out.fileno())


def histogram_partition(buckets: list[Any], even: bool, inc: Any, _: int,
                        data: PartitionData) -> list[int]:
    """PySpark's histogram of one partition: counts per bucket, the last one closed."""
    minv, maxv = buckets[0], buckets[-1]
    counters = [0] * len(buckets)
    for i in iter_rows(data):
        if i is None or (isinstance(i, float) and math.isnan(i)) or i > maxv or i < minv:
            continue
        t = int((i - minv) / inc) if even else bisect.bisect_right(buckets, i) - 1
        counters[t] += 1
    last = counters.pop()
    counters[-1] += last
    return counters


# --- aggregation helpers -------------------------------------------------------------------


def fold_partition(zero: Any, op: Callable[[Any, Any], Any], _: int, data: PartitionData) -> Any:
    """Fold a partition from its own copy of ``zero`` (tasks of a stage may share one)."""
    return reduce(op, iter_rows(data), copy.deepcopy(zero))


def fold_step(zero: Any, op: Callable[[Any, Any], Any], split: int,
              data: PartitionData) -> list[Any]:
    return [fold_partition(zero, op, split, data)]


def key_by_split(n: int, split: int, data: PartitionData) -> Iterator[tuple[int, Any]]:
    return ((split % n, x) for x in iter_rows(data))


def reduce_by_key_locally(func: Callable[[Any, Any], Any], _: int,
                          data: PartitionData) -> dict[Any, Any]:
    merged: dict[Any, Any] = {}
    for k, v in iter_rows(data):
        merged[k] = func(merged[k], v) if k in merged else v
    return merged
