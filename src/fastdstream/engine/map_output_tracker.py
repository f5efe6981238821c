"""MapOutputTracker: where each shuffle's map outputs are (the driver's side).

Map tasks return a :class:`MapStatus` per map partition; the DAG scheduler
registers them here once the map stage is done and hands them to the reduce
tasks, which read their bucket from each executor named. When an executor is
lost, every shuffle with an output there is forgotten, so the next job runs
that map stage again.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from fastdstream.engine.backend.shuffle import MapStatus


class MapOutputTracker:
    def __init__(self) -> None:
        self._statuses: dict[int, tuple[MapStatus, ...]] = {}
        self._lock = threading.Lock()

    def register(self, shuffle_id: int, statuses: Sequence[MapStatus]) -> None:
        with self._lock:
            self._statuses[shuffle_id] = tuple(statuses)

    def contains(self, shuffle_id: int) -> bool:
        with self._lock:
            return shuffle_id in self._statuses

    def statuses(self, shuffle_id: int) -> tuple[MapStatus, ...]:
        with self._lock:
            try:
                return self._statuses[shuffle_id]
            except KeyError:
                raise KeyError(f"shuffle {shuffle_id} has no registered map outputs") from None

    def unregister(self, shuffle_id: int) -> None:
        with self._lock:
            self._statuses.pop(shuffle_id, None)

    def remove_outputs_on_executor(self, executor_id: str) -> list[int]:
        """Forget the shuffles that had an output on ``executor_id``; return their ids."""
        with self._lock:
            lost = [sid for sid, statuses in self._statuses.items()
                    if any(s.executor_id == executor_id for s in statuses)]
            for sid in lost:
                del self._statuses[sid]
        return lost

    def __len__(self) -> int:
        with self._lock:
            return len(self._statuses)
