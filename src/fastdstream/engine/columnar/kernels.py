"""Arrow-facing wrappers around the compiled core, ``fastdstream._core``.

The core never sees a pyarrow object: these wrappers hand it an array's raw buffers
(validity bitmap, offsets, data) as numpy views plus the array's offset and length, and
rebuild pyarrow arrays from the numpy arrays / bytes it returns with
``pa.Array.from_buffers``. That keeps the extension free of pyarrow's C++ ABI.

Supported key types: string, large_string, binary, large_binary and int64. Other integer
types are widened to int64, dictionary and view types decoded, before hashing -- so a key
hashes the same whatever its encoding -- and result key columns come back in the input
type. Values for sum/min/max: int64 and float64 (narrower ints / floats are widened).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeAlias

import numpy as np

# pa.array(ndarray) looks up np.ma, which numpy imports lazily (~8 ms): imported
# with the engine, not in a stream's first batch.
import numpy.ma
import numpy.typing as npt
import pyarrow as pa

from fastdstream import _core

__all__ = [
    "block_boundaries",
    "count_boundaries",
    "hash_partition",
    "hash_value",
    "merge_partials",
    "partition_table",
    "reduce_by_key",
]

_OPS = ("sum", "count", "min", "max")
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
# Rows grouped per core call: the group-id buffer (256 KiB) stays in L2 between the
# grouping and the accumulation pass, and no row-sized temporary is ever allocated.
_WINDOW = 1 << 16

ArrayLike: TypeAlias = pa.Array | pa.ChunkedArray


# -- buffers -------------------------------------------------------------------------


def _validity(arr: pa.Array) -> np.ndarray | None:
    # A bitmap only matters when there are nulls; None lets the core skip bit tests.
    if arr.null_count == 0:
        return None
    buf = arr.buffers()[0]
    if buf is None:
        # NullArray: every slot is null but Arrow stores no bitmap.
        return np.zeros((arr.offset + len(arr) + 7) // 8, dtype=np.uint8)
    return np.frombuffer(buf, dtype=np.uint8)


def _offsets(buf: pa.Buffer, t: pa.DataType) -> npt.NDArray[np.int32] | npt.NDArray[np.int64]:
    # The offsets buffer of a binary-like array: int64 for the large types, else int32.
    if _is_large(t):
        return np.frombuffer(buf, dtype=np.int64)
    return np.frombuffer(buf, dtype=np.int32)


def _u8(buf: pa.Buffer | None) -> np.ndarray:
    if buf is None:
        return np.empty(0, dtype=np.uint8)
    return np.frombuffer(buf, dtype=np.uint8)


def _chunks(arr: ArrayLike) -> list[pa.Array]:
    if isinstance(arr, pa.ChunkedArray):
        return [c for c in arr.chunks if len(c)]
    return [arr]


def _is_binary_like(t: pa.DataType) -> bool:
    return (
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
    )


def _is_large(t: pa.DataType) -> bool:
    return pa.types.is_large_string(t) or pa.types.is_large_binary(t)


def _normalize_keys(keys: ArrayLike) -> tuple[ArrayLike, pa.DataType]:
    """Cast keys to a type the core reads; returns (keys, type to give back)."""
    if not isinstance(keys, pa.Array | pa.ChunkedArray):
        raise TypeError(f"keys must be a pyarrow Array or ChunkedArray, got {type(keys).__name__}")
    t = keys.type
    if pa.types.is_dictionary(t):
        keys, _ = _normalize_keys(keys.cast(t.value_type))
        return keys, t
    if pa.types.is_null(t):
        # All-null column (e.g. pa.array([None, None])): one null group.
        return keys.cast(pa.int64()), t
    if pa.types.is_string_view(t):
        return keys.cast(pa.large_string()), t
    if pa.types.is_binary_view(t):
        return keys.cast(pa.large_binary()), t
    if _is_binary_like(t) or pa.types.is_int64(t):
        return keys, t
    if pa.types.is_integer(t) and not pa.types.is_uint64(t):
        # int64 is wide enough for every other integer type, and hashing the widened
        # value keeps hash_value(k) consistent whatever the column's width.
        return keys.cast(pa.int64()), t
    raise TypeError(
        f"unsupported key type {t}: expected string, large_string, binary, "
        "large_binary or a signed/unsigned integer type narrower than uint64"
    )


def _normalize_values(values: ArrayLike, op: str) -> tuple[ArrayLike, pa.DataType]:
    """Cast values to int64 or float64; returns (values, original type)."""
    if not isinstance(values, pa.Array | pa.ChunkedArray):
        raise TypeError(
            f"values must be a pyarrow Array or ChunkedArray, got {type(values).__name__}"
        )
    t = values.type
    if op == "count":
        return values, t
    if pa.types.is_int64(t) or pa.types.is_float64(t):
        return values, t
    if pa.types.is_integer(t) and not pa.types.is_uint64(t):
        return values.cast(pa.int64()), t
    if pa.types.is_floating(t):
        return values.cast(pa.float64()), t
    raise TypeError(f"unsupported value type {t} for {op!r}: expected an integer or float type")


def _check_op(op: str) -> None:
    if op not in _OPS:
        raise ValueError(f"unknown op {op!r}: expected one of {', '.join(_OPS)}")


def _check_num_partitions(num_partitions: int) -> None:
    if isinstance(num_partitions, bool) or not isinstance(num_partitions, int | np.integer):
        raise TypeError(f"num_partitions must be an int, got {type(num_partitions).__name__}")
    if num_partitions < 1 or num_partitions > 2**31 - 1:
        raise ValueError(f"num_partitions must be in [1, 2**31 - 1], got {num_partitions}")


# -- hashing / partitioning ------------------------------------------------------------


def hash_value(value: str | bytes | int | None) -> int:
    """Hash one Python key exactly as the columnar kernels hash it.

    Parameters
    ----------
    value : str, bytes, int or None
        A ``str`` hashes as its UTF-8 bytes (like a string column), ``bytes`` like a
        binary column, an ``int`` in the int64 range like an int64 column, ``None`` like
        a null.

    Returns
    -------
    int
        The unsigned 64-bit hash; ``hash_value(k) % n`` is the partition that
        :func:`hash_partition` assigns to ``k`` among ``n`` partitions.

    Raises
    ------
    TypeError
        For any other type (bool, float, tuple, ...) or an int outside int64: callers
        fall back to their own portable hash.

    Examples
    --------
    >>> import pyarrow as pa
    >>> n = 8
    >>> int(hash_partition(pa.array(["spark"]), n)[0]) == hash_value("spark") % n
    True
    """
    if value is None:
        return _core.NULL_HASH
    if isinstance(value, str):
        return _core.hash_bytes(value.encode("utf-8", "surrogatepass"))
    if isinstance(value, bytes | bytearray | memoryview):
        return _core.hash_bytes(np.frombuffer(value, dtype=np.uint8))
    if isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_):
        v = int(value)
        if _INT64_MIN <= v <= _INT64_MAX:
            return _core.hash_int64(v)
        raise TypeError(f"int key {v} is outside the int64 range")
    raise TypeError(f"hash_value supports str, bytes, int and None, not {type(value).__name__}")


def hash_partition(keys: ArrayLike, num_partitions: int) -> np.ndarray:
    """Partition id of every row: ``hash(key) % num_partitions``.

    Parameters
    ----------
    keys : pyarrow.Array or pyarrow.ChunkedArray
        String, binary (large or not) or integer keys; nulls allowed.
    num_partitions : int
        Number of partitions, at least 1.

    Returns
    -------
    numpy.ndarray
        int32 partition id per row, in ``[0, num_partitions)``.

    Examples
    --------
    >>> import pyarrow as pa
    >>> ids = hash_partition(pa.array(["a", "b", "a", None]), 4)
    >>> ids.dtype.name, bool(ids[0] == ids[2]), bool(((ids >= 0) & (ids < 4)).all())
    ('int32', True, True)
    """
    _check_num_partitions(num_partitions)
    keys, _ = _normalize_keys(keys)
    out = np.empty(len(keys), dtype=np.int32)
    pos = 0
    for chunk in _chunks(keys):
        n = len(chunk)
        bufs = chunk.buffers()
        dest = out[pos : pos + n]
        if pa.types.is_int64(chunk.type):
            _core.partition_ids_int64(
                np.frombuffer(bufs[1], dtype=np.int64),
                _validity(chunk),
                chunk.offset,
                n,
                num_partitions,
                dest,
            )
        else:
            _core.partition_ids_binary(
                _offsets(bufs[1], chunk.type),
                _u8(bufs[2]),
                _validity(chunk),
                chunk.offset,
                n,
                num_partitions,
                dest,
            )
        pos += n
    return out


def partition_table(
    table: pa.Table | pa.RecordBatch, key_column: str | int, num_partitions: int
) -> list[pa.Table]:
    """Split rows into ``num_partitions`` tables by :func:`hash_partition` of a column.

    Parameters
    ----------
    table : pyarrow.Table or pyarrow.RecordBatch
        Rows to split.
    key_column : str or int
        Name or position of the key column.
    num_partitions : int
        Number of output tables, at least 1.

    Returns
    -------
    list of pyarrow.Table
        ``num_partitions`` tables with the input's schema; rows keep their order within
        each table.

    Examples
    --------
    >>> import pyarrow as pa
    >>> t = pa.table({"k": ["a", "b", "a"], "v": [1, 2, 3]})
    >>> parts = partition_table(t, "k", 2)
    >>> sum(p.num_rows for p in parts)
    3
    """
    _check_num_partitions(num_partitions)
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    if not isinstance(table, pa.Table):
        raise TypeError(f"expected a pyarrow Table or RecordBatch, got {type(table).__name__}")
    pids = hash_partition(table.column(key_column), num_partitions)
    order, bounds = _core.partition_order(pids, num_partitions)
    # One gather for all partitions, then zero-copy slices: cheaper than a take per
    # partition, and order is stable within each partition by construction.
    gathered = table.take(pa.array(order, type=pa.int64()))
    return [
        gathered.slice(int(bounds[p]), int(bounds[p + 1] - bounds[p]))
        for p in range(num_partitions)
    ]


# -- reduction ---------------------------------------------------------------------------


def _aligned(
    keys: list[pa.Array], values: list[pa.Array] | None
) -> Iterator[tuple[pa.Array, pa.Array | None]]:
    """Pairs of equally long key/value pieces, cut at the union of chunk boundaries."""
    if values is None:
        for k in keys:
            yield k, None
        return
    i = j = ko = vo = 0
    while i < len(keys) and j < len(values):
        k, v = keys[i], values[j]
        n = min(len(k) - ko, len(v) - vo)
        if n:
            yield k.slice(ko, n), v.slice(vo, n)
        ko += n
        vo += n
        if ko == len(k):
            i, ko = i + 1, 0
        if vo == len(v):
            j, vo = j + 1, 0


def reduce_by_key(
    keys: ArrayLike, values: ArrayLike | None, op: str, *, wrap: bool = False
) -> pa.Table:
    """Aggregate values per distinct key.

    Parameters
    ----------
    keys : pyarrow.Array or pyarrow.ChunkedArray
        Grouping keys (string, binary, their large variants, or integers). A null key
        forms its own group, like ``pyarrow.Table.group_by``.
    values : pyarrow.Array, pyarrow.ChunkedArray or None
        Values to aggregate, as long as ``keys``; null values are skipped. ``None`` is
        allowed with ``op="count"`` and counts rows.
    op : {"sum", "count", "min", "max"}
        ``sum`` gives int64 for integer values and float64 for floats; ``count`` gives
        int64 (non-null values); ``min``/``max`` keep the value type. A group with no
        non-null value gets null for sum/min/max and 0 for count.
    wrap : bool, default False
        What an int64 sum does when a group's running total leaves the int64 range:
        raise OverflowError (default, so a caller with Python-int semantics can fall
        back to exact arithmetic) or, with ``wrap=True``, wrap around like pyarrow's
        ``group_by(...).aggregate([(..., "sum")])``.

    Returns
    -------
    pyarrow.Table
        Columns ``key`` (the input key type) and ``value``, one row per group, in order
        of first appearance.

    Raises
    ------
    OverflowError
        An int64 sum overflowed and ``wrap`` is False; the message names the key.
    TypeError
        Unsupported key or value type (named in the message).
    ValueError
        Unknown ``op``, mismatched lengths, or ``values=None`` with an op other than
        ``count``.

    Examples
    --------
    >>> import pyarrow as pa
    >>> t = reduce_by_key(pa.array(["a", "b", "a"]), pa.array([1, 2, 3]), "sum")
    >>> t.to_pydict()
    {'key': ['a', 'b'], 'value': [4, 2]}
    """
    _check_op(op)
    keys, key_type = _normalize_keys(keys)
    if values is None:
        if op != "count":
            raise ValueError(f"op {op!r} needs values; only 'count' accepts values=None")
        value_type = pa.int64()
    else:
        values, value_type = _normalize_values(values, op)
        if len(values) != len(keys):
            raise ValueError(f"keys and values differ in length: {len(keys)} != {len(values)}")
    binary = _is_binary_like(keys.type)
    grouper = _core.Grouper("binary" if binary else "int64")

    acc_dtype: npt.DTypeLike = np.int64
    if op == "sum" and values is not None and pa.types.is_float64(values.type):
        acc_dtype = np.float64
    elif op in ("min", "max") and values is not None:
        acc_dtype = np.float64 if pa.types.is_float64(values.type) else np.int64
    # Per-group outputs grow as groups appear; counts doubles as the "has a value" flag.
    acc = np.zeros(1024, dtype=acc_dtype)
    counts = np.zeros(1024, dtype=np.int64)
    gids = np.empty(min(_WINDOW, max(len(keys), 1)), dtype=np.int32)

    # Without any null value every group gets a value, so sum can skip counting per
    # row (a second random-access update) and no group can come out null.
    dense = op == "sum" and values is not None and values.null_count == 0

    key_chunks = _chunks(keys)
    value_chunks = _chunks(values) if values is not None else None
    for kpiece, vpiece in _aligned(key_chunks, value_chunks):
        kb = kpiece.buffers()
        kval = _validity(kpiece)
        if binary:
            kofs = _offsets(kb[1], kpiece.type)
            kdata = _u8(kb[2])
        else:
            kvals = np.frombuffer(kb[1], dtype=np.int64)
        if vpiece is not None:
            vval = _validity(vpiece)
            if op != "count":
                vdata = np.frombuffer(vpiece.buffers()[1], dtype=acc_dtype)
        n = len(kpiece)
        if op == "sum" and vpiece is not None:
            # One core call per piece groups and adds window by window without the GIL.
            acc, counts = _room_for(acc, counts, grouper.num_groups, grouper.num_groups + n)
            if binary:
                overflowed = _core.group_sum_binary(
                    grouper, kofs, kdata, kval, kpiece.offset, vdata, vval, vpiece.offset, n,
                    acc, None if dense else counts)
            else:
                overflowed = _core.group_sum_int64(
                    grouper, kvals, kval, kpiece.offset, vdata, vval, vpiece.offset, n,
                    acc, None if dense else counts)
            if overflowed >= 0 and not wrap:
                key = _build_keys(grouper, keys.type, key_type)[overflowed].as_py()
                raise OverflowError(
                    f"int64 sum overflows for key {key!r}; pass wrap=True for "
                    "pyarrow's wrap-around semantics"
                )
            continue
        for start in range(0, n, _WINDOW):
            w = min(_WINDOW, n - start)
            if binary:
                grouper.add_binary(kofs, kdata, kval, kpiece.offset + start, w, gids)
            else:
                grouper.add_int64(kvals, kval, kpiece.offset + start, w, gids)
            if grouper.num_groups > len(counts):
                new = max(grouper.num_groups, 2 * len(counts))
                acc = np.concatenate([acc, np.zeros(new - len(acc), dtype=acc_dtype)])
                counts = np.concatenate([counts, np.zeros(new - len(counts), dtype=np.int64)])
            if vpiece is None:
                _core.accumulate_count(gids, None, 0, w, counts)
            elif op == "count":
                _core.accumulate_count(gids, vval, vpiece.offset + start, w, counts)
            elif op == "sum":
                overflowed = _core.accumulate_sum(
                    gids, vdata, vval, vpiece.offset + start, w, acc, None if dense else counts
                )
                if overflowed >= 0 and not wrap:
                    key = _build_keys(grouper, keys.type, key_type)[overflowed].as_py()
                    raise OverflowError(
                        f"int64 sum overflows for key {key!r}; pass wrap=True for "
                        "pyarrow's wrap-around semantics"
                    )
            else:
                _core.accumulate_minmax(
                    gids, vdata, vval, vpiece.offset + start, w, acc, counts, op == "max"
                )

    ngroups = grouper.num_groups
    key_arr = _build_keys(grouper, keys.type, key_type)
    counts = counts[:ngroups]
    if op == "count":
        value_arr = pa.array(counts, type=pa.int64())
    else:
        # A copy when the buffer was sized for every row: the result does not keep it.
        acc = acc[:ngroups].copy() if len(acc) > 2 * max(ngroups, 1024) else acc[:ngroups]
        has_value = counts > 0
        mask = None if dense or has_value.all() else ~has_value
        value_arr = pa.array(acc, mask=mask)
        if op in ("min", "max") and value_arr.type != value_type:
            value_arr = value_arr.cast(value_type)
    return pa.table({"key": key_arr, "value": value_arr})


def _room_for(acc: np.ndarray, counts: np.ndarray, used: int, need: int
              ) -> tuple[np.ndarray, np.ndarray]:
    """Per-group arrays with room for ``need`` groups, the first ``used`` kept."""
    if len(acc) >= need:
        return acc, counts
    size = max(need, 2 * len(acc))
    # np.zeros gets fresh zero pages from the OS lazily: room for a group per row costs
    # memory only for the groups that appear.
    new_acc = np.zeros(size, dtype=acc.dtype)
    new_acc[:used] = acc[:used]
    new_counts = np.zeros(size, dtype=np.int64)
    new_counts[:used] = counts[:used]
    return new_acc, new_counts


def _build_keys(grouper: _core.Grouper, core_type: pa.DataType, out_type: pa.DataType) -> pa.Array:
    ngroups = grouper.num_groups
    null_gid = grouper.null_group
    validity = None
    null_count = 0
    if null_gid >= 0:
        valid = np.ones(ngroups, dtype=bool)
        valid[null_gid] = False
        validity = pa.py_buffer(np.packbits(valid, bitorder="little"))
        null_count = 1
    if _is_binary_like(core_type):
        offsets, data = grouper.binary_keys()
        if not _is_large(core_type):
            if offsets[-1] > 2**31 - 1:
                raise OverflowError(
                    f"distinct {core_type} keys exceed 2 GiB; use large_{core_type} keys"
                )
            offsets = offsets.astype(np.int32)
        arr = pa.Array.from_buffers(
            core_type, ngroups, [validity, pa.py_buffer(offsets), pa.py_buffer(data)], null_count
        )
    else:
        arr = pa.Array.from_buffers(
            pa.int64(), ngroups, [validity, pa.py_buffer(grouper.int64_keys())], null_count
        )
    # Keys were widened/decoded for hashing (int32 -> int64, dictionary or view ->
    # plain); every distinct key fits the original type again.
    if pa.types.is_null(out_type):
        return pa.nulls(ngroups)
    return arr if out_type == arr.type else arr.cast(out_type)


def merge_partials(partials: list[pa.Table], op: str, *, wrap: bool = False) -> pa.Table:
    """Merge ``key``/``value`` tables produced by :func:`reduce_by_key`.

    Parameters
    ----------
    partials : list of pyarrow.Table
        Partial results (from different partitions or batches) with the same schema.
    op : {"sum", "count", "min", "max"}
        The op that produced the partials; ``count`` partials are merged by summing.
    wrap : bool, default False
        As in :func:`reduce_by_key`: raise OverflowError when merged int64 sums
        overflow, or wrap around.

    Returns
    -------
    pyarrow.Table
        Same schema as the partials, one row per distinct key, in order of first
        appearance across the partials.

    Raises
    ------
    ValueError
        If ``partials`` is empty (the key type would be unknown) or ``op`` is unknown.

    Examples
    --------
    >>> import pyarrow as pa
    >>> a = reduce_by_key(pa.array(["x", "y"]), pa.array([1, 2]), "sum")
    >>> b = reduce_by_key(pa.array(["y"]), pa.array([5]), "sum")
    >>> merge_partials([a, b], "sum").to_pydict()
    {'key': ['x', 'y'], 'value': [1, 7]}
    """
    _check_op(op)
    if not partials:
        raise ValueError("merge_partials needs at least one partial table")
    schema = partials[0].schema
    for t in partials[1:]:
        if not t.schema.equals(schema):
            raise TypeError(f"partials disagree on schema: {schema} vs {t.schema}")
    key_type = schema.field("key").type
    value_type = schema.field("value").type
    keys = pa.chunked_array([c for t in partials for c in t.column("key").chunks], key_type)
    values = pa.chunked_array([c for t in partials for c in t.column("value").chunks], value_type)
    merged = reduce_by_key(keys, values, "sum" if op == "count" else op, wrap=wrap)
    if merged.schema.field("value").type != value_type:
        # e.g. sum partials of int32 values re-summed: keep the partials' schema.
        merged = merged.set_column(1, "value", merged.column("value").cast(value_type))
    return merged


# -- slicing -----------------------------------------------------------------------------


def block_boundaries(
    timestamps_ms: np.ndarray | ArrayLike, start_ms: int, interval_ms: int
) -> tuple[np.ndarray, np.ndarray]:
    """Cut records with non-decreasing arrival times into fixed-interval blocks.

    Block ``k`` covers ``[start_ms + k * interval_ms, start_ms + (k + 1) * interval_ms)``;
    records before ``start_ms`` fall in negative blocks.

    Parameters
    ----------
    timestamps_ms : numpy.ndarray or pyarrow.Array
        Arrival time of each record in ms (integers or an Arrow timestamp), no nulls.
    start_ms : int
        Start of block 0.
    interval_ms : int
        Block interval, > 0.

    Returns
    -------
    block_index : numpy.ndarray
        int64 index ``k`` of each non-empty block, increasing.
    bounds : numpy.ndarray
        int64 row offsets, ``len(block_index) + 1`` of them; block ``j`` holds rows
        ``bounds[j]:bounds[j + 1]``.

    Raises
    ------
    ValueError
        Naming the row where timestamps decrease, or the first null row.

    Examples
    --------
    >>> import numpy as np
    >>> idx, bounds = block_boundaries(np.array([0, 150, 220, 610]), 0, 200)
    >>> idx.tolist(), bounds.tolist()
    ([0, 1, 3], [0, 2, 3, 4])
    """
    ts = _timestamps_to_int64(timestamps_ms)
    return _core.block_boundaries(ts, int(start_ms), int(interval_ms))


def _timestamps_to_int64(ts: np.ndarray | ArrayLike) -> np.ndarray:
    arr = _arrow_timestamps(ts) if isinstance(ts, pa.Array | pa.ChunkedArray) else np.asarray(ts)
    if arr.dtype.kind == "M":
        arr = arr.astype("datetime64[ms]").view(np.int64)
    elif arr.dtype.kind not in "iu":
        raise TypeError(f"timestamps must be integers (ms), got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.int64)


def _arrow_timestamps(ts: ArrayLike) -> np.ndarray:
    if isinstance(ts, pa.ChunkedArray):
        ts = ts.combine_chunks()
    if ts.null_count:
        first = int(np.flatnonzero(~np.asarray(ts.is_valid()))[0])
        raise ValueError(f"timestamps must not be null: row {first} is null")
    if pa.types.is_timestamp(ts.type):
        ts = ts.cast(pa.timestamp("ms")).cast(pa.int64())
    elif not pa.types.is_integer(ts.type):
        raise TypeError(f"timestamps must be integers (ms) or timestamps, got {ts.type}")
    return np.asarray(ts.to_numpy(zero_copy_only=False))


def count_boundaries(num_rows: int, max_rows: int) -> np.ndarray:
    """Row offsets cutting ``num_rows`` rows into blocks of at most ``max_rows``.

    Parameters
    ----------
    num_rows : int
        Number of rows, >= 0.
    max_rows : int
        Largest block, >= 1.

    Returns
    -------
    numpy.ndarray
        int64 offsets starting at 0 and ending at ``num_rows``.

    Examples
    --------
    >>> count_boundaries(10, 4).tolist()
    [0, 4, 8, 10]
    """
    return _core.count_boundaries(int(num_rows), int(max_rows))
