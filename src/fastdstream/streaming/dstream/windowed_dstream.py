"""WindowedDStream: each batch is the union of the parent's batches in a sliding window.

Spark's class of that name. Every ``slide`` milliseconds the stream's RDD is the
parent's RDDs of the last ``window`` milliseconds, unioned; where those RDDs share
one partitioner (a window of ``reduceByKey`` batches), partition ``i`` of the window
is partition ``i`` of each batch and the partitioner is kept, as Spark's
PartitionerAwareUnionRDD does, so a reduction over the window needs no shuffle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastdstream.engine import rdds, tasks
from fastdstream.engine.columnar.partition import PartitionData, is_columnar, to_list
from fastdstream.engine.explain import OpNote
from fastdstream.engine.rdd import RDD
from fastdstream.streaming.dstream.dstream import DStream

if TYPE_CHECKING:
    from fastdstream.engine.context import Context

__all__ = ["WindowedDStream", "seconds", "union_window", "validate_window"]


def seconds(ms: int) -> str:
    """A duration as the explain and errors show it: ``1.5 s``."""
    return f"{ms / 1000:g} s"


def validate_window(parent: DStream, window: float, slide: float | None
                    ) -> tuple[int, int]:
    """Window and slide in ms, checked against the parent's slide (PySpark's
    ``_validate_window_param``); ``slide`` None is the parent's slide.

    Raises
    ------
    ValueError
        A duration that is not a positive multiple of the parent's slide duration.
    """
    step = parent.slideDuration
    window_ms = round(float(window) * 1000)
    slide_ms = step if slide is None else round(float(slide) * 1000)
    for name, given, ms in (("windowDuration", window, window_ms),
                            ("slideDuration", slide, slide_ms)):
        if ms <= 0 or ms % step:
            raise ValueError(
                f"{name} {given} s of a window over {parent!r} must be a positive multiple "
                f"of the parent DStream's slide (batch) duration ({seconds(step)})"
            )
    return window_ms, slide_ms


class WindowedDStream(DStream):
    """The parent's batches of the last ``window_ms``, every ``slide_ms``.

    Parameters
    ----------
    parent : DStream
        The stream windowed.
    window_ms, slide_ms : int
        Multiples of the parent's slide duration (see :func:`validate_window`).
    """

    def __init__(self, parent: DStream, window_ms: int, slide_ms: int):
        super().__init__(parent._ssc, (parent,))
        self._window_ms = window_ms
        self._slide_ms = slide_ms
        # Each of the parent's batches is read by window/slide windows: keep it computed
        # (Spark persists the parent of a window too).
        parent.persist()
        self.note = OpNote(f"window({seconds(window_ms)}, {seconds(slide_ms)})",
                           output="same", how="the partitions of the window's batches")

    @property
    def slideDuration(self) -> int:
        """Milliseconds between this stream's RDDs: the window's slide."""
        return self._slide_ms

    def persist(self, storageLevel: object = None) -> DStream:
        """Persist the parent's RDDs, not this stream's.

        A window's RDD is a union of the parent's batches, which every window that
        covers them shares: persisting the unions would keep each batch once per window
        (Spark's WindowedDStream persists its parent instead, for the same reason).

        Returns
        -------
        DStream
            This DStream.
        """
        self._dependencies[0].persist(storageLevel)
        return self

    @property
    def windowDuration(self) -> int:
        """Milliseconds of the parent's batches each RDD covers."""
        return self._window_ms

    # The parent must keep its batches for as long as this stream remembers, plus a
    # whole window before that (Spark's parentRememberDuration), or slice misses them.

    def _initialize(self, zero_time: int) -> None:
        if self._zero_time is not None:
            return
        super()._initialize(zero_time)
        self._remember_parents()

    def _remember(self, duration_ms: int) -> None:
        super()._remember(duration_ms)
        if self._zero_time is not None:
            self._remember_parents()

    def _remember_parents(self) -> None:
        assert self._remember_ms is not None
        for dep in self._dependencies:
            dep._remember(self._remember_ms + self._window_ms)

    def _window_rdds(self, end_ms: int) -> list[RDD]:
        """The parent's RDDs of the window that ends at ``end_ms``, oldest first."""
        parent = self._dependencies[0]
        return parent.slice(end_ms - self._window_ms + parent.slideDuration, end_ms)

    def _compute(self, time_ms: int) -> RDD | None:
        return union_window(self._sc, self._window_rdds(time_ms))


def union_window(sc: Context, batch_rdds: list[RDD]) -> RDD:
    """The union of a window's RDDs: partition by partition where they share a
    partitioner (the partitioner is kept), else all their partitions side by side."""
    if not batch_rdds:
        return sc.emptyRDD()
    first = batch_rdds[0].partitioner
    if first is not None and all(r.partitioner == first for r in batch_rdds):
        return rdds.CoPartitionedRDD(batch_rdds, concat_window, _PARTITION_UNION)
    if len(batch_rdds) == 1:
        return batch_rdds[0]
    return rdds.UnionRDD(batch_rdds[0].ctx, batch_rdds)


_PARTITION_UNION = OpNote("union of co-partitioned batches", output="same",
                          how="partition i of each batch, concatenated")


def concat_window(split: int, parts: list[PartitionData]) -> PartitionData:
    """Partition ``split`` of each batch, as one: tables stay one table.

    An empty batch's partition of rows (a reduction of nothing) adds nothing, so it
    does not turn a window of tables into rows.
    """
    kept = [p if is_columnar(p) else to_list(p) for p in parts]
    kept = [p for p in kept if is_columnar(p) or p]
    if not kept:
        return []
    return tasks.concat(split, kept)
