"""State and StateSpec: what :meth:`DStream.mapWithState` takes, as in Spark's Scala API.

PySpark has no ``mapWithState``; these follow Spark's ``State`` and ``StateSpec``
with Python names. A mapping function is ``f(key, value, state)`` (or
``f(time, key, value, state)`` with the batch time as a datetime); it reads and
changes the key's state through the :class:`State` object and returns the element
the mapped stream carries for that record.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastdstream.engine.rdd import RDD

__all__ = ["State", "StateSpec"]

# What a key without state holds (None is a state like any other).
NO_STATE: Any = object()

# Values no mapping or update function can change in place: handed out as they are.
# Anything else is copied when it leaves a state partition, so that a function that
# mutates its state (``s.append(v); return s``) never changes an earlier batch's state
# or snapshot -- PySpark gets this from pickling every record, we from copying.
_IMMUTABLE = frozenset({int, float, complex, str, bytes, bool, type(None), frozenset})


def private_copy(value: Any) -> Any:
    """``value`` itself if it cannot be changed in place, else a deep copy."""
    if type(value) in _IMMUTABLE:
        return value
    if type(value) is tuple and all(type(item) in _IMMUTABLE for item in value):
        return value
    return copy.deepcopy(value)


class State:
    """The state of one key, as a mapping function of :meth:`DStream.mapWithState` sees it.

    Spark's ``State``: :meth:`exists`, :meth:`get`, :meth:`update`, :meth:`remove`,
    :meth:`isTimingOut`, :meth:`getOption`. An update or removal takes effect when the
    mapping function returns.

    Examples
    --------
    >>> state = State()
    >>> state.exists(), state.getOption()
    (False, None)
    >>> state.update(3)
    >>> state.exists(), state.get()
    (True, 3)
    """

    __slots__ = ("_defined", "_removed", "_timing_out", "_updated", "_value")

    def __init__(self) -> None:
        self._wrap(NO_STATE)

    def _wrap(self, value: Any, timing_out: bool = False) -> None:
        self._value = value
        self._defined = value is not NO_STATE
        self._timing_out = timing_out
        self._updated = False
        self._removed = False

    def exists(self) -> bool:
        """Whether the key has a state.

        Returns
        -------
        bool
        """
        return self._defined

    def get(self) -> Any:
        """The state of the key.

        Returns
        -------
        object

        Raises
        ------
        KeyError
            If the key has no state (see :meth:`exists`, :meth:`getOption`).
        """
        if not self._defined:
            raise KeyError("State.get: the key has no state (check State.exists(), or use "
                           "State.getOption())")
        return self._value

    def getOption(self) -> Any:
        """The state of the key, or None if it has none (Spark's ``Option``).

        Returns
        -------
        object or None
        """
        return self._value if self._defined else None

    def update(self, newState: Any) -> None:
        """Set the key's state to ``newState``.

        Parameters
        ----------
        newState : object
            The new state.

        Raises
        ------
        ValueError
            If the state was removed in this call, or is timing out (as in Spark).
        """
        if self._removed:
            raise ValueError("State.update: cannot update a state that has been removed")
        if self._timing_out:
            raise ValueError("State.update: cannot update a state that is timing out")
        self._value = newState
        self._defined = True
        self._updated = True

    def remove(self) -> None:
        """Remove the key's state.

        Raises
        ------
        ValueError
            If it is already removed, or is timing out (it goes anyway, as in Spark).
        """
        if self._removed:
            raise ValueError("State.remove: cannot remove a state that has already been removed")
        if self._timing_out:
            raise ValueError("State.remove: cannot remove a state that is timing out")
        self._defined = False
        self._removed = True
        self._updated = False
        self._value = NO_STATE

    def isTimingOut(self) -> bool:
        """Whether the key is timing out: idle past the spec's timeout, called a last time
        with value None before its state is removed.

        Returns
        -------
        bool
        """
        return self._timing_out

    def __repr__(self) -> str:
        if not self._defined:
            return "State(<none>)"
        return f"State({self._value!r}{', timing out' if self._timing_out else ''})"


class StateSpec:
    """What :meth:`DStream.mapWithState` does: the mapping function and its options.

    Built as in Spark: ``StateSpec.function(f).initialState(rdd).numPartitions(n)
    .timeout(seconds)``; each setter returns the spec.

    Examples
    --------
    >>> def running_sum(key, value, state):
    ...     total = (value or 0) + (state.getOption() or 0)
    ...     state.update(total)
    ...     return (key, total)
    >>> spec = StateSpec.function(running_sum).numPartitions(4).timeout(60)
    >>> spec.getNumPartitions(), spec.getTimeout()
    (4, 60.0)
    """

    def __init__(self, mappingFunction: Callable[..., Any]):
        if not callable(mappingFunction):
            raise TypeError("StateSpec.function: the mapping function must be callable, got "
                            f"{type(mappingFunction).__name__}")
        self._function = mappingFunction
        self._initial_state: RDD | None = None
        self._num_partitions: int | None = None
        self._partition_func: Callable[[Any], int] | None = None
        self._timeout_ms: int | None = None

    @staticmethod
    def function(mappingFunction: Callable[..., Any]) -> StateSpec:
        """A spec of ``mappingFunction``: ``f(key, value, state)`` or
        ``f(time, key, value, state)``, returning the element to emit (None emits None).

        Parameters
        ----------
        mappingFunction : callable

        Returns
        -------
        StateSpec
        """
        return StateSpec(mappingFunction)

    def initialState(self, rdd: RDD) -> StateSpec:
        """Start from the (key, state) pairs of ``rdd``.

        Parameters
        ----------
        rdd : RDD

        Returns
        -------
        StateSpec
        """
        from fastdstream.engine.rdd import RDD

        if not isinstance(rdd, RDD):
            raise TypeError(f"StateSpec.initialState takes an RDD of (key, state) pairs, got "
                            f"{type(rdd).__name__}")
        self._initial_state = rdd
        return self

    def numPartitions(self, numPartitions: int) -> StateSpec:
        """Hash-partition the state into ``numPartitions`` partitions.

        Parameters
        ----------
        numPartitions : int

        Returns
        -------
        StateSpec
        """
        if isinstance(numPartitions, bool) or not isinstance(numPartitions, int) \
                or numPartitions < 1:
            raise ValueError(f"StateSpec.numPartitions must be a positive int, got "
                             f"{numPartitions!r}")
        self._num_partitions = numPartitions
        return self

    def partitioner(self, partitionFunc: Callable[[Any], int]) -> StateSpec:
        """Partition the state by ``partitionFunc(key) % numPartitions`` (a function, as
        PySpark's ``partitionBy`` takes, where Spark takes a ``Partitioner``).

        Parameters
        ----------
        partitionFunc : callable

        Returns
        -------
        StateSpec
        """
        if not callable(partitionFunc):
            raise TypeError("StateSpec.partitioner takes a function of the key, got "
                            f"{type(partitionFunc).__name__}")
        self._partition_func = partitionFunc
        return self

    def timeout(self, idleDuration: float) -> StateSpec:
        """Remove the state of a key that has had no data for more than ``idleDuration``
        seconds; the mapping function is called a last time for it with value None and
        ``state.isTimingOut()`` True.

        Parameters
        ----------
        idleDuration : float or datetime.timedelta
            Seconds.

        Returns
        -------
        StateSpec
        """
        if hasattr(idleDuration, "total_seconds"):
            idleDuration = idleDuration.total_seconds()
        ms = round(float(idleDuration) * 1000)
        if ms <= 0:
            raise ValueError(f"StateSpec.timeout must be positive, got {idleDuration!r}")
        self._timeout_ms = ms
        return self

    def getFunction(self) -> Callable[..., Any]:
        """The mapping function.

        Returns
        -------
        callable
        """
        return self._function

    def getInitialStateRDD(self) -> RDD | None:
        """The initial state RDD, if one was given.

        Returns
        -------
        RDD or None
        """
        return self._initial_state

    def getNumPartitions(self) -> int | None:
        """The number of state partitions, if set.

        Returns
        -------
        int or None
        """
        return self._num_partitions

    def getPartitioner(self) -> Callable[[Any], int] | None:
        """The partition function, if set.

        Returns
        -------
        callable or None
        """
        return self._partition_func

    def getTimeout(self) -> float | None:
        """The idle timeout in seconds, if set.

        Returns
        -------
        float or None
        """
        return None if self._timeout_ms is None else self._timeout_ms / 1000

    def __repr__(self) -> str:
        return (f"StateSpec(function={getattr(self._function, '__qualname__', self._function)}, "
                f"numPartitions={self._num_partitions}, timeout={self.getTimeout()})")


def timeout_ms(spec: StateSpec) -> int | None:
    """The spec's timeout in milliseconds, as the engine reads it."""
    return spec._timeout_ms

