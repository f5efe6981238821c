"""ForEachDStream: an output operation; each batch becomes one job."""

from __future__ import annotations

from collections.abc import Callable

from fastdstream.engine.rdd import RDD
from fastdstream.streaming.dstream.dstream import DStream


class ForEachDStream(DStream):
    """An output operation: at each batch it yields a job for the scheduler."""

    def __init__(self, parent: DStream, func: Callable[[int, RDD], None], name: str):
        super().__init__(parent._ssc, (parent,))
        self._func = func
        self.name = name

    def register(self) -> None:
        self._graph.add_output_stream(self)

    def _compute(self, time_ms: int) -> RDD | None:
        return None

    def generate_job(self, time_ms: int) -> Callable[[], None] | None:
        rdd = self._dependencies[0]._get_or_compute(time_ms)
        if rdd is None:
            return None
        func = self._func
        return lambda: func(time_ms, rdd)
