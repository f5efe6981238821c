"""The registry of recognised functions: (operation, function) -> (guard, kernel).

One table answers, for every place that can keep a batch columnar, which user
functions have an Arrow kernel and when that kernel gives exactly what Python
would. An entry is

- keyed by an **operation** (the RDD/DStream method name: ``"map"``, ``"flatMap"``,
  ``"filter"``, ``"reduceByKey"``, ``"countByValue"``; sources declare their own, e.g.
  the Kafka ``"decoder"``) and a **function**, matched by identity/equality, or by a
  predicate on the function for kinds such as ``operator.itemgetter(i)``;
- a **guard**, run per partition on the executor, that says whether the kernel's
  result equals Python's for that table (nulls, Unicode, overflow, NaN); when it
  says no, the row path runs;
- a **kernel**: table -> table, or for reductions the name of the compiled core's
  op (``"sum"``, ``"min"``, ``"max"``, ``"count"``);
- a **description** of when the step is columnar (the README's table and the
  explain print it).

Lookups happen on the driver when an RDD is built: the step closes over the
resulting :class:`Plan` (guard and kernel, both picklable), so executors in other
processes never consult this module's tables, and registering later does not
change an RDD already built.

Each module registers its own entries: the engine's generic ones are at the end of
this module; the Kafka source registers ``utf8_decoder``; users call
:func:`register_kernel`.
"""

from __future__ import annotations

import operator
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, cast

import pyarrow as pa

__all__ = [
    "Entry",
    "Plan",
    "declare_operation",
    "entries",
    "function_label",
    "lookup",
    "plan",
    "register",
    "register_kernel",
    "unregister",
]

Guard = Callable[[pa.Table], bool]
TableKernel = Callable[[pa.Table], pa.Table]
Kernel = TableKernel | str
# A kernel of an entry matched by kind takes the matched function first.
MatchedKernel = Callable[[Any, pa.Table], pa.Table]
Kind = Literal["table", "reduce"]

# The compiled core's reductions (fastdstream.engine.columnar.kernels.reduce_by_key).
REDUCE_KERNELS = ("sum", "min", "max", "count")

USER = "user"  # the owner of entries made through register_kernel


# --- the registry's records ------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    """A place in the engine (or a source) that consults the registry."""

    name: str
    kind: Kind  # "table": kernels map table -> table; "reduce": kernels name a core op
    takes_function: bool = True  # countByValue has no function of its own


@dataclass(frozen=True)
class Entry:
    """One recognised (operation, function).

    For an entry matched by a predicate (``matches``), the guard and a callable kernel
    take the matched function as their first argument: ``guard(func, table)``.
    """

    operation: str
    label: str  # the function as the README and the explain name it
    kernel: Kernel | MatchedKernel
    guard: Callable[..., bool] | None
    description: str  # when the step is columnar: the guard in words
    owner: str  # the registering module, or "user"
    function: Any = None
    matches: Callable[[Any], bool] | None = None


@dataclass(frozen=True)
class Plan:
    """What one step does, decided on the driver when its RDD is built.

    The plan travels with the task: its guard and kernel are module-level functions
    (or partials of them, or a user's picklable functions), never a registry lookup.
    """

    operation: str
    label: str  # the user's function, as the explain shows it
    kernel: Kernel | None = None  # None: the step runs on Python rows
    guard: Guard | None = None  # None: every table takes the kernel
    condition: str = ""  # when columnar (the entry's description)
    reason: str = ""  # why rows, when there is no kernel

    @property
    def columnar(self) -> bool:
        return self.kernel is not None

    @property
    def step(self) -> str:
        """The step as the explain names it: ``map(str.lower)``, ``countByValue()``."""
        return f"{self.operation}({self.label})"

    def accepts(self, data: Any) -> bool:
        """Whether this partition takes the kernel: a table the guard passes."""
        if self.kernel is None or not isinstance(data, pa.Table):
            return False
        return self.guard is None or bool(self.guard(data))

    def run(self, table: pa.Table) -> pa.Table:
        """Apply a table kernel; a wrong return type is the kernel's bug, named here."""
        assert callable(self.kernel)
        out = self.kernel(table)
        if isinstance(out, pa.RecordBatch):
            out = pa.Table.from_batches([out])
        if not isinstance(out, pa.Table):
            raise TypeError(
                f"the kernel registered for {self.step} returned {type(out).__name__}, "
                "not a pyarrow.Table"
            )
        return out

    def explain(self) -> str:
        """One line: the step, and whether it runs columnar or on rows and why."""
        if self.kernel is None:
            return f"{self.step} rows: {self.reason}"
        if self.guard is None:
            return f"{self.step} columnar on any table" + (
                f" ({self.condition})" if self.condition else ""
            )
        return f"{self.step} columnar when {self.condition}; else rows"


