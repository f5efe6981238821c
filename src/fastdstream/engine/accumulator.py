"""Accumulators: variables that tasks only add to and the driver reads.

As in Spark: the copy of an accumulator that a task closure carries starts at
the accumulator's zero; what a task adds is kept in its :class:`TaskContext`
(the tasks of a stage share one deserialized closure, so the copy itself holds
nothing), returned with the task's result, and merged into the driver's
accumulator when the task succeeds -- once per successful task: a failed
attempt's additions are dropped, and a partition that a retried stage computes
again is not counted twice. Only the driver reads ``.value``.
"""

from __future__ import annotations

import copy
import threading
import weakref
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from fastdstream.engine.backend.task_context import TaskContext
from fastdstream.errors import FastDStreamError

T = TypeVar("T")

__all__ = [
    "COMPLEX_ACCUMULATOR_PARAM",
    "FLOAT_ACCUMULATOR_PARAM",
    "INT_ACCUMULATOR_PARAM",
    "Accumulator",
    "AccumulatorParam",
    "AccumulatorRegistry",
    "AddingAccumulatorParam",
]


class AccumulatorParam(Generic[T]):
    """How to add to an accumulator of a type: its zero and its addition (PySpark's).

    Examples
    --------
    >>> class ListParam(AccumulatorParam):
    ...     def zero(self, value):
    ...         return []
    ...     def addInPlace(self, value1, value2):
    ...         value1.extend(value2)
    ...         return value1
    >>> ListParam().addInPlace(ListParam().zero([1]), [2, 3])
    [2, 3]
    """

    def zero(self, value: T) -> T:
        """The zero ("identity") of the type, given the accumulator's initial value."""
        raise NotImplementedError

    def addInPlace(self, value1: T, value2: T) -> T:
        """Add two values of the type; may change and return ``value1``."""
        raise NotImplementedError


class AddingAccumulatorParam(AccumulatorParam[T]):
    """An AccumulatorParam that adds with ``+=``, from a given zero."""

    def __init__(self, zero_value: T):
        self.zero_value = zero_value

    def zero(self, value: T) -> T:
        """The zero given to the constructor."""
        return self.zero_value

    def addInPlace(self, value1: T, value2: T) -> T:
        """``value1 += value2``."""
        value1 += value2  # type: ignore[operator]
        return value1


INT_ACCUMULATOR_PARAM: AccumulatorParam[int] = AddingAccumulatorParam(0)
FLOAT_ACCUMULATOR_PARAM: AccumulatorParam[float] = AddingAccumulatorParam(0.0)
COMPLEX_ACCUMULATOR_PARAM: AccumulatorParam[complex] = AddingAccumulatorParam(0.0j)


class Accumulator(Generic[T]):
    """A shared variable tasks add to (PySpark's ``Accumulator``); made by
    :meth:`Context.accumulator`.

    Examples
    --------
    >>> from fastdstream import Context
    >>> sc = Context("local[2]")
    >>> a = sc.accumulator(1)
    >>> sc.parallelize([1, 2, 3]).foreach(lambda x: a.add(x))
    >>> a.value
    7
    >>> a += 10
    >>> a.value
    17
    >>> sc.stop()
    """

    def __init__(self, aid: int, value: T, accum_param: AccumulatorParam[T]):
        self.aid = aid
        self.accum_param = accum_param
        self._value = value
        self._zero: T | None = None  # a task's copy starts from a copy of this
        self._on_driver = True
        self._lock = threading.Lock()

    def __reduce__(self) -> tuple[Any, ...]:
        zero = self._zero if not self._on_driver else self.accum_param.zero(self._value)
        return (_task_copy, (self.aid, zero, self.accum_param))

    @property
    def value(self) -> T:
        """The accumulated value; only the driver can read it.

        Raises
        ------
        FastDStreamError
            Inside a task.
        """
        if not self._on_driver or TaskContext.get() is not None:
            raise FastDStreamError("Accumulator.value cannot be accessed inside tasks")
        return self._value

    @value.setter
    def value(self, value: T) -> None:
        if not self._on_driver or TaskContext.get() is not None:
            raise FastDStreamError("Accumulator.value cannot be accessed inside tasks")
        self._value = value

    def add(self, term: T) -> None:
        """Add ``term`` to this accumulator's value (in a task: to what the task adds)."""
        context = TaskContext.get()
        if context is not None:
            updates = context._accumulator_updates
            if self.aid not in updates:
                zero = (copy.deepcopy(self._zero) if not self._on_driver
                        else self.accum_param.zero(self._value))
                updates[self.aid] = zero
            updates[self.aid] = self.accum_param.addInPlace(updates[self.aid], term)
            return
        if not self._on_driver:
            raise FastDStreamError(
                f"accumulator {self.aid}: a task's copy is added to inside that task only")
        with self._lock:
            self._value = self.accum_param.addInPlace(self._value, term)

    def _merge(self, update: T) -> None:
        with self._lock:
            self._value = self.accum_param.addInPlace(self._value, update)

    def __iadd__(self, term: T) -> Accumulator[T]:
        """``acc += term`` is ``acc.add(term)``."""
        self.add(term)
        return self

    def __str__(self) -> str:
        return str(self._value)

    def __repr__(self) -> str:
        return f"Accumulator<id={self.aid}, value={self._value}>"


def _task_copy(aid: int, zero: Any, param: AccumulatorParam[Any]) -> Accumulator[Any]:
    acc: Accumulator[Any] = Accumulator(aid, zero, param)
    acc._zero = zero
    acc._on_driver = False
    return acc


def default_param(value: Any) -> AccumulatorParam[Any]:
    """PySpark's choice of AccumulatorParam for an initial value: int, float or complex."""
    if isinstance(value, int):
        return INT_ACCUMULATOR_PARAM
    if isinstance(value, float):
        return FLOAT_ACCUMULATOR_PARAM
    if isinstance(value, complex):
        return COMPLEX_ACCUMULATOR_PARAM
    raise TypeError(f"No default accumulator param for type {type(value)}")


class AccumulatorRegistry:
    """The driver's accumulators by id, where tasks' additions are merged."""

    def __init__(self) -> None:
        self._accumulators: weakref.WeakValueDictionary[int, Accumulator[Any]] = (
            weakref.WeakValueDictionary())
        self._ids = 0
        self._lock = threading.Lock()

    def new(self, value: T, param: AccumulatorParam[T]) -> Accumulator[T]:
        with self._lock:
            aid = self._ids
            self._ids += 1
            acc = Accumulator(aid, value, param)
            self._accumulators[aid] = acc
        return acc

    def merge(self, updates: Mapping[int, Any]) -> None:
        """Merge one successful task's additions (an accumulator gone is skipped)."""
        for aid, update in updates.items():
            acc = self._accumulators.get(aid)
            if acc is not None:
                acc._merge(update)
