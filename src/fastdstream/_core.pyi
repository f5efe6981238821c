"""Typed stub of fastdstream._core, the compiled kernels.

Buffers are numpy views of Arrow buffers (see fastdstream.engine.columnar.kernels); ``offset``/``length``
are the Arrow array's offset and length. ``validity`` is the Arrow validity bitmap, or
None when the array has no nulls.
"""

from collections.abc import Callable, Iterable
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

U8 = npt.NDArray[np.uint8]
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
Offsets = npt.NDArray[np.int32] | npt.NDArray[np.int64]
Num = npt.NDArray[np.int64] | npt.NDArray[np.float64]

NULL_HASH: int

# _hashing.pxi
def hash_bytes(data: U8 | bytes) -> int: ...
def hash_int64(value: int) -> int: ...

# _partitioning.pxi
def hash_binary(
    offsets: Offsets, data: U8 | None, validity: U8 | None, offset: int, length: int
) -> npt.NDArray[np.uint64]: ...
def hash_int64_array(
    values: I64, validity: U8 | None, offset: int, length: int
) -> npt.NDArray[np.uint64]: ...
def partition_ids_binary(
    offsets: Offsets,
    data: U8 | None,
    validity: U8 | None,
    offset: int,
    length: int,
    num_partitions: int,
    out: I32,
) -> None: ...
def partition_ids_int64(
    values: I64, validity: U8 | None, offset: int, length: int, num_partitions: int, out: I32
) -> None: ...
def partition_order(pids: I32, num_partitions: int) -> tuple[I64, I64]: ...
def partition_items(
    combiners: dict[Any, Any], num_partitions: int, fallback: Callable[[Any], int]
) -> list[list[tuple[Any, Any]]]: ...

# _reduction.pxi
class Grouper:
    def __init__(self, kind: Literal["binary", "int64"] = "binary") -> None: ...
    @property
    def num_groups(self) -> int: ...
    @property
    def null_group(self) -> int: ...
    def add_binary(
        self,
        offsets: Offsets,
        data: U8 | None,
        validity: U8 | None,
        offset: int,
        length: int,
        out: I32,
    ) -> None: ...
    def add_int64(
        self, values: I64, validity: U8 | None, offset: int, length: int, out: I32
    ) -> None: ...
    def binary_keys(self) -> tuple[I64, bytes]: ...
    def int64_keys(self) -> I64: ...

def accumulate_sum(
    gids: I32,
    values: Num,
    validity: U8 | None,
    offset: int,
    length: int,
    sums: Num,
    counts: I64 | None,
) -> int: ...
def accumulate_minmax(
    gids: I32,
    values: Num,
    validity: U8 | None,
    offset: int,
    length: int,
    out: Num,
    counts: I64,
    is_max: bool,
) -> None: ...
def accumulate_count(
    gids: I32, validity: U8 | None, offset: int, length: int, counts: I64
) -> None: ...
def group_sum_binary(
    grouper: Grouper,
    offsets: Offsets,
    data: U8 | None,
    validity: U8 | None,
    offset: int,
    values: Num,
    value_validity: U8 | None,
    value_offset: int,
    length: int,
    sums: Num,
    counts: I64 | None,
) -> int: ...
def group_sum_int64(
    grouper: Grouper,
    keys: I64,
    validity: U8 | None,
    offset: int,
    values: Num,
    value_validity: U8 | None,
    value_offset: int,
    length: int,
    sums: Num,
    counts: I64 | None,
) -> int: ...
def combine_rows(
    rows: Iterable[Any],
    create: Callable[[Any], Any] | None,
    merge_value: Callable[[Any, Any], Any],
    combiners: dict[Any, Any],
) -> int: ...

# _slicing.pxi
def block_boundaries(ts: I64, start_ms: int, interval_ms: int) -> tuple[I64, I64]: ...
def count_boundaries(num_rows: int, max_rows: int) -> I64: ...

# _offsets.pxi
def plan_offset_ranges(
    from_offsets: I64,
    latest_offsets: I64,
    earliest_offsets: I64 | None,
    caps: I64 | None,
    cap: int,
    capped: bool,
    until: I64,
    out_of_range: U8,
) -> None: ...
def offsets_differ(expected_next: I64, from_offsets: I64, out: U8) -> None: ...
def max_per_sorted_key(keys: I64, values: I64, order: I64) -> tuple[I64, I64]: ...
def byte_budget_caps(lag: I64, bytes_per_record: F64, budget: int, caps: I64) -> bool: ...

# _kafka_arrow.pxi
class _ByteBuffer:
    def __init__(self, capacity: int = 4096) -> None: ...
    def __len__(self) -> int: ...
    def __buffer__(self, flags: int, /) -> memoryview: ...

_BinaryParts = tuple[I32, _ByteBuffer, U8, int]

def messages_to_buffers(
    messages: list[object],
    start: int,
    max_bytes: int,
    topic_ids: dict[str, int],
    topics: list[str],
    until_offset: int = -1,
    stop_at_error: bool = False,
) -> tuple[int, _BinaryParts, _BinaryParts, I32, I32, I64, tuple[I64, U8, int]]: ...

RANGE_DONE: int
RANGE_IDLE: int
RANGE_FULL: int
RANGE_ERROR: int

def rdkafka_symbols() -> tuple[str, ...]: ...
def init_rdkafka(addresses: list[int | None], logger: Any) -> None: ...
def stop_rdkafka_logging() -> None: ...

class NativeRangeReader:
    def __init__(self, settings: Iterable[tuple[str, str]], topic: str, partition: int) -> None: ...
    def close(self) -> None: ...
    def assign(self, offset: int) -> None: ...
    def position(self) -> int: ...
    def read(
        self, next_offset: int, until_offset: int, timeout_ms: int, max_bytes: int
    ) -> tuple[
        int,
        tuple[int, _BinaryParts, _BinaryParts, I32, I32, I64, tuple[I64, U8, int]],
        tuple[int, str] | None,
    ]: ...

# _lines.pxi
def split_lines(
    head: bytes | U8, data: bytes | bytearray | U8, end: int, max_line_bytes: int,
    stop_at_invalid: bool
) -> tuple[Offsets, U8, int, int, int, int]: ...
def split_words(
    offsets: Offsets, data: U8 | bytes, offset: int, length: int
) -> tuple[Offsets, U8, int]: ...