_lock = threading.Lock()
_operations: dict[str, Operation] = {}
_entries: list[Entry] = []  # registration order: the README lists them in this order
_exact: dict[tuple[str, Any], Entry] = {}
# What the compiled core's reduction needs of a table to give what Python gives on the
# rows (no nulls: None + 1 raises; no -0.0; no NaN for min/max), per op, set by the
# module that owns those checks (columnar.functions). Every reduce plan runs it before
# the entry's own guard: a user's guard cannot let nulls into the core, which skips them.
_core_guards: dict[str, Guard] = {}
_core_conditions: dict[str, str] = {}


def set_core_guard(op: str, guard: Guard, condition: str) -> None:
    """Set the check every reduction with the core's ``op`` runs first (see above)."""
    if op not in REDUCE_KERNELS:
        raise ValueError(f"not a core reduction: {op!r}")
    with _lock:
        _core_guards[op] = guard
        _core_conditions[op] = condition


def _both(first: Guard, second: Callable[[pa.Table], bool], table: pa.Table) -> bool:
    return bool(first(table)) and bool(second(table))


def declare_operation(name: str, kind: Kind, *, takes_function: bool = True) -> None:
    """Make ``name`` an operation entries can be registered for (idempotent)."""
    if kind not in ("table", "reduce"):
        raise ValueError(f"operation kind must be 'table' or 'reduce', got {kind!r}")
    with _lock:
        _operations[name] = Operation(name, kind, takes_function)


def _operation(name: str) -> Operation:
    try:
        return _operations[name]
    except KeyError:
        known = ", ".join(sorted(_operations))
        raise ValueError(f"unknown operation {name!r}: kernels can be registered for {known}"
                         ) from None


def _key(operation: str, func: Any) -> tuple[str, Any] | None:
    try:
        key = (operation, func)
        hash(key)
    except TypeError:  # an unhashable callable cannot be a registry key
        return None
    return key


