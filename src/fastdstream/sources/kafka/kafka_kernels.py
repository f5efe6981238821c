"""Arrow-facing wrappers of the compiled core's Kafka kernels.

Offset-range planning, contiguity checks, commit merging and messages-to-Arrow
run in ``fastdstream._core``; these wrappers validate and convert arguments.
"""

from __future__ import annotations

import atexit
import ctypes
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from fastdstream import _core

__all__ = [
    "KAFKA_SCHEMA",
    "byte_budget_caps",
    "check_contiguous",
    "merge_commits",
    "messages_to_arrow",
    "messages_until",
    "native_chunk_to_arrow",
    "native_reader",
    "plan_offset_ranges",
]

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1



def _int64_offsets(values: object, name: str) -> np.ndarray:
    """A 1-D contiguous int64 copy/view of integer offsets; empty lists are allowed."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        return np.empty(0, dtype=np.int64)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers, got dtype {arr.dtype}")
    if arr.dtype == np.uint64 and int(arr.max()) > _INT64_MAX:
        i = int(np.argmax(arr > _INT64_MAX))
        raise ValueError(f"{name}[{i}] = {int(arr[i])} is outside the int64 range")
    return np.ascontiguousarray(arr, dtype=np.int64)


def plan_offset_ranges(
    from_offsets: np.ndarray | Sequence[int],
    latest_offsets: np.ndarray | Sequence[int],
    max_messages: int | np.ndarray | Sequence[int] | None = None,
    *,
    earliest_offsets: np.ndarray | Sequence[int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Plan one batch's offset range ``[from, until)`` per Kafka partition.

    ``until = min(latest, from + max_messages)`` (just ``latest`` without a cap), what
    Spark's direct stream does with ``maxRatePerPartition`` x batch seconds. A partition
    whose start offset is not readable -- ``from > latest`` (the topic was truncated or
    recreated) or ``from < earliest`` (retention deleted it) -- is never clamped
    silently: it is flagged in the returned mask and gets the empty range
    ``until = from``, and the caller raises (or applies ``auto.offset.reset``) naming
    the topic, partition and offset.

    Parameters
    ----------
    from_offsets : array_like of int
        Start offset of each partition (the previous batch's until offsets).
    latest_offsets : array_like of int
        Latest (high watermark) offset of each partition, aligned with ``from_offsets``.
    max_messages : int, array_like of int or None, default None
        Largest number of messages to read per partition: one cap for all, one per
        partition (backpressure), or None for no cap.
    earliest_offsets : array_like of int, optional
        Earliest (low watermark) offset of each partition; when given, ``from`` before
        it is out of range too.

    Returns
    -------
    until_offsets : numpy.ndarray
        int64, one per partition, ``from <= until <= latest`` for in-range partitions.
    out_of_range : numpy.ndarray
        bool, True where the start offset is out of range (``until == from`` there).

    Raises
    ------
    ValueError
        Arrays of different lengths, or a negative offset or cap (or earliest after
        latest); the message names the partition index and its values.
    TypeError
        Non-integer offsets or caps.

    Examples
    --------
    >>> until, out_of_range = plan_offset_ranges([0, 10, 50], [100, 15, 40], 20)
    >>> until.tolist(), out_of_range.tolist()
    ([20, 15, 50], [False, False, True])
    """
    frm = _int64_offsets(from_offsets, "from_offsets")
    latest = _int64_offsets(latest_offsets, "latest_offsets")
    earliest = None
    if earliest_offsets is not None:
        earliest = _int64_offsets(earliest_offsets, "earliest_offsets")
    caps = None
    cap = 0
    if max_messages is not None:
        if isinstance(max_messages, int | np.integer) and not isinstance(
            max_messages, bool | np.bool_
        ):
            cap = int(max_messages)
            if not _INT64_MIN <= cap <= _INT64_MAX:
                raise ValueError(f"max_messages {cap} is outside the int64 range")
        elif isinstance(max_messages, bool | float | np.floating):
            raise TypeError(
                f"max_messages must be an int or an array of ints, got "
                f"{type(max_messages).__name__} (round rate x seconds to an int first)"
            )
        else:
            caps = _int64_offsets(max_messages, "max_messages")
    until = np.empty(len(frm), dtype=np.int64)
    out_of_range = np.empty(len(frm), dtype=np.bool_)
    _core.plan_offset_ranges(
        frm,
        latest,
        earliest,
        caps,
        cap,
        max_messages is not None,
        until,
        out_of_range.view(np.uint8),
    )
    return until, out_of_range


