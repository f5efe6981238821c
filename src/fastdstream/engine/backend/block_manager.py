"""Block store: partition data by block id, where executors can find it.

Three kinds of blocks, as in Spark's BlockManager: received input blocks
(``input-<stream>-<seq>``), cached RDD partitions (``rdd-<id>-<split>``) and
shuffle outputs (``shuffle-<id>-<map>-<reduce>``). For ``local[N]`` there is one
store per process, shared by the driver and the executor threads.
"""

from __future__ import annotations

import threading
from typing import Any

BlockId = tuple[Any, ...]


class BlockNotFoundError(KeyError):
    """A block was asked for that the store does not hold (lost or already cleaned up)."""


class BlockStore:
    def __init__(self) -> None:
        self._blocks: dict[BlockId, Any] = {}
        self._lock = threading.Lock()

    def put(self, block_id: BlockId, data: Any) -> None:
        with self._lock:
            self._blocks[block_id] = data

    def get(self, block_id: BlockId) -> Any:
        try:
            return self._blocks[block_id]
        except KeyError:
            raise BlockNotFoundError(f"block {format_block_id(block_id)} not found") from None

    def get_or_none(self, block_id: BlockId) -> Any:
        return self._blocks.get(block_id)

    def contains(self, block_id: BlockId) -> bool:
        return block_id in self._blocks

    def remove(self, block_id: BlockId) -> None:
        with self._lock:
            self._blocks.pop(block_id, None)

    def remove_prefix(self, *prefix: Any) -> int:
        """Remove every block whose id starts with ``prefix``; return how many."""
        n = len(prefix)
        with self._lock:
            doomed = [bid for bid in self._blocks if bid[:n] == prefix]
            for bid in doomed:
                del self._blocks[bid]
        return len(doomed)

    def __len__(self) -> int:
        return len(self._blocks)


def format_block_id(block_id: BlockId) -> str:
    return "-".join(str(part) for part in block_id)


_STORE = BlockStore()


def block_store() -> BlockStore:
    """The block store of this process (executor side)."""
    return _STORE
