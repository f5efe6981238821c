"""BlockManager: an executor's blocks, by id.

Three kinds of blocks, as in Spark's BlockManager: received input blocks
(``input-<stream>-<seq>``), cached RDD partitions (``rdd-<id>-<split>``) and
shuffle outputs (``shuffle-<id>-<map>-<reduce>``). Each executor has its own;
a task reaches it through its task context, never through a process global. A
block another executor holds is fetched from there, by the fetcher the back end
installs (none is needed where all executors share one process).

A block is held either live (an Arrow table, a list of objects) or as a serde
frame (bytes): object buckets of a shuffle are stored serialized, as a real
shuffle would, so no reader can mutate what a second reader sees.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from fastdstream.engine.backend import serde

BlockId = tuple[Any, ...]
Fetcher = Callable[[str, Sequence[BlockId]], list[bytes]]


class BlockNotFoundError(KeyError):
    """A block was asked for that is not there (lost with its executor, or cleaned up)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "block not found"


def format_block_id(block_id: BlockId) -> str:
    return "-".join(str(part) for part in block_id)


class BlockManager:
    """The blocks of one executor, plus the way to fetch another executor's."""

    def __init__(self, executor_id: str, fetcher: Fetcher | None = None) -> None:
        self.executor_id = executor_id
        self._fetcher = fetcher
        self._blocks: dict[BlockId, Any] = {}
        self._lock = threading.Lock()

    def put(self, block_id: BlockId, data: Any) -> None:
        with self._lock:
            self._blocks[block_id] = data

    def put_encoded(self, block_id: BlockId, frame: bytes) -> None:
        """Store a block that arrived as a serde frame; it is decoded on first read."""
        self.put(block_id, frame)

    def _stored(self, block_id: BlockId) -> Any:
        try:
            return self._blocks[block_id]
        except KeyError:
            raise BlockNotFoundError(
                f"block {format_block_id(block_id)} not found on executor {self.executor_id}"
            ) from None

    def get_local(self, block_id: BlockId) -> Any:
        stored = self._stored(block_id)
        return serde.decode_partition(stored) if isinstance(stored, bytes) else stored

    def get_local_or_none(self, block_id: BlockId) -> Any:
        stored = self._blocks.get(block_id)
        if isinstance(stored, bytes):
            return serde.decode_partition(stored)
        return stored

    def get_encoded(self, block_id: BlockId) -> bytes:
        """The block as a serde frame, for another executor."""
        stored = self._stored(block_id)
        return stored if isinstance(stored, bytes) else serde.encode_partition(stored)

    def get(self, block_id: BlockId, location: str | None = None) -> Any:
        """A block, from this executor or from the one at ``location``."""
        return self.get_many([block_id], location)[0]

    def get_many(self, block_ids: Sequence[BlockId], location: str | None = None,
                 handles: Sequence[Any] | None = None) -> list[Any]:
        """Blocks from this executor or the one at ``location``; ``handles`` (from
        :meth:`handle` on that executor) let a back end read them without asking it."""
        if location is None or location == self.executor_id:
            return [self.get_local(b) for b in block_ids]
        if self._fetcher is None:
            raise BlockNotFoundError(
                f"blocks {', '.join(map(format_block_id, block_ids))} are on executor "
                f"{location}, which executor {self.executor_id} cannot reach"
            )
        return [serde.decode_partition(f) for f in self._fetcher(location, block_ids)]

    def handle(self, block_id: BlockId) -> Any:
        """What another executor may read this block by without asking this one (Ray's
        object store, see ray_block_manager), or None where blocks are fetched."""
        self._stored(block_id)
        return None

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

    def block_ids(self) -> list[BlockId]:
        with self._lock:
            return list(self._blocks)

    def clear(self) -> None:
        with self._lock:
            self._blocks.clear()

    def __len__(self) -> int:
        return len(self._blocks)
