"""StateMap: one partition's keyed state for mapWithState, one immutable snapshot per batch.

Spark's ``StateMap`` keeps a batch's changes as a delta over its parent's map, so that
a batch touches only its keys. Here a snapshot is a stack of layers (dicts of
``key -> (state, update time)`` or a removal mark), oldest first. A batch adds one
layer holding what it wrote; nothing ever changes a layer, so every earlier batch's
snapshot stays valid (a retried task, a snapshot stream, a window over the states all
read what that batch left). Layers are merged like a log-structured merge tree: the
newest two merge while the older is at most twice the newer's size, so there are
``O(log(state / batch))`` layers, a lookup walks at most that many dicts, and each
entry is copied ``O(log)`` times over its life: the cost of a batch follows the batch
(amortised), not the size of the state. The occasional merge into the bottom layer
copies the state once it has had as many writes as half its size.

Timeouts need the keys idle since some time without scanning the state: with a
timeout, each layer also indexes its keys by the batch time they were written
(``times``), and a snapshot remembers up to which time it has already looked
(``horizon``). A batch looks only at the times between the last threshold and its
own, so each write is looked at once when it ages out.

Pickled (RDD checkpoints, a partition fetched by another process) a map is flattened
to one layer, as Spark compacts its map when it serializes it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["REMOVED", "StateMap"]

# Merging stops once the older layer is more than this many times the newer's size.
_RATIO = 2
_MAX_LAYERS = 24


class _Removed:
    """The mark a layer holds for a key its batch removed."""

    _instance: _Removed | None = None

    def __new__(cls) -> _Removed:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __reduce__(self) -> str:
        return "REMOVED"

    def __repr__(self) -> str:
        return "REMOVED"


REMOVED = _Removed()

Entry = tuple[Any, int]  # (state, time in ms of the batch that wrote it)


class _Layer:
    __slots__ = ("entries", "times")

    def __init__(self, entries: dict[Any, Any], times: dict[int, list[Any]] | None):
        self.entries = entries
        self.times = times


class StateMap:
    """An immutable snapshot of one partition's state: ``key -> (state, update time)``.

    Parameters
    ----------
    track_times : bool
        Index keys by update time, so :meth:`timing_out` finds idle keys without a scan
        (needed with a timeout only).
    """

    __slots__ = ("_horizon", "_layers", "_track_times")

    def __init__(self, track_times: bool = False, layers: tuple[_Layer, ...] = (),
                 horizon: int | None = None):
        self._track_times = track_times
        self._layers = layers
        self._horizon = horizon  # update times below this were already looked at

    @classmethod
    def from_items(cls, items: Iterator[tuple[Any, Any, int]] | list[tuple[Any, Any, int]],
                   track_times: bool, horizon: int | None = None) -> StateMap:
        """A one-layer map of ``(key, state, update time)``; the first of a key wins."""
        entries: dict[Any, Any] = {}
        for key, state, time_ms in items:
            if key not in entries:
                entries[key] = (state, time_ms)
        if not entries:
            return cls(track_times, (), horizon)
        return cls(track_times, (_Layer(entries, _index(entries) if track_times else None),),
                   horizon)

    @property
    def track_times(self) -> bool:
        return self._track_times

    @property
    def num_layers(self) -> int:
        return len(self._layers)

    def get(self, key: Any) -> Entry | None:
        """The key's ``(state, update time)``, or None if it has no state."""
        for layer in reversed(self._layers):
            entry = layer.entries.get(key, None)
            if entry is not None:
                return None if entry is REMOVED else entry
        return None

    def items(self) -> Iterator[tuple[Any, Any, int]]:
        """Every ``(key, state, update time)``: a full scan, for snapshots."""
        layers = self._layers
        if len(layers) == 1:
            for key, (state, time_ms) in layers[0].entries.items():
                yield key, state, time_ms
            return
        seen: set[Any] = set()
        for depth, layer in enumerate(reversed(layers)):
            bottom = depth == len(layers) - 1
            for key, entry in layer.entries.items():
                if key in seen:
                    continue
                if not bottom:
                    seen.add(key)
                if entry is not REMOVED:
                    yield key, entry[0], entry[1]

    def __len__(self) -> int:
        return sum(1 for _ in self.items())

    def timing_out(self, threshold: int) -> Iterator[tuple[Any, Any]]:
        """``(key, state)`` of the keys last updated before ``threshold`` (ms) and after
        the horizon of this snapshot: those that time out now."""
        if not self._track_times:
            raise ValueError("this StateMap does not track update times")
        horizon = self._horizon
        for layer in self._layers:
            times = layer.times
            assert times is not None
            for time_ms, keys in times.items():
                if time_ms >= threshold or (horizon is not None and time_ms < horizon):
                    continue
                for key in keys:
                    entry = self.get(key)
                    if entry is not None and entry[1] == time_ms:  # not written since
                        yield key, entry[0]

    def updated(self, writes: dict[Any, Any], time_ms: int, horizon: int | None = None
                ) -> StateMap:
        """The next snapshot: this one with ``writes`` (``key -> (state, time)`` or
        :data:`REMOVED`) of the batch at ``time_ms`` on top. ``writes`` becomes the new
        layer's and must not be changed afterwards."""
        new_horizon = horizon if horizon is not None else self._horizon
        if not writes:
            return StateMap(self._track_times, self._layers, new_horizon)
        if not self._layers:
            # Nothing under it: removal marks have nothing to hide.
            writes = {k: e for k, e in writes.items() if e is not REMOVED}
            if not writes:
                return StateMap(self._track_times, (), new_horizon)
        times = None
        if self._track_times:
            times = {time_ms: [k for k, e in writes.items() if e is not REMOVED]}
        layers = _compact((*self._layers, _Layer(writes, times)), new_horizon)
        return StateMap(self._track_times, layers, new_horizon)

    def __reduce__(self) -> tuple[Any, ...]:
        # Flattened: a checkpoint holds the state, not the history of its batches.
        return (_rebuild, (list(self.items()), self._track_times, self._horizon))

    def __repr__(self) -> str:
        return f"StateMap({len(self)} keys in {len(self._layers)} layer(s))"


