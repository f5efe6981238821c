"""The explain: an RDD's lineage, and for each step whether it runs columnar or on rows.

Static: it reads what the driver decided when the RDDs were built (each step's
:class:`~fastdstream.engine.columnar.registry.Plan`) and describes the guards, without
running them. The layout is Spark's ``toDebugString``: ``(N)`` partitions at each stage,
``+-`` where a shuffle starts a new stage, `` |  `` for the RDDs pipelined into it;
below a pipelined RDD, its steps, newest first.

Whether a step can be columnar also depends on what reaches it: a recognised function
after a lambda sees Python rows, so the explain follows the form of the partitions
(Arrow tables, Python rows, or either) down the lineage and says so.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial, reduce
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa

from fastdstream.engine import rdd_sampler, rdds, tasks
from fastdstream.engine.columnar.registry import Plan, function_label

if TYPE_CHECKING:
    from fastdstream.engine.rdd import RDD

__all__ = ["EITHER", "TABLES", "Form", "OpNote", "debug_string", "describe_op", "describe_plan",
           "rows_from", "union_of"]


@dataclass(frozen=True)
class Form:
    """What a step's partitions can be: Arrow tables, Python rows, or either."""

    table: bool
    rows: bool
    rows_from: str = ""  # the step that turned them into rows, for "why not"

    def __or__(self, other: Form) -> Form:
        return Form(self.table or other.table, self.rows or other.rows,
                    self.rows_from or other.rows_from)

    def describe(self) -> str:
        if self.table and not self.rows:
            return "Arrow tables"
        if self.rows and not self.table:
            return "Python rows"
        return "Arrow tables or Python rows"


TABLES = Form(True, False)
EITHER = Form(True, True)


def union_of(forms: Iterable[Form]) -> Form:
    """What a step whose inputs have these forms can see (no input at all: either)."""
    found = list(forms)
    return reduce(operator.or_, found) if found else EITHER


def rows_from(step: str) -> Form:
    return Form(False, True, step)


def describe_plan(plan: Plan, source: Form) -> tuple[str, Form]:
    """The explain line of a planned step given what reaches it, and what leaves it."""
    if not plan.columnar:
        return plan.explain(), rows_from(plan.step)
    if not source.table:
        why = f" (from {source.rows_from})" if source.rows_from else ""
        return f"{plan.step} rows: its input is Python rows{why}", rows_from(source.rows_from)
    if plan.guard is None:
        return plan.explain(), Form(True, source.rows, source.rows_from)
    return plan.explain(), Form(True, True, f"{plan.step} where its guard fails")


@dataclass(frozen=True)
class OpNote:
    """How an operation without a plan of its own treats partitions (for DStreams too).

    ``output``: "rows" (Python code over rows), "table" (Arrow in, Arrow out),
    "same" (moves partitions or rows as they are), "either" (unknown: a user's RDD
    function or a raw partition function).
    """

    name: str
    plan: Plan | None = None
    output: Literal["rows", "table", "same", "either"] = "rows"
    how: str = "Python code over rows"


def describe_op(note: OpNote, source: Form) -> tuple[str, Form]:
    if note.plan is not None:
        return describe_plan(note.plan, source)
    if note.output == "rows":
        return f"{note.name} rows: {note.how}", rows_from(note.name)
    if note.output == "table":
        caveat = "; fails on Python rows" if source.rows else ""
        return f"{note.name} columnar: {note.how}{caveat}", TABLES
    if note.output == "same":
        if not source.table:
            return f"{note.name} rows: its input is Python rows", source
        return f"{note.name} columnar on tables: {note.how}", source
    return f"{note.name}: {note.how}", EITHER


# --- RDDs -----------------------------------------------------------------------------------


_ROW_FUNCTIONS: dict[Callable[..., Any], str] = {
    tasks.map_rows: "map", tasks.filter_rows: "filter", tasks.flat_map: "flatMap",
    tasks.map_partition: "mapPartitions", tasks.glom_rows: "glom",
    tasks.map_values: "mapValues", tasks.flat_map_values: "flatMapValues",
}


