"""Delay scheduling: a task waits a while for the busy executor that holds its input.

Spark's TaskSetManager offers a task first to the executor its input is on
(PROCESS_LOCAL) and, while that executor has no free core, holds it back for up to
``spark.locality.wait`` (3s) before letting it run elsewhere. An executor's cores
are taken by the tasks running on it and by each receiver it runs: a receiver is
a task that never ends, so on an executor of one core it leaves none, and the
batches reading its blocks run on another executor -- they do not queue behind it
for ever.

Departure from Spark: an executor whose every core runs a receiver is not waited
for at all. Spark would wait the whole locality wait in every batch (its receivers
usually store a second replica elsewhere, which the task then prefers); the wait is
meant for a core that a short task will free soon, and a receiver frees none, so
waiting would only add 3 s to each batch's scheduling delay.

The process back ends (``local-cluster``, Ray) keep one :class:`ExecutorLoad` each:
tasks in flight and long-running tasks per executor, and the wait on them.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Collection

from fastdstream.conf import Conf, parse_duration_ms

LOCALITY_WAIT = "spark.locality.wait"
DEFAULT_LOCALITY_WAIT = "3s"


def locality_wait_s(conf: Conf | None) -> float:
    """``spark.locality.wait`` in seconds (Spark's default 3s)."""
    raw = conf.get(LOCALITY_WAIT) if conf is not None else None
    return parse_duration_ms(raw or DEFAULT_LOCALITY_WAIT, LOCALITY_WAIT) / 1000


class ExecutorLoad:
    """Cores taken per executor (tasks in flight, long-running tasks) and the locality
    wait for an executor to have one free."""

    def __init__(self, cores: int, wait_s: float) -> None:
        self.cores = cores
        self.wait_s = wait_s
        self.waits = 0  # placements that waited for a busy executor (tests)
        self._tasks: dict[str, int] = defaultdict(int)
        self._long: dict[str, int] = defaultdict(int)
        self._freed = threading.Condition()

    def tasks_started(self, executor_id: str, n: int = 1) -> None:
        with self._freed:
            self._tasks[executor_id] += n

    def tasks_ended(self, executor_id: str, n: int = 1) -> None:
        with self._freed:
            self._tasks[executor_id] -= n
            self._freed.notify_all()

    def long_task_started(self, executor_id: str) -> None:
        with self._freed:
            self._long[executor_id] += 1

    def long_task_ended(self, executor_id: str) -> None:
        with self._freed:
            self._long[executor_id] = max(0, self._long[executor_id] - 1)
            self._freed.notify_all()

    def long_tasks(self, executor_id: str) -> int:
        with self._freed:
            return self._long[executor_id]

    def busy(self, executor_id: str) -> bool:
        """No core free: as many tasks and receivers on it as it has cores."""
        with self._freed:
            return self._taken(executor_id) >= self.cores

    def _taken(self, executor_id: str) -> int:
        return self._tasks[executor_id] + self._long[executor_id]

    def _held(self, executor_id: str) -> bool:
        """Every core runs a long task: none will be free within any wait."""
        return self._long[executor_id] >= self.cores

    def wait_for(self, wanted: Collection[str], alive: Callable[[str], bool] = lambda _: True,
                 stopped: Callable[[], bool] = lambda: False) -> set[str]:
        """Wait up to the locality wait for the wanted executors that are busy to have a
        free core; return those still busy, whose tasks then run elsewhere."""
        with self._freed:
            busy = {e for e in wanted if self._taken(e) >= self.cores}
            if not busy or self.wait_s <= 0 or all(self._held(e) for e in busy):
                return busy
            self.waits += 1
            deadline = time.monotonic() + self.wait_s
            while busy and not stopped():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._freed.wait(left)
                busy = {e for e in busy if self._taken(e) >= self.cores and alive(e)}
                if all(self._held(e) for e in busy):
                    break
            return busy

    def wake(self) -> None:
        """Let waiting placements look again (an executor died, the back end stops)."""
        with self._freed:
            self._freed.notify_all()
