"""DStream: a lazy description of a stream; one RDD per batch time.

Every DStream belongs to its StreamingContext's graph with a deterministic id
(creation order). ``_get_or_compute(time)`` builds the batch's RDD once and
remembers it per batch time for ``remember`` milliseconds, which is what
windows, ``slice`` and checkpoints build on. What a stream saves in a streaming
checkpoint is its ``_checkpoint_data`` (see ``checkpoint_data.py``).
"""

from __future__ import annotations

import inspect
import operator
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from fastdstream.clock import to_datetime, to_ms
from fastdstream.engine import closure_check
from fastdstream.engine.columnar import registry
from fastdstream.engine.columnar.partition import PartitionData, num_rows
from fastdstream.engine.explain import OpNote
from fastdstream.engine.partitioner import portable_hash
from fastdstream.engine.rdd import RDD
from fastdstream.streaming.dstream.checkpoint_data import DStreamCheckpointData
from fastdstream.streaming.state import StateSpec

if TYPE_CHECKING:
    from fastdstream.engine.context import Context
    from fastdstream.streaming.streaming_context import StreamingContext


def _arity(func: Callable[..., Any]) -> int:
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return 1
    positional = [
        p for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return -1
    return len(positional)


def _with_time(func: Callable[..., Any], n_rdds: int) -> Callable[..., Any]:
    """Accept ``func(rdd...)`` or ``func(time, rdd...)``, as PySpark's foreachRDD/transform do."""
    if _arity(func) == n_rdds + 1:
        return lambda time_ms, *rdds: func(to_datetime(time_ms), *rdds)
    return lambda _time_ms, *rdds: func(*rdds)


class DStream:
    """A discretized stream: a sequence of RDDs, one per batch interval.

    Examples
    --------
    >>> from fastdstream import Context, StreamingContext
    >>> ssc = StreamingContext(Context("local[2]"), 1)
    >>> counts = (ssc.queueStream([["a b", "b"]])
    ...           .flatMap(str.split).map(lambda w: (w, 1)).reduceByKey(lambda a, b: a + b))
    >>> out = []
    >>> counts.foreachRDD(lambda rdd: out.append(sorted(rdd.collect())))
    """

    # Streams whose batches chain on their own earlier batches (state, incremental
    # windows) set this: their lineage grows every batch unless RDD checkpoints cut it,
    # so they are checkpointed even when the program does not ask (Spark's mustCheckpoint).
    _must_checkpoint = False

    def __init__(self, ssc: StreamingContext, dependencies: tuple[DStream, ...] = ()):
        self._ssc = ssc
        self._sc: Context = ssc.sparkContext
        self._graph = ssc._graph
        self._id = self._graph.next_stream_id()
        self._dependencies = dependencies
        self._generated: dict[int, RDD | None] = {}
        self._generated_lock = threading.RLock()
        # Batches whose computation raised, by time: every output reading this stream
        # gets the same error without computing it again (with a broker down, each
        # would otherwise wait out the metadata timeout in turn).
        self._failed: dict[int, Exception] = {}
        self._zero_time: int | None = None
        self._remember_ms: int | None = None
        self._persisted = False
        # Every this many ms of batch time the batch's RDD is checkpointed (None: never).
        self._checkpoint_interval_ms: int | None = None
        # What this stream saves in a streaming checkpoint; sources with something of
        # their own to save (files, offset ranges) replace it with their own kind.
        self._checkpoint_data = DStreamCheckpointData(self)

    # --- graph bookkeeping --------------------------------------------------------------

    @property
    def slideDuration(self) -> int:
        """Milliseconds between this stream's RDDs."""
        if self._dependencies:
            return self._dependencies[0].slideDuration
        return self._graph.batch_duration_ms

    def context(self) -> StreamingContext:
        """The :class:`StreamingContext` this DStream belongs to."""
        return self._ssc

    def _initialize(self, zero_time: int) -> None:
        if self._zero_time is not None:
            return
        self._zero_time = zero_time
        if self._must_checkpoint and self._checkpoint_interval_ms is None:
            # Spark's default: the first multiple of the slide of at least 10 s.
            slide = self.slideDuration
            self._checkpoint_interval_ms = slide * -(-_DEFAULT_CHECKPOINT_MS // slide)
        floor = max(self.slideDuration, self._graph.remember_ms or 0)
        if self._checkpoint_interval_ms is not None:
            # Until the next checkpoint is written, recovery needs the batches since the
            # last one (Spark remembers twice the checkpoint interval).
            floor = max(floor, 2 * self._checkpoint_interval_ms)
        self._remember_ms = max(self._remember_ms or 0, floor)
        for dep in self._dependencies:
            dep._remember(self._remember_ms)
            dep._initialize(zero_time)

    def _remember(self, duration_ms: int) -> None:
        if self._remember_ms is None or duration_ms > self._remember_ms:
            self._remember_ms = duration_ms
            if self._zero_time is not None:
                for dep in self._dependencies:
                    dep._remember(duration_ms)

    def _is_time_valid(self, time_ms: int) -> bool:
        if self._zero_time is None:
            raise RuntimeError(f"{self!r} has not been initialized (StreamingContext not started)")
        return time_ms > self._zero_time and (time_ms - self._zero_time) % self.slideDuration == 0

    def _get_or_compute(self, time_ms: int) -> RDD | None:
        with self._generated_lock:
            if time_ms in self._generated:
                return self._generated[time_ms]
            failure = self._failed.get(time_ms)
            if failure is not None:
                raise failure
            if not self._is_time_valid(time_ms):
                return None
            try:
                rdd = self._compute(time_ms)
            except Exception as exc:
                self._failed[time_ms] = exc
                raise
            if rdd is not None and self._persisted:
                rdd.persist()
            if rdd is not None and self._checkpoint_due(time_ms):
                rdd.checkpoint()
            self._generated[time_ms] = rdd
            return rdd

    def _compute(self, time_ms: int) -> RDD | None:
        raise NotImplementedError

    def _checkpoint_due(self, time_ms: int) -> bool:
        interval = self._checkpoint_interval_ms
        assert self._zero_time is not None
        return interval is not None and (time_ms - self._zero_time) % interval == 0

    def _validate_at_start(self, checkpoint_dir: str | None) -> None:
        """Check, when the context starts, what can only be checked then."""
        if self._checkpoint_interval_ms is None and not self._must_checkpoint:
            return
        if checkpoint_dir is None:
            raise ValueError(
                f"{self!r} is checkpointed (a stateful or windowed stream, or "
                "DStream.checkpoint was called), but the checkpoint directory has not "
                "been set: call ssc.checkpoint(directory) before start()"
            )

    def _clear_metadata(self, time_ms: int) -> None:
        """Forget RDDs older than the remember duration (their blocks and caches with them)."""
        assert self._remember_ms is not None
        with self._generated_lock:
            old = [t for t in self._generated if t <= time_ms - self._remember_ms]
            for t in old:
                rdd = self._generated.pop(t)
                if rdd is not None:
                    self._on_forget(rdd)
            for t in [t for t in self._failed if t <= time_ms - self._remember_ms]:
                del self._failed[t]
        for dep in self._dependencies:
            dep._clear_metadata(time_ms)

    def _on_forget(self, rdd: RDD) -> None:
        if rdd.is_cached:
            rdd.unpersist()

    def __repr__(self) -> str:
        return f"{type(self).__name__}[{self._id}]"

    # --- explain ------------------------------------------------------------------------

    def explain(self) -> str:
        """The per-batch pipeline back to the input stream(s), one line per stream.

        Each line says how the operation runs on a batch: ``columnar`` (an Arrow
        kernel), ``columnar when ...`` (its guard, checked per partition), or ``rows``
        and why not columnar -- as :meth:`RDD.explain` does for one batch's RDD, which
        ``foreachRDD(lambda rdd: print(rdd.explain()))`` shows with its partitions.
        Decided when the streams were built; nothing runs.

        Returns
        -------
        str

        Examples
        --------
        >>> from fastdstream import Context, StreamingContext
        >>> ssc = StreamingContext(Context("local[2]"), 1)
        >>> words = ssc.queueStream([["a b"]]).flatMap(str.split)
        >>> print(words.map(str.upper).countByValue().explain())
        TransformedDStream[3] countByValue() columnar when one column of string, binary or
            integer values; else rows
         |  TransformedDStream[2] map(str.upper) columnar when one string column, no nulls,
            ASCII only; else rows
         |  TransformedDStream[1] flatMap(str.split) columnar when one string column,
            no nulls; else rows
         |  QueueInputDStream[0] input
        >>> ssc.sparkContext.stop()
        """
        from fastdstream.streaming.dstream.explain import debug_string

        return debug_string(self)

    def toDebugString(self) -> bytes:
        """:meth:`explain` as UTF-8 bytes, like :meth:`RDD.toDebugString`."""
        return self.explain().encode("utf-8")

    # --- stateless transformations ------------------------------------------------------

    def _check(self, operation: str, *functions: Any) -> None:
        """Fail at the user's call if a function the stream will ship to executors every
        batch cannot be serialized: once, when the stream is defined, as Spark does."""
        if self._sc._backend.ships_closures:
            for fn in functions:
                closure_check.check(f"DStream.{operation}", fn)

    def _derive(self, note: OpNote, func: Callable[[RDD], RDD]) -> DStream:
        """A stream whose batches are ``func(rdd)``; ``note`` says how, for the explain."""
        return transformed_dstream.TransformedDStream((self,), _with_time(func, 1), note)

    def _combine(self, other: DStream, note: OpNote, func: Callable[[RDD, RDD], RDD]
                 ) -> DStream:
        return transformed_dstream.TransformedDStream((self, other), _with_time(func, 2), note)

    def transform(self, func: Callable[..., RDD]) -> DStream:
        """Apply an RDD-to-RDD function to every RDD: ``func(rdd)`` or ``func(time, rdd)``."""
        return transformed_dstream.TransformedDStream(
            (self,), _with_time(func, 1), _opaque("transform", func))

    def transformWith(self, func: Callable[..., RDD], other: DStream,
                      keepSerializer: bool = False) -> DStream:
        """Combine with another stream batch by batch: ``func(rdd_a, rdd_b)`` or with time."""
        return transformed_dstream.TransformedDStream(
            (self, other), _with_time(func, 2), _opaque("transformWith", func))

    def map(self, f: Callable[[Any], Any], preservesPartitioning: bool = False) -> DStream:
        """Return a new DStream by applying :meth:`RDD.map` to each RDD.

        The functions that keep a batch columnar are :meth:`RDD.map`'s (``str.lower``,
        ``len``, ``operator.itemgetter(i)``, ...); :meth:`explain` shows which applies.
        """
        self._check("map", f)
        return self._derive(_planned("map", f), lambda rdd: rdd.map(f, preservesPartitioning))

    def flatMap(self, f: Callable[[Any], Iterable[Any]], preservesPartitioning: bool = False
                ) -> DStream:
        """Return a new DStream by applying :meth:`RDD.flatMap` to each RDD.

        ``str.split`` keeps a batch of one string column columnar.
        """
        self._check("flatMap", f)
        return self._derive(_planned("flatMap", f),
                            lambda rdd: rdd.flatMap(f, preservesPartitioning))

    def filter(self, f: Callable[[Any], bool]) -> DStream:
        """Return a new DStream by applying :meth:`RDD.filter` to each RDD.

        ``None`` or ``bool`` keeps a batch of one string or binary column columnar.
        """
        self._check("filter", f)
        return self._derive(_planned("filter", f), lambda rdd: rdd.filter(f))

    def mapPartitions(self, f: Callable[[Iterator[Any]], Iterable[Any]],
                      preservesPartitioning: bool = False) -> DStream:
        """Return a new DStream by applying :meth:`RDD.mapPartitions` to each RDD."""
        self._check("mapPartitions", f)
        return self._derive(OpNote("mapPartitions"),
                            lambda rdd: rdd.mapPartitions(f, preservesPartitioning))

    def mapPartitionsWithIndex(self, f: Callable[[int, Iterator[Any]], Iterable[Any]],
                               preservesPartitioning: bool = False) -> DStream:
        """Return a new DStream by applying :meth:`RDD.mapPartitionsWithIndex` to each RDD."""
        self._check("mapPartitionsWithIndex", f)
        return self._derive(OpNote("mapPartitionsWithIndex"),
                            lambda rdd: rdd.mapPartitionsWithIndex(f, preservesPartitioning))

    def mapInArrow(self, f: Callable[[Iterator[pa.RecordBatch]], Iterable[pa.RecordBatch]]
                   ) -> DStream:
        """Columnar transformation of each partition; see :meth:`RDD.mapInArrow`."""
        self._check("mapInArrow", f)
        note = OpNote(f"mapInArrow({registry.function_label(f)})", output="table",
                      how="a function of Arrow record batches")
        return self._derive(note, lambda rdd: rdd.mapInArrow(f))

    def glom(self) -> DStream:
        """Return a new DStream by applying :meth:`RDD.glom` to each RDD: one list per partition."""
        return self._derive(OpNote("glom"), lambda rdd: rdd.glom())

    def mapValues(self, f: Callable[[Any], Any]) -> DStream:
        """Return a new DStream by applying :meth:`RDD.mapValues` to each RDD."""
        self._check("mapValues", f)
        return self._derive(OpNote("mapValues"), lambda rdd: rdd.mapValues(f))

    def flatMapValues(self, f: Callable[[Any], Iterable[Any]]) -> DStream:
        """Return a new DStream by applying :meth:`RDD.flatMapValues` to each RDD."""
        self._check("flatMapValues", f)
        return self._derive(OpNote("flatMapValues"), lambda rdd: rdd.flatMapValues(f))

    def reduce(self, func: Callable[[Any, Any], Any]) -> DStream:
        """One element per batch: all of the batch's elements reduced with ``func``."""
        self._check("reduce", func)
        return (
            self.map(lambda x: (None, x))
            .reduceByKey(func, 1)
            .map(operator.itemgetter(1))
        )

    def count(self) -> DStream:
        """One element per batch: the number of elements in it (0 for an empty batch)."""
        note = OpNote("count", how="a count per partition, tables counted without rows")
        return self._derive(
            note,
            lambda rdd: rdd._map_raw(_partition_count)
            .union(rdd.ctx.parallelize([(None, 0)], 1))  # an empty batch counts 0, as in Spark
            .reduceByKey(operator.add, 1)
            .map(operator.itemgetter(1))
        )

    def countByValue(self) -> DStream:
        """(value, count) pairs per batch. On a columnar stream this is the Arrow kernel path.

        Examples
        --------
        >>> # word count with no Python object per record:
        >>> # ssc.socketTextStream("127.0.0.1", 9999).flatMap(str.split).countByValue()
        """
        return self._derive(_planned("countByValue"), lambda rdd: rdd.countByValueRDD())

    def reduceByKey(self, func: Callable[[Any, Any], Any], numPartitions: int | None = None
                    ) -> DStream:
        """Merge the values of each key per batch (``operator.add``, ``min``, ``max``: columnar)."""
        self._check("reduceByKey", func)
        return self._derive(_planned("reduceByKey", func),
                            lambda rdd: rdd.reduceByKey(func, numPartitions))

    def groupByKey(self, numPartitions: int | None = None) -> DStream:
        """Return a new DStream by applying :meth:`RDD.groupByKey` to each RDD.

        Groups each batch's values per key into lists; keys are not grouped across batches.
        """
        return self._derive(OpNote("groupByKey", how="Python lists per key"),
                            lambda rdd: rdd.groupByKey(numPartitions))

    def combineByKey(self, createCombiner: Callable[[Any], Any],
                     mergeValue: Callable[[Any, Any], Any],
                     mergeCombiners: Callable[[Any, Any], Any],
                     numPartitions: int | None = None) -> DStream:
        """Return a new DStream by applying :meth:`RDD.combineByKey` to each RDD.

        Keys are combined within each batch, not across batches.
        """
        self._check("combineByKey", createCombiner, mergeValue, mergeCombiners)
        return self._derive(
            OpNote("combineByKey", how="Python combiner functions"),
            lambda rdd: rdd.combineByKey(createCombiner, mergeValue, mergeCombiners, numPartitions)
        )

    def partitionBy(self, numPartitions: int,
                    partitionFunc: Callable[[Any], int] = portable_hash) -> DStream:
        """Return a new DStream by applying :meth:`RDD.partitionBy` to each RDD.

        With the default ``partitionFunc`` table batches are partitioned columnar.
        """
        self._check("partitionBy", partitionFunc)
        note = (OpNote("partitionBy", output="same", how="the core's hash partitioning")
                if partitionFunc is portable_hash
                else OpNote("partitionBy", how="a custom partitionFunc"))
        return self._derive(note, lambda rdd: rdd.partitionBy(numPartitions, partitionFunc))

    def repartition(self, numPartitions: int) -> DStream:
        """Return a new DStream by applying :meth:`RDD.repartition` to each RDD.

        Each batch gets ``numPartitions`` partitions; table batches stay columnar.
        """
        return self._derive(OpNote("repartition", output="same", how="slices"),
                            lambda rdd: rdd.repartition(numPartitions))

    def union(self, other: DStream) -> DStream:
        """Return a new DStream whose batches are the union of this stream's and ``other``'s.

        Each batch is :meth:`RDD.union` of the two streams' RDDs of that time. The two must
        have the same slide duration (ValueError otherwise).
        """
        if self.slideDuration != other.slideDuration:
            raise ValueError("the two DStreams have different slide durations")
        return self._combine(other, OpNote("union", output="same", how="partitions as they are"),
                             lambda a, b: a.union(b))

    def cogroup(self, other: DStream, numPartitions: int | None = None) -> DStream:
        """Return a new DStream by applying :meth:`RDD.cogroup` to each pair of RDDs.

        Each batch groups this stream's and ``other``'s pairs of that batch by key:
        ``(k, (values_here, values_in_other))``.
        """
        return self._combine(other, OpNote("cogroup"), lambda a, b: a.cogroup(b, numPartitions))

    def join(self, other: DStream, numPartitions: int | None = None) -> DStream:
        """Return a new DStream by applying :meth:`RDD.join` to each pair of RDDs.

        Joins this stream's batch with ``other``'s batch of the same time, by key.
        """
        return self._combine(other, OpNote("join"), lambda a, b: a.join(b, numPartitions))

    def leftOuterJoin(self, other: DStream, numPartitions: int | None = None) -> DStream:
        """Return a new DStream by applying :meth:`RDD.leftOuterJoin` to each pair of RDDs."""
        return self._combine(other, OpNote("leftOuterJoin"),
                             lambda a, b: a.leftOuterJoin(b, numPartitions))

    def rightOuterJoin(self, other: DStream, numPartitions: int | None = None) -> DStream:
        """Return a new DStream by applying :meth:`RDD.rightOuterJoin` to each pair of RDDs."""
        return self._combine(other, OpNote("rightOuterJoin"),
                             lambda a, b: a.rightOuterJoin(b, numPartitions))

    def fullOuterJoin(self, other: DStream, numPartitions: int | None = None) -> DStream:
        """Return a new DStream by applying :meth:`RDD.fullOuterJoin` to each pair of RDDs."""
        return self._combine(other, OpNote("fullOuterJoin"),
                             lambda a, b: a.fullOuterJoin(b, numPartitions))

    # --- windows ------------------------------------------------------------------------

    def window(self, windowDuration: float, slideDuration: float | None = None) -> DStream:
        """Return a new DStream in which each RDD contains all the elements seen in a
        sliding window of time over this DStream.

        Parameters
        ----------
        windowDuration : float
            Width of the window in seconds; a multiple of this DStream's slide duration.
        slideDuration : float, optional
            Seconds between windows (the new DStream's batches); a multiple of this
            DStream's slide duration. Default: this DStream's slide duration.

        Returns
        -------
        DStream

        Raises
        ------
        ValueError
            A duration that is not a positive multiple of this DStream's slide duration.

        Examples
        --------
        >>> from fastdstream import Context, StreamingContext
        >>> ssc = StreamingContext(Context("local[2]"), 1)
        >>> last3 = ssc.queueStream([[1], [2], [3], [4]]).window(3, 1)
        >>> last3.slideDuration
        1000
        >>> ssc.sparkContext.stop()
        """
        window_ms, slide_ms = windowed_dstream.validate_window(self, windowDuration,
                                                               slideDuration)
        return windowed_dstream.WindowedDStream(self, window_ms, slide_ms)

    def reduceByWindow(self, reduceFunc: Callable[[Any, Any], Any],
                       invReduceFunc: Callable[[Any, Any], Any] | None,
                       windowDuration: float, slideDuration: float) -> DStream:
        """Return a new DStream in which each RDD has a single element generated by
        reducing all elements in a sliding window over this DStream.

        With ``invReduceFunc`` (the inverse of ``reduceFunc``) each window is computed
        incrementally from the previous one, as :meth:`reduceByKeyAndWindow` does.

        Parameters
        ----------
        reduceFunc : callable
            An associative and commutative reduce function.
        invReduceFunc : callable or None
            Its inverse: ``invReduceFunc(reduceFunc(x, y), y) == x``.
        windowDuration, slideDuration : float
            As for :meth:`window`, in seconds.

        Returns
        -------
        DStream
        """
        self._check("reduceByWindow", reduceFunc, invReduceFunc)
        keyed = self.map(reduced_windowed_dstream.keyed_by_one)
        reduced = keyed.reduceByKeyAndWindow(reduceFunc, invReduceFunc, windowDuration,
                                             slideDuration, 1)
        return reduced.map(operator.itemgetter(1))

    def countByWindow(self, windowDuration: float, slideDuration: float) -> DStream:
        """Return a new DStream in which each RDD has a single element generated by
        counting the number of elements in a window over this DStream.

        ``windowDuration`` and ``slideDuration`` are as defined in :meth:`window`. This
        is equivalent to ``window(windowDuration, slideDuration).count()``, but is more
        efficient if the window is large: each batch is counted once (a table without
        Python rows) and the window's count follows incrementally.

        Returns
        -------
        DStream
        """
        counts = self._derive(
            OpNote("count", how="a count per partition, tables counted without rows"),
            lambda rdd: rdd._map_raw(reduced_windowed_dstream.count_if_any))
        return counts.reduceByKeyAndWindow(operator.add, operator.sub, windowDuration,
                                           slideDuration, 1).map(operator.itemgetter(1))

    def countByValueAndWindow(self, windowDuration: float, slideDuration: float,
                              numPartitions: int | None = None) -> DStream:
        """Return a new DStream in which each RDD contains the count of distinct elements
        in RDDs in a sliding window over this DStream.

        Each batch is counted as :meth:`countByValue` counts it (columnar for a column of
        strings, binary or integers), and each window follows from the previous one.

        Parameters
        ----------
        windowDuration, slideDuration : float
            As for :meth:`window`, in seconds.
        numPartitions : int, optional
            Number of partitions of each RDD in the new DStream; default
            ``sc.defaultParallelism``.

        Returns
        -------
        DStream
            ``(value, count)`` pairs, for the values counted at least once in the window.
        """
        window_ms, slide_ms = windowed_dstream.validate_window(self, windowDuration,
                                                               slideDuration)
        n = numPartitions or self._sc.defaultParallelism
        counted = self._derive(_planned("countByValue"), lambda rdd: rdd.countByValueRDD(n))
        return reduced_windowed_dstream.ReducedWindowedDStream(
            counted, operator.add, operator.sub, reduced_windowed_dstream.count_is_positive,
            window_ms, slide_ms, n)

    def groupByKeyAndWindow(self, windowDuration: float, slideDuration: float,
                            numPartitions: int | None = None) -> DStream:
        """Return a new DStream by applying :meth:`groupByKey` over a sliding window.

        Similar to ``DStream.groupByKey()``, but applies it over a sliding window.

        Parameters
        ----------
        windowDuration, slideDuration : float
            As for :meth:`window`, in seconds.
        numPartitions : int, optional
            Number of partitions of each RDD in the new DStream.

        Returns
        -------
        DStream
            ``(key, values)`` pairs; ``values`` a list, oldest batch first.
        """
        lists = self.mapValues(reduced_windowed_dstream.singleton)
        return lists.reduceByKeyAndWindow(operator.add, reduced_windowed_dstream.drop_first,
                                          windowDuration,
                                          slideDuration, numPartitions)

    def reduceByKeyAndWindow(self, func: Callable[[Any, Any], Any],
                             invFunc: Callable[[Any, Any], Any] | None,
                             windowDuration: float, slideDuration: float | None = None,
                             numPartitions: int | None = None,
                             filterFunc: Callable[[Any], bool] | None = None) -> DStream:
        """Return a new DStream by applying incremental :meth:`reduceByKey` over a
        sliding window.

        The reduced value over a new window is calculated using the old window's
        reduced value:

        1. reduce the new values that entered the window (e.g., adding new counts)
        2. "inverse reduce" the old values that left the window (e.g., subtracting
           old counts)

        ``invFunc`` can be None, then it will reduce all the RDDs in the window, which
        could be slower than having ``invFunc``. With ``invFunc`` the work per batch
        follows the slide, not the window (a window shorter than five slides is reduced
        whole, as in PySpark), and the stream needs ``ssc.checkpoint(directory)``.
        ``operator.add``, ``min`` and ``max`` merge Arrow partitions in the compiled core,
        and so does ``operator.sub`` as the inverse of ``operator.add`` for integer values;
        :meth:`explain` shows which applies.

        Parameters
        ----------
        func : callable
            Associative and commutative reduce function.
        invFunc : callable or None
            Inverse function of ``func``: ``invFunc(func(x, y), y) == x``.
        windowDuration : float
            Width of the window in seconds; a multiple of this DStream's slide duration.
        slideDuration : float, optional
            Seconds between windows; a multiple of this DStream's slide duration.
            Default: this DStream's slide duration.
        numPartitions : int, optional
            Number of partitions of each RDD in the new DStream; default
            ``sc.defaultParallelism``.
        filterFunc : callable, optional
            Applied to each window's ``(key, value)`` pairs: those it rejects leave the
            window (with ``invFunc``, the way to drop keys whose value fell to zero).

        Returns
        -------
        DStream

        Raises
        ------
        ValueError
            A duration that is not a positive multiple of this DStream's slide duration.

        Examples
        --------
        >>> import operator
        >>> from fastdstream import Context, StreamingContext
        >>> ssc = StreamingContext(Context("local[2]"), 1)
        >>> pairs = ssc.queueStream([[("a", 1)], [("a", 2)]])
        >>> counts = pairs.reduceByKeyAndWindow(operator.add, operator.sub, 60, 10)
        >>> counts.windowDuration, counts.slideDuration
        (60000, 10000)
        >>> "incremental" in counts.explain()
        True
        >>> ssc.sparkContext.stop()
        """
        window_ms, slide_ms = windowed_dstream.validate_window(self, windowDuration,
                                                               slideDuration)
        for name, given in (("func", func), ("invFunc", invFunc), ("filterFunc", filterFunc)):
            if given is None and name != "func":
                continue
            if not callable(given):
                raise TypeError(f"reduceByKeyAndWindow: {name} must be a function, got "
                                f"{type(given).__name__}")
        self._check("reduceByKeyAndWindow", func, invFunc, filterFunc)
        n = numPartitions or self._sc.defaultParallelism
        reduced = self.reduceByKey(func, n)
        return reduced_windowed_dstream.ReducedWindowedDStream(
            reduced, func, invFunc, filterFunc, window_ms, slide_ms, n)

    def cache(self) -> DStream:
        """Persist each batch's RDD: :meth:`persist`."""
        return self.persist()

    def persist(self, storageLevel: Any = None) -> DStream:
        """Persist each RDD this stream generates, in its executors' memory (:meth:`RDD.persist`).

        Worth it for a stream that several operations read. ``storageLevel`` is accepted for
        PySpark's signature; memory is the only level. An RDD is unpersisted when the stream
        forgets it, after its remember duration.

        Returns
        -------
        DStream
            This DStream.
        """
        self._persisted = True
        return self

    @property
    def is_cached(self) -> bool:
        """Whether each batch's RDD is persisted (:meth:`cache`, :meth:`persist`)."""
        return self._persisted

    @property
    def is_checkpointed(self) -> bool:
        """Whether this stream's RDDs are checkpointed periodically (:meth:`checkpoint`,
        or a stateful stream's own)."""
        return self._checkpoint_interval_ms is not None or self._must_checkpoint

    def checkpoint(self, interval: float) -> DStream:
        """Enable periodic checkpointing of the RDDs of this DStream.

        Every ``interval`` seconds of batch time the batch's RDD is saved under the
        StreamingContext's checkpoint directory and its lineage cut. The stream is
        also persisted, so the saved partitions are not computed twice.

        Parameters
        ----------
        interval : float
            Seconds between checkpoints; a multiple of the stream's slide duration.

        Returns
        -------
        DStream
            This DStream.
        """
        interval_ms = round(float(interval) * 1000)
        slide = self.slideDuration
        if interval_ms <= 0 or interval_ms % slide:
            raise ValueError(
                f"checkpoint interval {interval} s of {self!r} must be a positive multiple "
                f"of its slide duration ({slide / 1000} s)"
            )
        if self._zero_time is not None:
            raise RuntimeError("DStream.checkpoint must be called before the "
                               "StreamingContext starts")
        self._checkpoint_interval_ms = interval_ms
        self.persist()
        return self

    # --- state --------------------------------------------------------------------------

    def updateStateByKey(self, updateFunc: Callable[[list[Any], Any], Any],
                         numPartitions: int | None = None, initialRDD: Any = None) -> DStream:
        """Return a new "state" DStream where the state for each key is updated by applying
        the given function on the previous state of the key and the new values of the key.

        ``updateFunc(newValues, lastState)`` is called every batch for every key that has
        a state or new values (``newValues`` is ``[]`` for a key without new values,
        ``lastState`` None for a key without state); if it returns None, the key's state
        is removed. Needs a checkpoint directory (``ssc.checkpoint``): the state's
        lineage is cut by checkpoints every ``checkpoint`` interval (10 s by default).

        The state is hash-partitioned by key into ``numPartitions`` partitions; each
        batch shuffles only its new values into them. A function registered with
        ``register_kernel("updateStateByKey", updateFunc, "sum")`` (it must return
        ``sum(newValues) + (lastState or 0)``; ``"min"``/``"max"`` likewise) keeps the
        state as Arrow tables merged by the compiled core; :meth:`explain` says which.

        Parameters
        ----------
        updateFunc : callable
            State update function. If this function returns None, then corresponding
            state key-value pair will be eliminated.
        numPartitions : int, optional
            Partitions of the state; default ``defaultParallelism``.
        initialRDD : RDD or iterable of (key, state), optional
            The state before the first batch.

        Returns
        -------
        DStream

        Examples
        --------
        >>> from fastdstream import Context, StreamingContext
        >>> ssc = StreamingContext(Context("local[2]"), 1)
        >>> counts = ssc.queueStream([[("a", 1)]]).updateStateByKey(
        ...     lambda vs, s: sum(vs) + (s or 0))
        >>> ssc.sparkContext.stop()
        """
        self._check("updateStateByKey", updateFunc)
        if initialRDD is not None and not isinstance(initialRDD, RDD):
            initialRDD = self._sc.parallelize(initialRDD)
        return StateDStream(self, updateFunc, numPartitions, initialRDD)

    def mapWithState(self, spec: StateSpec) -> MapWithStateDStream:
        """Return a stream of what ``spec``'s mapping function returns for each record,
        keeping a state per key (Spark's ``mapWithState``; PySpark has none).

        The function is ``f(key, value, state)`` -- every return value is emitted -- or
        ``f(time, key, value, state)`` with the batch time, whose None return emits
        nothing (Spark's ``Option``). ``state`` is a :class:`~fastdstream.State`. Only
        the keys of the batch's records, and those timing out, are touched per batch:
        the cost of a batch follows the batch, not the size of the state. The state
        lives in Python objects, hash-partitioned by key; it needs a checkpoint directory
        and is checkpointed every ten batches unless :meth:`checkpoint` says otherwise.
        ``.stateSnapshots()`` on the result gives every ``(key, state)`` per batch.

        Parameters
        ----------
        spec : StateSpec
            ``StateSpec.function(f)``, with ``initialState``, ``numPartitions``,
            ``partitioner`` and ``timeout`` as wanted.

        Returns
        -------
        MapWithStateDStream

        Examples
        --------
        >>> from fastdstream import Context, StateSpec, StreamingContext
        >>> ssc = StreamingContext(Context("local[2]"), 1)
        >>> def count(key, value, state):
        ...     state.update((state.getOption() or 0) + value)
        ...     return key, state.get()
        >>> counted = ssc.queueStream([[("a", 1)]]).mapWithState(StateSpec.function(count))
        >>> snapshots = counted.stateSnapshots()
        >>> ssc.sparkContext.stop()
        """
        if not isinstance(spec, StateSpec):
            raise TypeError(f"mapWithState takes a StateSpec (StateSpec.function(f)...), got "
                            f"{type(spec).__name__}")
        self._check("mapWithState", spec._function, spec._partition_func)
        return MapWithStateDStream(InternalMapWithStateDStream(self, spec))

    # --- output operations --------------------------------------------------------------

    def foreachRDD(self, func: Callable[..., None]) -> None:
        """Run ``func(rdd)`` or ``func(time, rdd)`` on the driver for every batch.

        What ``func`` calls on the RDD (collect, foreachPartition, ...) runs as
        tasks on the executors.
        """
        foreach_dstream.ForEachDStream(self, _with_time(func, 1), name=_describe(func)).register()

    def pprint(self, num: int = 10) -> None:
        """Print the first ``num`` elements of each batch, under a header with its time."""

        def takeAndPrint(time: datetime, rdd: RDD) -> None:
            taken = rdd.take(num + 1)
            lines = ["-------------------------------------------", f"Time: {time}",
                     "-------------------------------------------"]
            lines.extend(str(record) for record in taken[:num])
            if len(taken) > num:
                lines.append("...")
            print("\n".join(lines) + "\n", flush=True)

        foreach_dstream.ForEachDStream(self, _with_time(takeAndPrint, 1), name="pprint").register()

    def saveAsTextFiles(self, prefix: str, suffix: str | None = None) -> None:
        """Save each batch as a directory ``prefix-<time in ms>[.suffix]`` of text part files."""

        def saveAsTextFile(time: datetime, rdd: RDD) -> None:
            path = f"{prefix}-{to_ms(time)}" + (f".{suffix}" if suffix else "")
            if os.path.exists(path):  # a replayed batch already saved: keep it idempotent
                return
            rdd.saveAsTextFile(path)

        foreach_dstream.ForEachDStream(
            self, _with_time(saveAsTextFile, 1), name="saveAsTextFiles"
        ).register()

    # --- time-indexed access ------------------------------------------------------------

    def slice(self, begin: datetime | int, end: datetime | int) -> list[RDD]:
        """The remembered RDDs of batch times in ``[begin, end]``."""
        begin_ms, end_ms = to_ms(begin), to_ms(end)
        if self._zero_time is None:
            raise RuntimeError(f"{self!r} has not been initialized (StreamingContext not started)")
        slide = self.slideDuration
        first = self._zero_time + max(0, -(-(begin_ms - self._zero_time) // slide)) * slide
        rdds = []
        for t in range(first, end_ms + 1, slide):
            rdd = self._get_or_compute(t)
            if rdd is not None:
                rdds.append(rdd)
        return rdds


_DEFAULT_CHECKPOINT_MS = 10_000


def _partition_count(_: int, data: PartitionData) -> list[tuple[None, int]]:
    return [(None, num_rows(data))]


def _describe(func: Callable[..., Any]) -> str:
    return getattr(func, "__qualname__", None) or repr(func)


def _planned(operation: str, func: Any = None) -> OpNote:
    # The lookup each batch's RDD makes, made once now for the explain.
    plan = registry.plan(operation, func)
    return OpNote(plan.step, plan=plan)


def _opaque(name: str, func: Callable[..., Any]) -> OpNote:
    return OpNote(f"{name}({registry.function_label(func)})", output="either",
                  how="an RDD function; each batch's RDD.explain() shows its steps")


# The kinds of DStream subclass DStream, so they load once it exists (either order works).
from fastdstream.streaming.dstream import (  # noqa: E402
    foreach_dstream,
    reduced_windowed_dstream,
    transformed_dstream,
    windowed_dstream,
)
from fastdstream.streaming.dstream.map_with_state_dstream import (  # noqa: E402
    InternalMapWithStateDStream,
    MapWithStateDStream,
)
from fastdstream.streaming.dstream.state_dstream import StateDStream  # noqa: E402