def _method(py_fn: Callable[..., Any]) -> str:
    # Steps built inside an RDD method are tasks' row functions (partials of them) or
    # lambdas named after it: RDD.keyBy.<locals>.<lambda>; anything else is a user's
    # partition function (mapPartitionsWithIndex).
    named = _ROW_FUNCTIONS.get(py_fn.func if isinstance(py_fn, partial) else py_fn)
    if named is not None:
        return named
    match = re.match(r"^RDD\.(\w+)\.<locals>\.", getattr(py_fn, "__qualname__", "") or "")
    return match.group(1) if match else f"partition function {function_label(py_fn)}"


def _step(step: Any, source: Form) -> tuple[str, Form]:
    func = step.func if isinstance(step, partial) else step
    args = step.args if isinstance(step, partial) else ()
    if func is tasks._columnar_step:
        return describe_plan(args[1], source)
    if func is tasks._object_step:
        return describe_op(OpNote(_method(args[0])), source)
    if func is tasks.map_in_arrow:
        return describe_op(OpNote(f"mapInArrow({function_label(args[0])})", output="table",
                                  how="a function of Arrow record batches"), source)
    if func in (rdd_sampler.bernoulli, rdd_sampler.poisson, rdd_sampler.range_sample):
        name = "randomSplit" if func is rdd_sampler.range_sample else "sample"
        return describe_op(OpNote(name, output="same",
                                  how="a NumPy draw per row, kept by an Arrow filter"), source)
    if func in (tasks.index_step, tasks.unique_id_step):
        name = "zipWithIndex" if func is tasks.index_step else "zipWithUniqueId"
        return describe_op(OpNote(name, output="either",
                                  how="an index column added to a one-column table; "
                                      "pairs of Python rows otherwise"), source)
    if func is tasks.pipe_partition:
        return describe_op(OpNote(f"pipe({args[0]!r})", how="each element, as a line, "
                                  "through an external process"), source)
    if func is tasks.tag_values:
        return describe_op(OpNote("cogroup", how="tags values by side"), source)
    return describe_op(OpNote(function_label(func), output="either",
                              how="a function of the raw partition"), source)


def _shuffle(rdd: rdds.ShuffledRDD, source: Form) -> tuple[str, Form]:
    plan = getattr(rdd, "_plan", None)
    if plan is not None:
        text, form = describe_plan(plan, source)
        # The reduce side merges the kernel's partial tables, or rows where any map side
        # fell back: what leaves is what the map side made.
        return text, form
    map_side = rdd.map_side.func if isinstance(rdd.map_side, partial) else rdd.map_side
    if map_side is tasks.partition_map_side:
        if not rdd.partitioner or not rdd.partitioner.is_default:
            return describe_op(OpNote("partitionBy", how="a custom partitionFunc"), source)
        return describe_op(OpNote("partitionBy", output="same",
                                  how="the core's hash partitioning"), source)
    if map_side is tasks.round_robin:
        return describe_op(OpNote("repartition", output="same", how="slices"), source)
    if map_side is tasks.combine_map_side:
        return describe_op(OpNote("combineByKey", how="Python combiner functions"), source)
    return describe_op(OpNote("shuffle", output="either", how=function_label(map_side)), source)


def _slices_form(slices: list[Any]) -> Form:
    tables = sum(isinstance(s, pa.Table) for s in slices)
    if slices and tables == len(slices):
        return TABLES
    if tables == 0:
        return rows_from("parallelize")
    return EITHER


