"""UnionDStream: each batch is the union of its parents' RDDs of that time."""

from __future__ import annotations

from functools import reduce

from fastdstream.engine.rdd import RDD
from fastdstream.streaming.dstream.dstream import DStream


class UnionDStream(DStream):
    def __init__(self, parents: tuple[DStream, ...]):
        slides = {p.slideDuration for p in parents}
        if len(slides) > 1:
            raise ValueError("all DStreams of a union must have the same slide duration")
        super().__init__(parents[0]._ssc, parents)

    def _compute(self, time_ms: int) -> RDD | None:
        rdds = [r for r in (p._get_or_compute(time_ms) for p in self._dependencies)
                if r is not None]
        if not rdds:
            return None
        return reduce(RDD.union, rdds)
