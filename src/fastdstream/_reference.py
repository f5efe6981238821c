"""Pure-Python reference implementations of the compiled kernels (tests only).

Slow and written to be obviously correct: every kernel in ``fastdstream.engine.columnar.kernels`` is
checked against these on random inputs. The hash functions re-implement the core's
64-bit hashes bit for bit, so tests can pin hash values to constants and prove they do
not depend on the process.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

_M64 = (1 << 64) - 1
_P1 = 0x9E3779B97F4A7C15
_P2 = 0xC2B2AE3D27D4EB4F
_P3 = 0x165667B19E3779F9
_SEED = 0x27D4EB2F165667C5
NULL_HASH = 0x5851F42D4C957F2D

Key = str | bytes | int | None


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & _M64


def _fmix64(h: int) -> int:
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & _M64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & _M64
    h ^= h >> 33
    return h


def _round(h: int, w: int) -> int:
    w = (w * _P2) & _M64
    w = _rotl(w, 31)
    w = (w * _P1) & _M64
    h ^= w
    return (_rotl(h, 27) * _P1 + _P3) & _M64


def hash_bytes(data: bytes) -> int:
    """The core's hash of a byte string: 8-byte little-endian words, zero-padded tail."""
    n = len(data)
    h = _SEED ^ ((n * _P1) & _M64)
    for i in range(0, n, 8):
        h = _round(h, int.from_bytes(data[i : i + 8], "little"))
    return _fmix64(h)


def hash_int64(v: int) -> int:
    """splitmix64 finalizer of the key's two's-complement bits."""
    z = (v + 0x9E3779B97F4A7C15) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def hash_value(value: Key) -> int:
    if value is None:
        return NULL_HASH
    if isinstance(value, str):
        return hash_bytes(value.encode("utf-8"))
    if isinstance(value, bytes):
        return hash_bytes(value)
    return hash_int64(value)


def hash_partition(keys: Sequence[Key], num_partitions: int) -> list[int]:
    return [hash_value(k) % num_partitions for k in keys]


def partition_rows(keys: Sequence[Key], num_partitions: int) -> list[list[int]]:
    """Row indices of each partition, in row order."""
    parts: list[list[int]] = [[] for _ in range(num_partitions)]
    for i, p in enumerate(hash_partition(keys, num_partitions)):
        parts[p].append(i)
    return parts


def partition_items(
    combiners: dict[Any, Any], num_partitions: int, fallback: Callable[[Any], int]
) -> list[list[tuple[Any, Any]]]:
    """(key, value) pairs per partition: hash_value for str/bytes/int64/None keys."""
    parts: list[list[tuple[Any, Any]]] = [[] for _ in range(num_partitions)]
    for k, c in combiners.items():
        try:
            k.encode("utf-8") if isinstance(k, str) else None
            fast = k is None or type(k) in (str, bytes) or (
                type(k) in (int, bool) and -(2**63) <= k < 2**63)
        except UnicodeEncodeError:  # lone surrogates: the fallback's business
            fast = False
        h = hash_value(int(k) if type(k) is bool else k) if fast else fallback(k)
        parts[h % num_partitions].append((k, c))
    return parts


def combine_rows(
    rows: Iterable[Any],
    create: Callable[[Any], Any] | None,
    merge_value: Callable[[Any, Any], Any],
    combiners: dict[Any, Any],
) -> int:
    """combineByKey's map side: one create or merge_value call per row."""
    n = 0
    for k, v in rows:
        if k in combiners:
            combiners[k] = merge_value(combiners[k], v)
        else:
            combiners[k] = v if create is None else create(v)
        n += 1
    return n


def _wrap_int64(x: int) -> int:
    x &= _M64
    return x - (1 << 64) if x >= 1 << 63 else x


def reduce_by_key(
    keys: Sequence[Key], values: Sequence[int | float | None] | None, op: str
) -> list[tuple[Key, int | float | None]]:
    """(key, aggregate) per group, groups in order of first appearance.

    Semantics of pyarrow's group_by aggregates: nulls skipped, all-null groups give
    null (0 for count), int sums wrap at 64 bits, min/max skip NaN unless a group holds
    only NaN.
    """
    groups: dict[Key, list[int | float]] = {}
    for i, k in enumerate(keys):
        vals = groups.setdefault(k, [])
        if values is None:
            vals.append(1)
        elif (v := values[i]) is not None:
            vals.append(v)
    out: list[tuple[Key, int | float | None]] = []
    for k, vals in groups.items():
        if op == "count":
            out.append((k, len(vals)))
        elif not vals:
            out.append((k, None))
        elif op == "sum":
            ints = [v for v in vals if isinstance(v, int)]
            if len(ints) == len(vals):
                out.append((k, _wrap_int64(sum(ints))))
            else:
                total = 0.0
                for v in vals:  # row order, like the kernel, so floats match exactly
                    total += v
                out.append((k, total))
        else:
            non_nan = [v for v in vals if not (isinstance(v, float) and math.isnan(v))]
            if not non_nan:
                out.append((k, math.nan))
            else:
                out.append((k, max(non_nan) if op == "max" else min(non_nan)))
    return out


def block_boundaries(
    timestamps_ms: Sequence[int], start_ms: int, interval_ms: int
) -> tuple[list[int], list[int]]:
    index: list[int] = []
    bounds: list[int] = []
    for i, t in enumerate(timestamps_ms):
        if i and t < timestamps_ms[i - 1]:
            raise ValueError(f"row {i}")
        k = (t - start_ms) // interval_ms
        if not index or index[-1] != k:
            index.append(k)
            bounds.append(i)
    bounds.append(len(timestamps_ms))
    return index, bounds