class _Explainer:
    """One explain: the lines of each RDD, and the form of its partitions (memoised)."""

    def __init__(self) -> None:
        self._forms: dict[int, Form] = {}
        self._lines: dict[int, list[str]] = {}

    def describe(self, rdd: RDD) -> tuple[list[str], Form]:
        if rdd._id not in self._forms:
            lines, form = self._describe(rdd)
            if rdd.is_cached:
                lines[0] += " [cached]"
            self._lines[rdd._id], self._forms[rdd._id] = lines, form
        return self._lines[rdd._id], self._forms[rdd._id]

    def _source(self, rdd: RDD) -> Form:
        return union_of(self.describe(p)[1] for p in rdd._parents)

    def _describe(self, rdd: RDD) -> tuple[list[str], Form]:
        name = repr(rdd).split(" (")[0]  # "PipelinedRDD[3]"
        hook = getattr(rdd, "_explain_source", None)
        if hook is not None:  # a source's own RDD (Kafka) says what it produces
            text, form = hook()
            return [f"{name} {text}"], form
        if isinstance(rdd, rdds.PipelinedRDD):
            form = self._source(rdd)
            steps = []
            for step in rdd._steps:
                text, form = _step(step, form)
                steps.append(f"  {text}")
            count = len(steps)
            header = f"{name} {count} step" + ("s" if count != 1 else "")
            return [header, *reversed(steps)], form
        if isinstance(rdd, rdds.ShuffledRDD):
            text, form = _shuffle(rdd, self._source(rdd))
            return [f"{name} {text}"], form
        if isinstance(rdd, rdds.ParallelCollectionRDD):
            form = _slices_form(rdd._slices)
            return [f"{name} {form.describe()}"], form
        if isinstance(rdd, rdds.EmptyRDD):
            return [f"{name} no partitions"], TABLES
        if isinstance(rdd, rdds.BlockRDD):
            return [f"{name} received blocks"], EITHER
        if isinstance(rdd, rdds.CartesianRDD):
            self._source(rdd)
            return [f"{name} rows: pairs of Python rows"], rows_from("cartesian")
        if isinstance(rdd, rdds.ZippedRDD):
            form = self._source(rdd)
            if not form.table:
                return [f"{name} zip rows: pairs of Python rows"], rows_from("zip")
            return [f"{name} zip columnar where both sides are one-column tables; else "
                    "pairs of Python rows"], Form(True, True, "zip")
        if isinstance(rdd, rdds.UnionRDD):
            form = self._source(rdd)
            return [f"{name} union: {form.describe()}"], form
        if isinstance(rdd, rdds.CoPartitionedRDD):
            text, form = describe_op(rdd.note, self._source(rdd))
            return [f"{name} {text}"], form
        if isinstance(rdd, rdds.CoalescedRDD):
            form = self._source(rdd)
            return [f"{name} coalesce: {form.describe()}"], form
        return [name], self._source(rdd)


def debug_string(rdd: RDD) -> str:
    """The explain of ``rdd``: its lineage back to its sources, one line per RDD/step."""
    explainer = _Explainer()
    return "\n".join(_stage(explainer, rdd, prefix="", top=True, last=True))


def _stage(explainer: _Explainer, rdd: RDD, prefix: str, top: bool, last: bool) -> list[str]:
    """An RDD that starts a stage (the top, or the parent of a shuffle): Spark's layout."""
    lines, _ = explainer.describe(rdd)
    partitions = f"({rdd.getNumPartitions()})"
    left = (len(partitions) - 1) // 2
    bar = " " * left + "|" + " " * (len(partitions) - left)
    if top:
        this, below = "", bar
        first = f"{partitions} {lines[0]}"
    else:
        this = re.sub(r"\|\s+$", "", prefix)
        below = this + ("  " if last else "| ") + bar
        first = f"{this}+-{partitions} {lines[0]}"
    return [first, *(below + line for line in lines[1:]), *_parents(explainer, rdd, below)]


def _parents(explainer: _Explainer, rdd: RDD, prefix: str) -> list[str]:
    out: list[str] = []
    parents = rdd._parents
    shuffle = isinstance(rdd, rdds.ShuffledRDD)
    for i, parent in enumerate(parents):
        last = i == len(parents) - 1
        if shuffle:
            out.extend(_stage(explainer, parent, prefix, top=False, last=last))
        else:
            lines, _ = explainer.describe(parent)
            out.extend(prefix + line for line in lines)
            out.extend(_parents(explainer, parent, prefix))
    return out
