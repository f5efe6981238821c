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

import builtins
import operator
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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
    return Plan(operation, label, kernel, guard, entry.description)


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
        binary table) once ``fastdstream.kafka`` is imported.
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


# --- the engine's entries ----------------------------------------------------------------
#
# Each guard is what makes the kernel exact; the tests check every entry against Python
# (tests/engine/columnar/test_registry.py) and the README's table against this list.


def _column_type(table: pa.Table) -> pa.DataType | None:
    return table.schema.types[0] if table.num_columns == 1 else None


def _is_string(t: pa.DataType | None) -> bool:
    return t is not None and (pa.types.is_string(t) or pa.types.is_large_string(t))


def _is_binary(t: pa.DataType | None) -> bool:
    return t is not None and (pa.types.is_binary(t) or pa.types.is_large_binary(t))


def string_column(table: pa.Table) -> bool:
    """One string column without nulls (Python's str methods raise on None)."""
    return _is_string(_column_type(table)) and table.column(0).null_count == 0


def ascii_string_column(table: pa.Table) -> bool:
    """One string column without nulls, all ASCII.

    Python's case mappings are Unicode's full ones ('ß'.upper() == 'SS', final sigma,
    'ǆ'.title() == 'ǅ'); Arrow's are simple mappings. They agree on ASCII only.
    """
    if not string_column(table):
        return False
    return pc.all(pc.string_is_ascii(table.column(0))).as_py() is not False


def sized_column(table: pa.Table) -> bool:
    """One string or binary column without nulls (``len(None)`` raises)."""
    t = _column_type(table)
    return (_is_string(t) or _is_binary(t)) and table.column(0).null_count == 0


def truthy_column(table: pa.Table) -> bool:
    """One string or binary column: truthiness is length > 0, and None is falsy."""
    t = _column_type(table)
    return _is_string(t) or _is_binary(t)


def _one_column(table: pa.Table, column: pa.ChunkedArray | pa.Array) -> pa.Table:
    return pa.table({table.column_names[0]: column})


def ascii_lower(table: pa.Table) -> pa.Table:
    return _one_column(table, pc.ascii_lower(table.column(0)))


def ascii_upper(table: pa.Table) -> pa.Table:
    return _one_column(table, pc.ascii_upper(table.column(0)))


def ascii_title(table: pa.Table) -> pa.Table:
    # Python's title() starts a word after any uncased character (digits and
    # apostrophes too: "they're 1st" -> "They'Re 1St"); Arrow's does the same on ASCII.
    return _one_column(table, pc.ascii_title(table.column(0)))


def trim_whitespace(table: pa.Table) -> pa.Table:
    # Arrow's Unicode whitespace is Python's: category Zs or bidi class WS/B/S, so
    # U+001C..U+001F, U+0085 and U+2028 are stripped by both (checked per code point).
    return _one_column(table, pc.utf8_trim_whitespace(table.column(0)))


def length(table: pa.Table) -> pa.Table:
    column = table.column(0)
    if _is_string(column.type):
        return _one_column(table, pc.utf8_length(column))  # code points, as len(str)
    return _one_column(table, pc.binary_length(column))


def split_whitespace(table: pa.Table) -> pa.Table:
    # Trailing whitespace first goes (str.split() drops it anyway): Arrow's splitter
    # decodes one code point past a string that ends in whitespace, so the last string
    # of a buffer gave a stray whitespace "word" whenever the bytes after it were not
    # UTF-8 -- at random, from uninitialised padding (found by the property test).
    column = pc.utf8_rtrim_whitespace(table.column(0))
    words = pc.list_flatten(pc.utf8_split_whitespace(column))
    # Arrow keeps the empty strings between runs of whitespace; str.split() does not.
    return _one_column(table, words.filter(pc.greater(pc.binary_length(words), 0)))


def non_empty(table: pa.Table) -> pa.Table:
    # A null length compares to null, and filter drops null selections: bool(None) is False.
    return table.filter(pc.greater(pc.binary_length(table.column(0)), 0))


def is_single_itemgetter(func: Any) -> bool:
    """``operator.itemgetter(i)`` with one int ``i``: it maps a row to one column."""
    return _item(func) is not None


def _item(func: Any) -> int | None:
    if not isinstance(func, operator.itemgetter):
        return None
    reduced = func.__reduce__()
    items: tuple[Any, ...] = reduced[1] if isinstance(reduced, tuple) else ()
    if len(items) == 1 and isinstance(items[0], int) and not isinstance(items[0], bool):
        return items[0]
    return None


def item_in_columns(func: operator.itemgetter[Any], table: pa.Table) -> bool:
    # A one-column table's rows are its values, not tuples: itemgetter would index into
    # the value itself, so only wider tables select.
    index = _item(func)
    return index is not None and table.num_columns >= 2 and (
        -table.num_columns <= index < table.num_columns
    )