def count_boundaries(num_rows: int, max_rows: int) -> list[int]:
    return [*range(0, num_rows, max_rows), num_rows]


def plan_offset_ranges(
    from_offsets: Sequence[int],
    latest_offsets: Sequence[int],
    max_messages: int | Sequence[int] | None = None,
    earliest_offsets: Sequence[int] | None = None,
) -> tuple[list[int], list[bool]]:
    """(until offsets, out-of-range flags); ValueError naming the first bad partition."""
    n = len(from_offsets)
    if len(latest_offsets) != n:
        raise ValueError("latest_offsets length")
    until: list[int] = []
    out_of_range: list[bool] = []
    for i in range(n):
        f, latest = from_offsets[i], latest_offsets[i]
        earliest = None if earliest_offsets is None else earliest_offsets[i]
        cap = (
            max_messages
            if max_messages is None or isinstance(max_messages, int)
            else (max_messages[i])
        )
        if f < 0 or latest < 0 or (earliest is not None and not 0 <= earliest <= latest):
            raise ValueError(f"partition index {i}")
        if cap is not None and cap < 0:
            raise ValueError(f"partition index {i}")
        if f > latest or (earliest is not None and f < earliest):
            until.append(f)
            out_of_range.append(True)
        else:
            until.append(latest if cap is None else min(latest, f + cap))
            out_of_range.append(False)
    return until, out_of_range


def byte_budget_caps(
    lag: Sequence[int], bytes_per_record: Sequence[float], budget: int
) -> tuple[list[int], bool]:
    """(caps, whether the budget binds): each partition the same share of its lag."""
    if budget <= 0:
        raise ValueError("budget")
    for i, (k, b) in enumerate(zip(lag, bytes_per_record, strict=True)):
        if k < 0 or not 0 < b < float("inf"):
            raise ValueError(f"partition index {i}")
    total = sum(k * b for k, b in zip(lag, bytes_per_record, strict=True))
    if total <= budget:
        return list(lag), False
    share = budget / total
    return [min(k, max(int(k * share), 1 if k else 0)) for k in lag], True


def check_contiguous(expected_next: Sequence[int], from_offsets: Sequence[int]) -> list[bool]:
    if len(expected_next) != len(from_offsets):
        raise ValueError("lengths differ")
    for i, (e, f) in enumerate(zip(expected_next, from_offsets, strict=True)):
        if e < 0 or f < 0:
            raise ValueError(f"partition index {i}")
    return [e != f for e, f in zip(expected_next, from_offsets, strict=True)]


def merge_commits(
    partitions_a: Sequence[int],
    offsets_a: Sequence[int],
    partitions_b: Sequence[int],
    offsets_b: Sequence[int],
) -> tuple[list[int], list[int]]:
    """Highest offset per partition over both inputs, partitions ascending."""
    best: dict[int, int] = {}
    for p, o in [
        *zip(partitions_a, offsets_a, strict=True),
        *zip(partitions_b, offsets_b, strict=True),
    ]:
        if o < 0:
            raise ValueError(f"partition {p}")
        best[p] = max(best.get(p, o), o)
    parts = sorted(best)
    return parts, [best[p] for p in parts]


def messages_to_rows(messages: Sequence[object]) -> dict[str, list[object]]:
    """The columns of ``kernels.messages_to_arrow`` as Python lists (timestamps in ms).

    A message whose ``error()`` is not None raises ValueError.
    """
    cols: dict[str, list[object]] = {
        k: [] for k in ("key", "value", "topic", "partition", "offset", "timestamp")
    }
    for i, m in enumerate(messages):
        if m.error() is not None:  # type: ignore[attr-defined]
            raise ValueError(f"Kafka message {i}")
        ts_type, ts = m.timestamp()  # type: ignore[attr-defined]
        key, value = m.key(), m.value()  # type: ignore[attr-defined]
        cols["key"].append(None if key is None else bytes(key))
        cols["value"].append(None if value is None else bytes(value))
        cols["topic"].append(m.topic())  # type: ignore[attr-defined]
        cols["partition"].append(m.partition())  # type: ignore[attr-defined]
        cols["offset"].append(m.offset())  # type: ignore[attr-defined]
        cols["timestamp"].append(None if ts_type == 0 else ts)
    return cols


def split_lines(
    head: bytes, data: bytes, end: int, max_line_bytes: int, stop_at_invalid: bool
) -> tuple[list[bytes], int, int, int]:
    """``_core.split_lines`` as ``(lines, invalid, too_long, stop)``, the lines as bytes.

    ``head + data[:end]`` split at ``\\n`` with one ``\\r`` before it dropped; the split
    stops at the first line longer than ``max_line_bytes`` (negative: no limit) and,
    with ``stop_at_invalid``, at the first line ``bytes.decode("utf-8")`` rejects.
    """
    text = head + data[:end]
    if text and not text.endswith(b"\n"):
        raise ValueError("split_lines needs data that ends with a newline")
    limit = math.inf if max_line_bytes < 0 else max_line_bytes
    lines: list[bytes] = []
    invalid = -1
    pos = 0
    for i, raw in enumerate(text.split(b"\n")[:-1]):
        line = raw[:-1] if raw.endswith(b"\r") else raw
        if len(line) > limit:
            return lines, invalid, i, pos
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            if invalid < 0:
                invalid = i
                if stop_at_invalid:
                    return lines, invalid, -1, pos
        lines.append(line)
        pos += len(raw) + 1
    return lines, invalid, -1, len(text)


def split_words(strings: Sequence[str]) -> list[str]:
    """``_core.split_words``: every string's ``str.split()``, flattened."""
    return [word for s in strings for word in s.split()]