def byte_budget_caps(
    lag: np.ndarray | Sequence[int],
    bytes_per_record: np.ndarray | Sequence[float],
    max_bytes: int,
) -> np.ndarray | None:
    """Per-partition record caps that keep one batch within ``max_bytes``.

    The direct stream's byte budget (``fastdstream.kafka.maxBytesPerBatch``): when
    reading every partition's whole lag would take more than ``max_bytes`` at the
    estimated bytes per record, each partition reads the same share of its lag
    (rounded down; at least one record where there is a lag, so a record larger than
    the budget still goes through) and the backlog is read over several batches.

    Parameters
    ----------
    lag : array_like of int
        Records waiting per partition (latest offset minus next offset).
    bytes_per_record : array_like of float
        Estimated bytes a record of each partition takes, aligned with ``lag``.
    max_bytes : int
        The budget, > 0.

    Returns
    -------
    numpy.ndarray or None
        int64 caps (``1 <= cap <= lag`` where ``lag > 0``), or None when the whole lag
        fits the budget.

    Raises
    ------
    ValueError
        Arrays of different lengths, a negative lag, a size that is not a finite
        positive number (naming the partition index) or a budget that is not positive.

    Examples
    --------
    >>> byte_budget_caps([1000, 3000], [100.0, 100.0], 200_000).tolist()
    [500, 1500]
    >>> byte_budget_caps([10, 30], [100.0, 100.0], 200_000) is None
    True
    """
    lags = _int64_offsets(lag, "lag")
    sizes = np.ascontiguousarray(bytes_per_record, dtype=np.float64)
    if sizes.ndim != 1:
        raise ValueError(f"bytes_per_record must be one-dimensional, got shape {sizes.shape}")
    caps = np.empty(len(lags), dtype=np.int64)
    if not _core.byte_budget_caps(lags, sizes, int(max_bytes), caps):
        return None
    return caps


def check_contiguous(
    expected_next: np.ndarray | Sequence[int], from_offsets: np.ndarray | Sequence[int]
) -> np.ndarray:
    """Partitions where a batch does not start where the previous one ended.

    Parameters
    ----------
    expected_next : array_like of int
        The previous batch's until offset of each partition.
    from_offsets : array_like of int
        The new batch's from offset of the same partitions, aligned.

    Returns
    -------
    numpy.ndarray
        bool, True where ``from != expected_next``: a gap (records skipped) when
        from is larger, an overlap (records read twice) when it is smaller.

    Raises
    ------
    ValueError
        Arrays of different lengths or a negative offset (naming the partition index).

    Examples
    --------
    >>> check_contiguous([10, 20, 30], [10, 25, 29]).tolist()
    [False, True, True]
    """
    expected = _int64_offsets(expected_next, "expected_next")
    frm = _int64_offsets(from_offsets, "from_offsets")
    out = np.empty(len(frm), dtype=np.bool_)
    _core.offsets_differ(expected, frm, out.view(np.uint8))
    return out