def select_item(func: operator.itemgetter[Any], table: pa.Table) -> pa.Table:
    index = _item(func)
    assert index is not None
    return table.select([index % table.num_columns])


def _is_key_type(t: pa.DataType) -> bool:
    # What the core's grouping and hashing take (kernels._normalize_keys).
    if pa.types.is_dictionary(t):
        return _is_key_type(t.value_type)
    return (
        pa.types.is_null(t)
        or _is_string(t)
        or _is_binary(t)
        or pa.types.is_string_view(t)
        or pa.types.is_binary_view(t)
        or (pa.types.is_integer(t) and not pa.types.is_uint64(t))
    )


def _is_value_type(t: pa.DataType) -> bool:
    return (pa.types.is_integer(t) and not pa.types.is_uint64(t)) or pa.types.is_floating(t)


def _pair(table: pa.Table) -> pa.ChunkedArray | None:
    """The value column of a (key, value) table the core can reduce, without nulls."""
    if table.num_columns != 2:
        return None
    keys, values = table.columns
    if not (_is_key_type(keys.type) and _is_value_type(values.type)) or values.null_count:
        return None  # None + 1 raises in Python: nulls take the row path and raise there
    return values


def _has_negative_zero(values: pa.ChunkedArray) -> bool:
    if not pa.types.is_floating(values.type):
        return False
    as_f64 = values.cast(pa.float64()) if not pa.types.is_float64(values.type) else values
    for chunk in as_f64.chunks:
        bits = np.frombuffer(chunk.buffers()[1], dtype=np.int64)[
            chunk.offset: chunk.offset + len(chunk)
        ]
        if (bits == np.int64(-(2**63))).any():
            return True
    return False


def summable_pairs(table: pa.Table) -> bool:
    """(key, value) with string/binary/integer keys and integer/float values, no nulls.

    A -0.0 value takes the row path: the core's sums start at 0.0 and 0.0 + -0.0 is
    0.0, while Python's reduce keeps a lone -0.0. (An int64 sum that would overflow
    falls back to rows at run time.)
    """
    values = _pair(table)
    return values is not None and not _has_negative_zero(values)


def comparable_pairs(table: pa.Table) -> bool:
    """(key, value) as for sums, and no NaN: Python's min/max keep a NaN that comes
    first, the core skips NaN."""
    values = _pair(table)
    if values is None:
        return False
    return not (pa.types.is_floating(values.type) and pc.any(pc.is_nan(values)).as_py())


def countable_column(table: pa.Table) -> bool:
    """One column of string, binary or integer values (nulls count as ``None``)."""
    t = _column_type(table)
    return t is not None and _is_key_type(t)


_ENGINE = __name__

declare_operation("map", "table")
declare_operation("flatMap", "table")
declare_operation("filter", "table")
declare_operation("reduceByKey", "reduce")
declare_operation("countByValue", "reduce", takes_function=False)

_ASCII_ONLY = "one string column, no nulls, ASCII only"
_STRINGS = "one string column, no nulls"
for _func, _kernel in ((str.lower, ascii_lower), (str.upper, ascii_upper),
                       (str.title, ascii_title)):
    register("map", _func, _kernel, guard=ascii_string_column, description=_ASCII_ONLY,
             owner=_ENGINE)
register("map", str.strip, trim_whitespace, guard=string_column, description=_STRINGS,
         owner=_ENGINE)
register("map", builtins.len, length, guard=sized_column,
         description="one string or binary column, no nulls", owner=_ENGINE)
register("map", None, select_item, guard=item_in_columns, matches=is_single_itemgetter,
         label="operator.itemgetter(i)",
         description="a table of two or more columns (selects column i)", owner=_ENGINE)
register("flatMap", str.split, split_whitespace, guard=string_column, description=_STRINGS,
         owner=_ENGINE)
for _truth in (None, builtins.bool):
    register("filter", _truth, non_empty, guard=truthy_column,
             description="one string or binary column (keeps non-empty values)",
             owner=_ENGINE)
register("reduceByKey", operator.add, "sum", guard=summable_pairs,
         description="two columns: string, binary or integer keys; integer or float "
                     "values, no nulls, no -0.0",
         owner=_ENGINE)
for _compare, _op in ((builtins.min, "min"), (builtins.max, "max")):
    register("reduceByKey", _compare, _op, guard=comparable_pairs,
             description="two columns: string, binary or integer keys; integer or float "
                         "values, no nulls, no NaN",
             owner=_ENGINE)
register("countByValue", None, "count", guard=countable_column, label="",
         description="one column of string, binary or integer values", owner=_ENGINE)
del _func, _kernel, _op
