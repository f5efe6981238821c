"""TransformedDStream: each batch is a function of its parents' RDDs of that time."""

from __future__ import annotations

from collections.abc import Callable

from fastdstream.engine.explain import OpNote
from fastdstream.engine.rdd import RDD
from fastdstream.streaming.dstream.dstream import DStream


class TransformedDStream(DStream):
    def __init__(self, parents: tuple[DStream, ...], func: Callable[..., RDD | None],
                 note: OpNote | None = None):
        ssc = parents[0]._ssc
        if any(p._ssc is not ssc for p in parents):
            raise ValueError("all DStreams of a transformation must share one StreamingContext")
        super().__init__(ssc, parents)
        self._func = func
        # What the operation does to each batch, for DStream.explain(); None: a function
        # of the user's over whole RDDs, known only per batch.
        self.note = note

    def _compute(self, time_ms: int) -> RDD | None:
        rdds = []
        for parent in self._dependencies:
            rdd = parent._get_or_compute(time_ms)
            rdds.append(rdd if rdd is not None else self._sc.emptyRDD())
        return self._func(time_ms, *rdds)
