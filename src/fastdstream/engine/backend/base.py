"""The executor back-end interface: what the scheduler needs from wherever tasks run."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


class ExecutorBackend:
    """What the scheduler needs from a back end: run one stage's tasks."""

    parallelism: int

    def run_stage(
        self,
        stage_fn: Callable[[int], T],
        splits: Sequence[int],
        description: str = "",
    ) -> list[T]:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError
