"""mapWithState: Spark's MapWithStateDStream and its internal state stream.

The internal stream's batch ``t`` is a :class:`StateRDD` of one
:class:`MapWithStateRecord` per partition: the partition's :class:`StateMap` after
the batch and what the mapping function returned for it. It is built from the
internal stream's batch ``t - slide`` (through ``_get_or_compute``, so a state
restored from checkpoint files is found like a computed one) and the parent's batch
``t`` shuffled into the state's partitioning. Per partition, only the keys of the new
records and those timing out are touched: the new StateMap is the old one with one
layer of this batch's writes on top (see :mod:`fastdstream.streaming.state_map`), so
the cost of a batch follows the batch, not the size of the state.

The mapped stream (what ``mapWithState`` returns) carries the mapping function's
results; :meth:`MapWithStateDStream.stateSnapshots` carries every ``(key, state)``.

Timeouts are looked for every batch (Spark looks only in the batches it checkpoints,
so there a key may time out up to a checkpoint interval late): a key whose last data
came before ``batch time - timeout`` is called once with value None and
``state.isTimingOut()`` True, then removed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from functools import partial
from typing import Any

from fastdstream.clock import to_datetime
from fastdstream.engine import tasks
from fastdstream.engine.columnar.partition import PartitionData, iter_rows, to_list
from fastdstream.engine.explain import EITHER, Form, OpNote, rows_from
from fastdstream.engine.partitioner import HashPartitioner, portable_hash
from fastdstream.engine.rdd import RDD
from fastdstream.streaming.dstream.dstream import DStream, _arity
from fastdstream.streaming.state import NO_STATE, State, StateSpec, private_copy, timeout_ms
from fastdstream.streaming.state_map import REMOVED, StateMap
from fastdstream.streaming.state_rdd import StateRDD

__all__ = ["InternalMapWithStateDStream", "MapWithStateDStream", "MapWithStateRecord"]

# Spark's default checkpoint interval of a mapWithState stream: ten batches.
_CHECKPOINT_MULTIPLIER = 10


class MapWithStateRecord:
    """One state partition after a batch: its StateMap and the batch's mapped data."""

    __slots__ = ("mapped", "state_map")

    def __init__(self, state_map: StateMap, mapped: list[Any]):
        self.state_map = state_map
        self.mapped = mapped

    def __reduce__(self) -> tuple[Any, ...]:
        return (MapWithStateRecord, (self.state_map, self.mapped))

    def __repr__(self) -> str:
        return f"MapWithStateRecord({self.state_map!r}, {len(self.mapped)} mapped)"


class InternalMapWithStateDStream(DStream):
    """The stream of state partitions behind a :class:`MapWithStateDStream`."""

    _must_checkpoint = True

    def __init__(self, parent: DStream, spec: StateSpec):
        super().__init__(parent._ssc, (parent,))
        self._spec = spec
        n = spec.getNumPartitions() or self._sc.defaultParallelism
        self._partitioner = HashPartitioner(n, spec.getPartitioner() or portable_hash)
        func = spec.getFunction()
        arity = _arity(func)
        if arity not in (3, 4, -1):
            raise TypeError(
                f"mapWithState: the mapping function {getattr(func, '__qualname__', func)} "
                f"takes {arity} positional arguments; it must take (key, value, state) or "
                "(time, key, value, state)")
        self._with_time = arity == 4
        self._timeout_ms = timeout_ms(spec)
        initial = spec.getInitialStateRDD()
        self._initial = (initial.partitionBy(n, self._partitioner.partition_func)
                         if initial is not None else None)
        self.persist()

    def _initialize(self, zero_time: int) -> None:
        if self._zero_time is None and self._checkpoint_interval_ms is None:
            self._checkpoint_interval_ms = self.slideDuration * _CHECKPOINT_MULTIPLIER
        super()._initialize(zero_time)

    def _compute(self, time_ms: int) -> RDD | None:
        n = self._partitioner.num_partitions
        func = self._partitioner.partition_func
        prev = self._get_or_compute(time_ms - self.slideDuration)
        if prev is None:
            prev_kind = "pairs"
            prev = self._initial
        elif prev.partitioner != self._partitioner:
            # Restored from checkpoint files, which do not say how they were partitioned:
            # partition its entries again (Spark's createFromRDD).
            prev_kind = "timed"
            prev = prev._pipe(tasks.make_step(_timed_entries)).partitionBy(n, func)
        else:
            prev_kind = "record"
        batch = self._dependencies[0]._get_or_compute(time_ms)
        data = batch.partitionBy(n, func) if batch is not None else None
        threshold = time_ms - self._timeout_ms if self._timeout_ms is not None else None
        update = partial(_update_partition, self._spec.getFunction(), self._with_time, time_ms,
                         threshold, self._timeout_ms is not None, prev_kind)
        return StateRDD(self._sc, prev, data, update, self._partitioner)

    def _explain_source(self) -> tuple[str, Form]:
        func = self._spec.getFunction()
        label = getattr(func, "__qualname__", None) or repr(func)
        label = label.rpartition(".<locals>.")[2]
        timeout = (f", keys idle over {self._timeout_ms / 1000:g} s time out"
                   if self._timeout_ms is not None else "")
        return (f"mapWithState({label}) rows: a function of (key, value, State) per record; "
                f"state held as Python objects in {self._partitioner.num_partitions} "
                "partitions by key hash, each batch touching only its keys and those timing "
                f"out{timeout}", rows_from(f"mapWithState({label})"))


class MapWithStateDStream(DStream):
    """What :meth:`DStream.mapWithState` returns: the mapping function's results per batch.

    :meth:`stateSnapshots` gives the full state after each batch.
    """

    def __init__(self, internal: InternalMapWithStateDStream):
        super().__init__(internal._ssc, (internal,))
        self._internal = internal

    def _compute(self, time_ms: int) -> RDD | None:
        rdd = self._internal._get_or_compute(time_ms)
        if rdd is None:
            return None
        return rdd._pipe(tasks.make_step(_mapped_data))

    def stateSnapshots(self) -> DStream:
        """A stream of every ``(key, state)`` after each batch.

        A full scan of the state every batch: its cost follows the size of the state.

        Returns
        -------
        DStream
        """
        note = OpNote("stateSnapshots", how="every (key, state) of the state, as Python rows")
        return self._internal._derive(note, _snapshot)

    def checkpoint(self, interval: float) -> DStream:
        """Checkpoint the state every ``interval`` seconds (Spark's default: ten batches).

        Parameters
        ----------
        interval : float
            Seconds; a multiple of the slide duration.

        Returns
        -------
        DStream
            This stream.
        """
        self._internal.checkpoint(interval)
        return self

    def _explain_source(self) -> tuple[str, Form]:
        return "mapped data of mapWithState", EITHER


# --- task side ------------------------------------------------------------------------


def _snapshot(rdd: RDD) -> RDD:
    return rdd._pipe(tasks.make_step(_snapshot_rows))


def _snapshot_rows(_: int, records: Iterator[Any]) -> Iterator[tuple[Any, Any]]:
    for record in records:
        for key, state, _time in record.state_map.items():
            yield key, private_copy(state)


def _mapped_data(_: int, records: Iterator[Any]) -> Iterator[Any]:
    for record in records:
        yield from record.mapped


def _timed_entries(_: int, records: Iterator[Any]) -> Iterator[tuple[Any, tuple[Any, int]]]:
    for record in records:
        for key, state, time_ms in record.state_map.items():
            yield key, (state, time_ms)


def _previous_map(prev: PartitionData | None, prev_kind: str, time_ms: int, track: bool
                  ) -> StateMap:
    if prev is None:
        return StateMap(track)
    if prev_kind == "record":
        records = to_list(prev)
        if not records:
            return StateMap(track)
        state_map: StateMap = records[0].state_map
        return state_map
    if prev_kind == "pairs":  # the initial state: updated at the first batch's time
        return StateMap.from_items(((k, s, time_ms) for k, s in iter_rows(prev)), track)
    return StateMap.from_items(((k, e[0], e[1]) for k, e in iter_rows(prev)), track)


def _update_partition(func: Callable[..., Any], with_time: bool, time_ms: int,
                      threshold: int | None, track: bool, prev_kind: str, split: int,
                      prev: PartitionData | None, data: PartitionData | None
                      ) -> list[MapWithStateRecord]:
    """Spark's MapWithStateRDDRecord.updateRecordWithData, on one partition."""
    state_map = _previous_map(prev, prev_kind, time_ms, track)
    writes: dict[Any, Any] = {}
    mapped: list[Any] = []
    state = State()
    batch_time: datetime | None = to_datetime(time_ms) if with_time else None
    if data is not None:
        for key, value in iter_rows(data):
            written = writes.get(key, NO_STATE)
            if written is not NO_STATE:
                current = NO_STATE if written is REMOVED else written[0]
            else:
                entry = state_map.get(key)
                # A private copy: a function that changes its state in place must not
                # change the state (and snapshot) of an earlier batch.
                current = private_copy(entry[0]) if entry is not None else NO_STATE
            state._wrap(current)
            if with_time:
                returned = func(batch_time, key, value, state)
                if returned is not None:  # Spark's Option: None emits nothing
                    mapped.append(returned)
            else:
                mapped.append(func(key, value, state))
            if state._removed:
                writes[key] = REMOVED
            elif state._updated or (state._defined and threshold is not None):
                # With a timeout, data refreshes the key's time even if its state stays.
                writes[key] = (state._value, time_ms)
    if threshold is not None:
        for key, old in state_map.timing_out(threshold):
            if key in writes:
                continue
            state._wrap(private_copy(old), timing_out=True)
            if with_time:
                returned = func(batch_time, key, None, state)
                if returned is not None:
                    mapped.append(returned)
            else:
                mapped.append(func(key, None, state))
            writes[key] = REMOVED
    return [MapWithStateRecord(state_map.updated(writes, time_ms, horizon=threshold), mapped)]