def register(
    operation: str,
    func: Any,
    kernel: Kernel | MatchedKernel,
    *,
    guard: Callable[..., bool] | None = None,
    description: str,
    owner: str,
    label: str | None = None,
    matches: Callable[[Any], bool] | None = None,
) -> Entry:
    """Add an entry (the modules' way in; users call :func:`register_kernel`).

    ``func`` is matched by identity/equality; with ``matches`` instead, any function
    the predicate accepts is matched, and ``guard``/``kernel`` receive it first.
    """
    op = _operation(operation)
    if op.kind == "reduce":
        # "count" counts rows: no two-argument function of a user's reduces like it.
        allowed = REDUCE_KERNELS if not op.takes_function else ("sum", "min", "max")
        if kernel not in allowed:
            raise ValueError(
                f"a {operation} kernel names the core's reduction: one of "
                f"{', '.join(allowed)}, not {kernel!r}"
            )
    elif not callable(kernel):
        raise TypeError(f"a {operation} kernel maps a pyarrow.Table to a pyarrow.Table; "
                        f"got {type(kernel).__name__}")
    if guard is not None and not callable(guard):
        raise TypeError(f"guard must be callable or None, got {type(guard).__name__}")
    if matches is None and op.takes_function and func is not None and not callable(func):
        raise TypeError(f"func must be a callable, got {type(func).__name__}")
    entry = Entry(
        operation=operation,
        label=label if label is not None else function_label(func),
        kernel=kernel,
        guard=guard,
        description=description,
        owner=owner,
        function=func,
        matches=matches,
    )
    with _lock:
        if matches is not None:
            _entries.append(entry)
            return entry
        key = _key(operation, func)
        if key is None:
            raise TypeError(f"func must be hashable to be registered, got {func!r}")
        old = _exact.get(key)
        if old is not None:
            if old.owner != owner and old.owner != USER:
                raise ValueError(
                    f"{old.label} is already registered for {operation} by {old.owner}; "
                    "its kernel is exact, so it cannot be replaced"
                )
            _entries[_entries.index(old)] = entry
        else:
            _entries.append(entry)
        _exact[key] = entry
    return entry


def unregister(operation: str, func: Any) -> None:
    """Remove the exact entry for ``(operation, func)``, if there is one."""
    key = _key(operation, func)
    with _lock:
        entry = _exact.pop(key, None) if key is not None else None
        if entry is not None:
            _entries.remove(entry)


def entries() -> list[Entry]:
    """Every entry, in registration order."""
    with _lock:
        return list(_entries)


def lookup(operation: str, func: Any) -> Entry | None:
    """The entry that recognises ``func`` for ``operation``, or None."""
    key = _key(operation, func)
    if key is not None:
        try:
            entry = _exact.get(key)
        except (TypeError, ValueError):  # an __eq__ that cannot answer: not recognised
            entry = None
        if entry is not None:
            return entry
    for entry in reversed(entries()):  # the latest predicate entry wins
        if entry.operation == operation and entry.matches is not None and entry.matches(func):
            return entry
    return None


def plan(operation: str, func: Any = None) -> Plan:
    """The driver's decision for one step: a kernel with its guard, or rows and why."""
    op = _operation(operation)
    label = function_label(func) if op.takes_function else ""
    entry = lookup(operation, func)
    if entry is None:
        return Plan(operation, label, reason=f"not a registered function for {operation}")
    guard = entry.guard
    kernel: Kernel
    if entry.matches is not None:
        # Bind the matched function (itemgetter(1) -> column 1): a partial of module-level
        # functions, so the plan still pickles by reference.
        guard = partial(guard, func) if guard is not None else None
        kernel = partial(entry.kernel, func) if callable(entry.kernel) else entry.kernel
    else:
        kernel = cast(Kernel, entry.kernel)
    description = entry.description
    if op.kind == "reduce" and isinstance(kernel, str):
        with _lock:
            core, condition = _core_guards.get(kernel), _core_conditions.get(kernel, "")
        if core is not None and guard is not core:
            guard = core if guard is None else partial(_both, core, guard)
            if condition and condition not in description:
                description = f"{condition}; and {description}" if description else condition
    return Plan(operation, label, kernel, guard, description)


def function_label(func: Any) -> str:
    """A short, stable name for a function: ``str.lower``, ``operator.add``, ``<lambda>``."""
    if func is None:
        return "None"
    if isinstance(func, operator.itemgetter | operator.attrgetter | operator.methodcaller):
        return repr(func)
    if isinstance(func, partial):
        return f"partial({function_label(func.func)})"
    name = getattr(func, "__qualname__", None) or getattr(func, "__name__", None)
    if not isinstance(name, str):
        return f"<{type(func).__name__} object>"
    name = name.rpartition(".<locals>.")[2]  # a nested function: its own name reads best
    if getattr(func, "__module__", None) in ("operator", "_operator"):
        return f"operator.{name}"
    return name