def merge_commits(
    partitions_a: np.ndarray | Sequence[int],
    offsets_a: np.ndarray | Sequence[int],
    partitions_b: np.ndarray | Sequence[int],
    offsets_b: np.ndarray | Sequence[int],
) -> tuple[np.ndarray, np.ndarray]:
    """Merge two sets of queued commits, keeping the highest offset per partition.

    What the direct stream does with the ranges queued by ``commitAsync`` before it
    commits them (Spark's ``commitAll``): a partition that appears several times, in
    either input, is committed once at its largest offset.

    Parameters
    ----------
    partitions_a, partitions_b : array_like of int
        Partition keys. Keys are plain int64: to merge commits of several topics, give
        each (topic, partition) its own key, e.g. ``topic_index << 32 | partition``.
    offsets_a, offsets_b : array_like of int
        Offset to commit (the next offset to read) for each key, aligned with it.

    Returns
    -------
    partitions : numpy.ndarray
        int64 distinct keys, ascending.
    offsets : numpy.ndarray
        int64 highest offset of each key.

    Raises
    ------
    ValueError
        Keys and offsets of different lengths, or a negative offset (naming the key).

    Examples
    --------
    >>> parts, offs = merge_commits([0, 1], [100, 7], [1, 2, 0], [9, 3, 90])
    >>> parts.tolist(), offs.tolist()
    ([0, 1, 2], [100, 9, 3])
    """
    pa_, oa = _int64_offsets(partitions_a, "partitions_a"), _int64_offsets(offsets_a, "offsets_a")
    pb, ob = _int64_offsets(partitions_b, "partitions_b"), _int64_offsets(offsets_b, "offsets_b")
    if len(pa_) != len(oa) or len(pb) != len(ob):
        raise ValueError(
            f"partitions and offsets differ in length: {len(pa_)} != {len(oa)} or "
            f"{len(pb)} != {len(ob)}"
        )
    keys = np.concatenate([pa_, pb])
    offsets = np.concatenate([oa, ob])
    order = np.argsort(keys, kind="stable").astype(np.int64, copy=False)
    return _core.max_per_sorted_key(keys, offsets, order)


# -- Kafka messages ------------------------------------------------------------------------

KAFKA_SCHEMA = pa.schema(
    [
        pa.field("key", pa.binary()),
        pa.field("value", pa.binary()),
        pa.field("topic", pa.dictionary(pa.int32(), pa.string())),
        pa.field("partition", pa.int32(), nullable=False),
        pa.field("offset", pa.int64(), nullable=False),
        pa.field("timestamp", pa.timestamp("ms")),
    ]
)
"""Schema of :func:`messages_to_arrow` tables."""

_MAX_BINARY_BYTES = 2**31 - 1


def _binary_array(part: tuple[np.ndarray, object, np.ndarray, int]) -> pa.Array:
    offsets, data, validity, null_count = part
    n = len(offsets) - 1
    return pa.Array.from_buffers(
        pa.binary(),
        n,
        [pa.py_buffer(validity) if null_count else None, pa.py_buffer(offsets), pa.py_buffer(data)],
        null_count,
    )


