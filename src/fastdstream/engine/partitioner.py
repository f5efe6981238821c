"""Hash partitioning of keys, shared by the object path and the columnar path.

Strings, bytes and int64 keys hash with the compiled core's hash, so a key lands
in the same partition whether its partition was a Python list or an Arrow table,
and in every process (unlike ``hash()``, which is salted per process).
"""

from __future__ import annotations

import numbers
import struct
from collections.abc import Callable, Hashable
from typing import Any

from fastdstream.engine.columnar import kernels

_MASK64 = (1 << 64) - 1
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


def portable_hash(key: Any) -> int:
    """Process-independent hash of a partitioning key (PySpark's ``portable_hash`` role).

    Examples
    --------
    >>> portable_hash("spark") == portable_hash("spark")
    True
    >>> portable_hash((1, "a")) == portable_hash((1, "a"))
    True
    """
    if key is None or isinstance(key, str | bytes):
        return kernels.hash_value(key)
    # Keys that compare equal must hash equal: True == 1 == 1.0 == np.int64(1), and
    # 10**20 == 1e20, so every integral number hashes as the int it equals.
    if isinstance(key, numbers.Integral):
        key = int(key)
        if _INT64_MIN <= key <= _INT64_MAX:
            return kernels.hash_value(key)
        return kernels.hash_value(str(key))
    if isinstance(key, numbers.Real):
        key = float(key)
        if key.is_integer():
            return portable_hash(int(key))
        return kernels.hash_value(struct.pack("<d", key))
    if isinstance(key, tuple | frozenset):
        items = sorted(map(portable_hash, key)) if isinstance(key, frozenset) else map(
            portable_hash, key
        )
        # The tuple mix of CPython's (pre-3.8) hash, as PySpark's portable_hash uses.
        h = 0x345678
        for item in items:
            h = ((h ^ item) * 1000003) & _MASK64
        return h ^ len(key)
    if isinstance(key, Hashable):
        return hash(key) & _MASK64
    raise TypeError(f"key {key!r} of type {type(key).__name__} is not hashable")


class HashPartitioner:
    """Maps a key to one of ``num_partitions`` partitions."""

    def __init__(self, num_partitions: int, partition_func: Callable[[Any], int] = portable_hash):
        if num_partitions < 1:
            raise ValueError(f"number of partitions must be at least 1, got {num_partitions}")
        self.num_partitions = num_partitions
        self.partition_func = partition_func

    def __call__(self, key: Any) -> int:
        return self.partition_func(key) % self.num_partitions

    @property
    def is_default(self) -> bool:
        return self.partition_func is portable_hash

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, HashPartitioner)
            and other.num_partitions == self.num_partitions
            and other.partition_func is self.partition_func
        )

    def __hash__(self) -> int:
        return hash((self.num_partitions, id(self.partition_func)))