def _rebuild(items: list[tuple[Any, Any, int]], track_times: bool, horizon: int | None
             ) -> StateMap:
    return StateMap.from_items(items, track_times, horizon)


def _index(entries: dict[Any, Any]) -> dict[int, list[Any]]:
    times: dict[int, list[Any]] = {}
    for key, entry in entries.items():
        if entry is not REMOVED:
            times.setdefault(entry[1], []).append(key)
    return times


def _compact(layers: tuple[_Layer, ...], horizon: int | None) -> tuple[_Layer, ...]:
    stack = list(layers)
    while len(stack) >= 2 and (
        len(stack[-2].entries) <= _RATIO * len(stack[-1].entries) or len(stack) > _MAX_LAYERS
    ):
        newer = stack.pop()
        older = stack.pop()
        stack.append(_merge(older, newer, bottom=not stack, horizon=horizon))
    return tuple(stack)


def _merge(older: _Layer, newer: _Layer, bottom: bool, horizon: int | None) -> _Layer:
    entries = older.entries.copy()
    entries.update(newer.entries)
    if bottom:  # nothing below: a removal mark has nothing left to hide
        for key, entry in newer.entries.items():
            if entry is REMOVED:
                del entries[key]
    times: dict[int, list[Any]] | None = None
    if older.times is not None and newer.times is not None:
        # Keys written again later stay listed under their old time; timing_out skips
        # them (their entry's time differs). Times already looked at are dropped.
        times = {}
        for source in (older.times, newer.times):
            for time_ms, keys in source.items():
                if horizon is not None and time_ms < horizon:
                    continue
                times.setdefault(time_ms, []).extend(keys)
    return _Layer(entries, times)