def messages_to_arrow(
    messages: Sequence[object], *, max_chunk_bytes: int = _MAX_BINARY_BYTES
) -> pa.Table:
    """Turn consumed Kafka messages into an Arrow table, one row per message.

    The loop over the messages runs in the compiled core; it calls each message's
    ``error()``, ``key()``, ``value()``, ``topic()``, ``partition()``, ``offset()`` and
    ``timestamp()`` once and copies the bytes straight into Arrow buffers.

    Parameters
    ----------
    messages : sequence of confluent_kafka.Message
        Records from ``Consumer.consume``/``poll``, or any objects with the same
        methods. ``key()``/``value()`` return bytes (or another bytes-like object) or
        None.
    max_chunk_bytes : int, default 2**31 - 1
        Binary columns have 32-bit offsets: when the keys or values pass this many
        bytes, the columns continue in a new chunk (the table then has several record
        batches) rather than overflowing.

    Returns
    -------
    pyarrow.Table
        Schema :data:`KAFKA_SCHEMA`: ``key`` and ``value`` (binary; null for no key and
        for tombstones), ``topic`` (string, dictionary-encoded with int32 indices, one
        dictionary for the whole table), ``partition`` (int32), ``offset`` (int64) and
        ``timestamp`` (timestamp[ms]; null where the message has
        ``TIMESTAMP_NOT_AVAILABLE``). Rows are in input order.

    Raises
    ------
    ValueError
        A message is an error event (``error()`` is not None, e.g. a partition EOF the
        caller did not filter): the message names its index, topic, partition, offset
        and the error. Nothing is dropped silently.
    TypeError
        A field of the wrong type (e.g. a str value), naming the message likewise.

    Examples
    --------
    >>> from confluent_kafka import TIMESTAMP_CREATE_TIME, Message
    >>> msgs = [
    ...     Message(topic="events", partition=0, offset=7, key=b"k", value=b"hello",
    ...             timestamp=(TIMESTAMP_CREATE_TIME, 1700000000000)),
    ...     Message(topic="events", partition=0, offset=8, value=None),
    ... ]
    >>> t = messages_to_arrow(msgs)
    >>> t.column_names
    ['key', 'value', 'topic', 'partition', 'offset', 'timestamp']
    >>> t.column("value").to_pylist(), t.column("offset").to_pylist()
    ([b'hello', None], [7, 8])
    """
    if not isinstance(messages, list):
        messages = list(messages)
    if not 0 <= max_chunk_bytes <= _MAX_BINARY_BYTES:
        raise ValueError(f"max_chunk_bytes must be in [0, 2**31 - 1], got {max_chunk_bytes}")
    table, _ = _to_arrow(messages, max_chunk_bytes, -1, False)
    return table


def messages_until(
    messages: list[object], until_offset: int, *, max_chunk_bytes: int = _MAX_BINARY_BYTES
) -> tuple[pa.Table, int]:
    """Convert the leading messages of one partition that come before ``until_offset``.

    What an offset-range read does with each chunk a consumer hands it, in one pass in
    the compiled core: the conversion stops at the first message whose offset is
    ``>= until_offset`` (past the range: the caller keeps it for the next range) or that
    is an error event (the caller decides what it means).

    Parameters
    ----------
    messages : list of confluent_kafka.Message
        Records of one partition in offset order, as ``Consumer.consume`` returns them.
    until_offset : int
        The range's end (exclusive); non-negative.
    max_chunk_bytes : int, default 2**31 - 1
        As in :func:`messages_to_arrow`.

    Returns
    -------
    table : pyarrow.Table
        The converted messages, schema :data:`KAFKA_SCHEMA`.
    stop : int
        Index of the first message not converted (``len(messages)`` if all were).

    Examples
    --------
    >>> from confluent_kafka import Message
    >>> msgs = [Message(topic="t", partition=0, offset=o, value=b"v") for o in (5, 6, 7)]
    >>> table, stop = messages_until(msgs, 7)
    >>> table.column("offset").to_pylist(), stop
    ([5, 6], 2)
    """
    if until_offset < 0:
        raise ValueError(f"until_offset must be >= 0, got {until_offset}")
    if not 0 <= max_chunk_bytes <= _MAX_BINARY_BYTES:
        raise ValueError(f"max_chunk_bytes must be in [0, 2**31 - 1], got {max_chunk_bytes}")
    return _to_arrow(messages, max_chunk_bytes, until_offset, True)


def _to_arrow(
    messages: list[object], max_chunk_bytes: int, until_offset: int, stop_at_error: bool
) -> tuple[pa.Table, int]:
    topic_ids: dict[str, int] = {}
    topics: list[str] = []
    chunks = []
    start = 0
    n = len(messages)
    while True:
        chunk = _core.messages_to_buffers(
            messages, start, max_chunk_bytes, topic_ids, topics, until_offset, stop_at_error
        )
        chunks.append(chunk)
        stop = chunk[0]
        if stop >= n or (stop_at_error and _ends_range(messages[stop], until_offset)):
            break
        start = stop
    dictionary = pa.array(topics, pa.string())
    return _chunks_to_table(chunks, dictionary), stop


