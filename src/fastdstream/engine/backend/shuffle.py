"""Shuffle service: an executor's map outputs, written and served by shuffle block id.

A map task hands its buckets (one per reduce partition) to its executor's
shuffle service, which stores them as blocks and answers with a
:class:`MapStatus`: where the outputs live and how many rows each bucket has.
The driver's map-output tracker keeps those statuses and hands them to the
reduce tasks, which read their bucket of every map output -- locally, or in one
fetch per remote executor.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fastdstream.engine.backend import serde
from fastdstream.engine.backend.block_manager import BlockManager, BlockNotFoundError
from fastdstream.engine.columnar.partition import PartitionData, is_columnar, to_list
from fastdstream.errors import FastDStreamError


@dataclass(frozen=True)
class MapStatus:
    """Where one map task's outputs are, and the rows in each reduce bucket."""

    executor_id: str
    map_id: int
    rows: tuple[int, ...]
    handles: tuple[Any, ...] = ()
    """Per reduce bucket, how to read it without asking its executor (Ray's object
    store); empty where outputs are fetched from the executor."""


class FetchFailedError(FastDStreamError):
    """A reduce task could not read a map output (its executor was lost): the map stage
    must run again. Carries what the scheduler needs to unregister and retry."""

    def __init__(self, message: str, shuffle_id: int, executor_id: str):
        super().__init__(message)
        self.shuffle_id = shuffle_id
        self.executor_id = executor_id

    def __reduce__(self) -> tuple[Any, ...]:
        return (FetchFailedError, (str(self), self.shuffle_id, self.executor_id))


def shuffle_block_id(shuffle_id: int, map_id: int, reduce_id: int) -> tuple[Any, ...]:
    return ("shuffle", shuffle_id, map_id, reduce_id)


class ShuffleService:
    """Writes an executor's map outputs into its block manager and serves reduce reads."""

    def __init__(self, block_manager: BlockManager):
        self.block_manager = block_manager

    def write(self, shuffle_id: int, map_id: int, buckets: Sequence[PartitionData]) -> MapStatus:
        rows = []
        handles = []
        for reduce_id, bucket in enumerate(buckets):
            if is_columnar(bucket):
                stored: Any = bucket  # Arrow tables are immutable: kept as they are
                rows.append(bucket.num_rows)
            else:
                items = to_list(bucket)
                stored = serde.encode_partition(items)
                rows.append(len(items))
            block_id = shuffle_block_id(shuffle_id, map_id, reduce_id)
            self.block_manager.put(block_id, stored)
            handles.append(self.block_manager.handle(block_id))
        return MapStatus(self.block_manager.executor_id, map_id, tuple(rows),
                         tuple(handles) if any(h is not None for h in handles) else ())

    def read(self, shuffle_id: int, reduce_id: int,
             statuses: Sequence[MapStatus]) -> list[PartitionData]:
        """Bucket ``reduce_id`` of every map output, in map order."""
        by_location: dict[str, list[int]] = defaultdict(list)
        handles: dict[int, Any] = {}
        for status in statuses:
            by_location[status.executor_id].append(status.map_id)
            handles[status.map_id] = status.handles[reduce_id] if status.handles else None
        found: dict[int, PartitionData] = {}
        for location, map_ids in by_location.items():
            ids = [shuffle_block_id(shuffle_id, m, reduce_id) for m in map_ids]
            known = [handles[m] for m in map_ids]
            try:
                blocks = self.block_manager.get_many(
                    ids, location, known if all(h is not None for h in known) else None)
            except (BlockNotFoundError, ConnectionError, OSError, EOFError) as exc:
                raise FetchFailedError(
                    f"shuffle {shuffle_id}: cannot read the outputs of map(s) "
                    f"{', '.join(map(str, map_ids))} for reduce {reduce_id} from executor "
                    f"{location}: {exc}", shuffle_id, location,
                ) from exc
            found.update(zip(map_ids, blocks, strict=True))
        return [found[s.map_id] for s in statuses]