def register_kernel(
    operation: str,
    func: Callable[..., Any],
    kernel: TableKernel | str,
    *,
    guard: Guard | None = None,
    description: str = "",
) -> None:
    """Give a function of yours a columnar kernel, used wherever the engine sees it.

    After registration, ``rdd.map(func)`` / ``flatMap`` / ``filter`` (and their
    DStream forms) run ``kernel`` on each Arrow-table partition that ``guard``
    accepts, and ``func`` on Python rows everywhere else. RDDs already built keep
    the decision they were built with.

    Parameters
    ----------
    operation : {"map", "flatMap", "filter", "reduceByKey"} or a source's operation
        The method that takes ``func``. Sources add theirs: the Kafka source accepts
        ``"decoder"`` (a ``keyDecoder``/``valueDecoder``; its kernel maps a one-column
        binary table) once ``fastdstream.kafka`` is imported; ``"updateStateByKey"``
        takes an update function with ``"sum"``, ``"min"`` or ``"max"``, promising it
        returns ``sum(newValues) + (lastState or 0)`` (or the min/max of the new values
        and the state), and keeps the state columnar.
    func : callable
        Your function, matched by identity: pass the same object to ``map``.
    kernel : callable or str
        For map/flatMap/filter, ``kernel(table) -> table``: the rows ``map(func)``,
        ``flatMap(func)`` or ``filter(func)`` would give, as a :class:`pyarrow.Table`
        (a one-column table reads as its values, a wider one as tuples). For
        ``reduceByKey``, the compiled reduction: ``"sum"``, ``"min"`` or ``"max"``
        over a (key, value) table. Kernel and guard are shipped to executors with the
        task, so they must pickle (module-level functions, or closures cloudpickle
        can carry).
    guard : callable, optional
        ``guard(table) -> bool``, per partition: True where ``kernel`` gives exactly
        what ``func`` would on the rows (mind nulls, Unicode, overflow). None means
        every table partition takes the kernel.
    description : str, optional
        When the step is columnar, in words; ``RDD.explain()`` prints it.

    Raises
    ------
    ValueError
        Unknown ``operation``, a reduction other than sum/min/max/count, or ``func``
        is one of fastdstream's own entries (those are exact and stay).
    TypeError
        ``kernel`` or ``guard`` is not callable (a reduction's kernel is a name).

    Examples
    --------
    >>> import pyarrow as pa, pyarrow.compute as pc
    >>> from fastdstream import Context, register_kernel
    >>> def shout(s):
    ...     return s.upper() + "!"
    >>> def shout_kernel(table):
    ...     loud = pc.binary_join_element_wise(pc.ascii_upper(table.column(0)), "!", "")
    ...     return pa.table({table.column_names[0]: loud})
    >>> def ascii_strings(table):  # where ASCII upper-casing equals str.upper
    ...     col = table.column(0)
    ...     return (table.num_columns == 1 and pa.types.is_string(col.type)
    ...             and col.null_count == 0 and pc.all(pc.string_is_ascii(col)).as_py())
    >>> register_kernel("map", shout, shout_kernel, guard=ascii_strings,
    ...                 description="one ASCII string column, no nulls")
    >>> sc = Context("local[1]")
    >>> loud = sc.parallelize(pa.table({"value": ["hi", "yo"]}), 1).map(shout)
    >>> loud.collect()
    ['HI!', 'YO!']
    >>> print(loud.explain())
    (1) PipelinedRDD[1] 1 step
     |    map(shout) columnar when one ASCII string column, no nulls; else rows
     |  ParallelCollectionRDD[0] Arrow tables
    >>> sc.stop()
    """
    if not _operation(operation).takes_function:
        raise ValueError(f"{operation} takes no function of yours to register a kernel for")
    if not description and guard is not None:
        description = f"{function_label(guard)} accepts the table"
    register(operation, func, kernel, guard=guard, description=description, owner=USER)