def _chunks_to_table(chunks: list[Any], dictionary: pa.Array) -> pa.Table:
    batches = []
    for _, key, value, topic, partition, offset, (ts, ts_valid, ts_nulls) in chunks:
        rows = len(offset)
        if not rows and len(chunks) > 1:
            continue
        columns = [
            _binary_array(key),
            _binary_array(value),
            pa.DictionaryArray.from_arrays(pa.array(topic, pa.int32()), dictionary),
            pa.array(partition, pa.int32()),
            pa.array(offset, pa.int64()),
            pa.Array.from_buffers(
                pa.timestamp("ms"),
                rows,
                [pa.py_buffer(ts_valid) if ts_nulls else None, pa.py_buffer(ts)],
                ts_nulls,
            ),
        ]
        batches.append(pa.RecordBatch.from_arrays(columns, schema=KAFKA_SCHEMA))
    return pa.Table.from_batches(batches, schema=KAFKA_SCHEMA)


def _ends_range(message: object, until_offset: int) -> bool:
    """Whether the core stopped at ``message`` for the range's end or an error (rather
    than for a full chunk)."""
    if message.error() is not None:  # type: ignore[attr-defined]
        return True
    offset = message.offset()  # type: ignore[attr-defined]
    return offset is None or offset >= until_offset


# -- offset ranges read straight from librdkafka ------------------------------------------

_rdkafka_state: list[bool] = []  # [located?] once tried


def _locate_rdkafka() -> bool:
    """Hand the compiled core the functions of the librdkafka confluent_kafka loaded."""
    import confluent_kafka.cimpl as cimpl  # loads librdkafka

    path = None
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                name = line.rsplit(None, 1)[-1]
                if "librdkafka" in name.rsplit("/", 1)[-1] and name.startswith("/"):
                    path = name
                    break
    except OSError:
        return False
    if path is None:
        return False
    lib = ctypes.CDLL(path)  # the loaded library again (dlopen of the same file)
    version = lib.rd_kafka_version
    version.restype = ctypes.c_int
    if version() != cimpl.libversion()[1]:
        return False
    addresses = []
    for name in _core.rdkafka_symbols():
        function = getattr(lib, f"rd_kafka_{name}", None)
        if function is None:
            return False
        addresses.append(ctypes.cast(function, ctypes.c_void_p).value)
    _core.init_rdkafka(addresses, logging.getLogger("fastdstream.kafka.client"))
    # librdkafka's threads must not call into an interpreter that is going away.
    atexit.register(_core.stop_rdkafka_logging)
    return True


def native_reader(settings: dict[str, str], topic: str, partition: int) -> Any | None:
    """A consumer of one partition that reads offset ranges into Arrow buffers without a
    Python object per record (``_core.NativeRangeReader``), or None where it cannot be
    made: librdkafka not found, or a setting librdkafka itself does not know (one that
    only confluent_kafka understands); the caller then reads through confluent_kafka.
    """
    if not _rdkafka_state:
        try:
            _rdkafka_state.append(_locate_rdkafka())
        except (OSError, AttributeError, ValueError):
            _rdkafka_state.append(False)
    if not _rdkafka_state[0]:
        return None
    try:
        return _core.NativeRangeReader(sorted(settings.items()), topic, partition)
    except ValueError:
        return None


def native_chunk_to_arrow(buffers: Any, topic: str) -> pa.Table:
    """The table of one ``NativeRangeReader.read`` chunk (schema :data:`KAFKA_SCHEMA`)."""
    return _chunks_to_table([buffers], pa.array([topic], pa.string()))
