"""The registry of recognised functions: every entry keeps its step columnar, every guard
sends what the kernel would get wrong to the row path, and user kernels are used."""

from __future__ import annotations

import math
import operator
import pickle
import sys
from functools import reduce

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastdstream import register_kernel
from fastdstream.engine.columnar import functions, registry
from fastdstream.testing import partitions

PROPERTY = settings(max_examples=80, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def sc(module_sc):
    return module_sc


def kinds(rdd) -> set[str]:
    """The type of every partition the RDD computes: {"Table"} means no Python rows."""
    return set(rdd._run(lambda _, data: type(data).__name__))


def strings(*values, type=None):
    return pa.table({"value": pa.array(values, type or pa.string())})


PAIRS = pa.table({"k": ["a", "b", "a", "c", "b", "a"], "v": [1, 2, 3, 4, 5, 6]})
FLOAT_PAIRS = pa.table({"k": [1, 2, 1, 2], "v": [0.5, -1.5, 2.25, math.inf]})


def _python(operation, func, table):
    """What the row path gives: Python's own semantics over the table's rows."""
    rows = table.column(0).to_pylist() if table.num_columns == 1 else list(
        zip(*(c.to_pylist() for c in table.columns), strict=True))
    if operation == "map":
        return [func(r) for r in rows]
    if operation == "flatMap":
        return [x for r in rows for x in func(r)]
    if operation == "filter":
        return list(filter(func, rows))
    if operation == "reduceByKey":
        out: dict = {}
        for k, v in rows:
            out[k] = func(out[k], v) if k in out else v
        return sorted(out.items(), key=repr)
    counts: dict = {}
    for r in rows:
        counts[r] = counts.get(r, 0) + 1
    return sorted(counts.items(), key=repr)


def _apply(sc, operation, func, table, n=2):
    rdd = sc.parallelize(table, n)
    if operation == "reduceByKey":
        return rdd.reduceByKey(func, 2)
    if operation == "countByValue":
        return rdd.countByValueRDD(2)
    return getattr(rdd, operation)(func)


def _result(operation, rdd):
    out = rdd.collect()
    # key=repr: keys may be None beside strings
    return sorted(out, key=repr) if operation in ("reduceByKey", "countByValue") else out


# One case per engine entry: (operation, function, a table its guard accepts). The Kafka
# decoder's entry is tested with the Kafka source (tests/sources/test_kafka_rdd.py).
CASES = [
    ("map", str.lower, strings("AbC", "", "x Y-1")),
    ("map", str.upper, strings("AbC", "", "x y-1")),
    ("map", str.title, strings("hello world", "they're 1st", "", "ABC def")),
    ("map", str.strip, strings("  a b ", "\t\n", "", "\u3000é\u2028", "\x1cz\x85")),
    ("map", len, strings("é🙂", "", "abc")),
    ("map", len, strings(b"\x00\xff", b"", type=pa.binary())),
    ("map", operator.itemgetter(1), PAIRS),
    ("map", operator.itemgetter(-2), PAIRS),
    ("flatMap", str.split, strings("The cat", "", "a  DOG \u2003x", "\x1c")),
    ("filter", None, strings("a", "", None, "b")),
    ("filter", bool, strings(b"a", b"", None, type=pa.large_binary())),
    ("reduceByKey", operator.add, PAIRS),
    ("reduceByKey", operator.add, FLOAT_PAIRS),
    ("reduceByKey", min, PAIRS),
    ("reduceByKey", max, FLOAT_PAIRS),
    ("countByValue", None, strings("a", "b", "a", None)),
    ("countByValue", None, pa.table({"value": pa.array([3, 1, 3, None], pa.int16())})),
]


def _case_id(case):
    operation, func, table = case
    return f"{operation}-{registry.function_label(func)}-{table.schema.types[-1]}"


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_each_entry_keeps_its_step_columnar(sc, case):
    operation, func, table = case
    rdd = _apply(sc, operation, func, table)
    assert kinds(rdd) == {"Table"}
    assert _result(operation, rdd) == _python(operation, func, table)


def test_every_engine_entry_has_a_columnar_case():
    covered = {(op, registry.lookup(op, func)) for op, func, _ in CASES}
    engine = [e for e in registry.entries() if e.owner == functions.__name__]
    missing = [(e.operation, e.label) for e in engine if (e.operation, e) not in covered]
    assert missing == []
    assert len(engine) == 13


# --- the guards: what the kernel would get wrong runs on rows -----------------------------

FALLBACKS = [
    # Unicode case mappings Arrow's simple mapping gets wrong
    ("map", str.lower, strings("İ", "ΑΣ")),
    ("map", str.upper, strings("straße", "ﬁ")),
    ("map", str.title, strings("ǆemal", "ﬂour")),
    # not one string column
    ("map", str.lower, pa.table({"value": [1, 2]})),
    ("map", str.strip, PAIRS),
    # one column: its rows are values, so itemgetter indexes into each value
    ("map", operator.itemgetter(1), strings("ab", "cd")),
    ("map", operator.itemgetter(5), PAIRS),  # out of range: Python raises, so must we
    ("filter", bool, pa.table({"value": [0, 1, 2]})),
    ("flatMap", str.split, PAIRS.select([0, 0]).rename_columns(["a", "b"])),
    # reductions: values Python treats differently from the core
    ("reduceByKey", operator.add, pa.table({"k": ["a", "a"], "v": [-0.0, -0.0]})),
    ("reduceByKey", operator.add, pa.table({"k": ["a"], "v": [-0.0]})),
    ("reduceByKey", min, pa.table({"k": ["a", "a", "b", "b"],
                                   "v": [math.nan, 1.0, 2.0, math.nan]})),
    ("reduceByKey", max, pa.table({"k": ["a", "a"], "v": [math.nan, 1.0]})),
    ("reduceByKey", operator.add, pa.table({"k": [1.5, 1.5], "v": [1, 2]})),
    ("reduceByKey", operator.add, pa.table({"k": ["a", "b"], "v": ["x", "y"]})),
    ("reduceByKey", operator.add, pa.table({"k": [True, True], "v": [1, 2]})),
    ("countByValue", None, pa.table({"value": [1.5, 1.5]})),
    ("countByValue", None, PAIRS),
]


def _same(a, b) -> bool:
    """Equal as Python sees values, and NaN equals NaN, and -0.0 differs from 0.0."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) ==
                                                      math.copysign(1, b))
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


@pytest.mark.parametrize("case", FALLBACKS, ids=_case_id)
def test_guard_sends_what_the_kernel_gets_wrong_to_rows(sc, case):
    operation, func, table = case
    plan = registry.plan(operation, func)
    assert plan.columnar and not plan.accepts(table)
    rdd = _apply(sc, operation, func, table, n=1)
    try:
        expected = _python(operation, func, table)
    except Exception as exc:  # Python raises: the step must raise the same
        with pytest.raises(type(exc)):
            rdd.collect()
        return
    assert "Table" not in kinds(rdd)
    assert _same(_result(operation, rdd), expected)


def test_nulls_fail_like_python(sc):
    for operation, func in (("map", str.strip), ("map", len), ("map", str.title),
                            ("flatMap", str.split)):
        rdd = _apply(sc, operation, func, strings("a", None), n=1)
        with pytest.raises(TypeError):
            rdd.collect()
    with pytest.raises(TypeError):  # None + 1
        sc.parallelize(pa.table({"k": ["a", "a"], "v": [None, 1]}), 1).reduceByKey(
            operator.add).collect()


def test_split_of_trailing_whitespace_before_bytes_that_are_not_utf8():
    # Arrow's splitter decodes past a string that ends in whitespace: with the bytes
    # after it not UTF-8 (uninitialised padding, here 0xFF) it kept a " " word.
    data = pa.py_buffer(b"a  \xff")
    column = pa.Array.from_buffers(pa.string(), 1, [None, pa.py_buffer(
        np.array([0, 3], np.int32)), data])
    table = pa.table({"value": column})
    assert registry.plan("flatMap", str.split).run(table)["value"].to_pylist() == ["a"]


def test_int64_overflow_falls_back_to_python_ints(sc):
    table = pa.table({"k": ["a", "a", "b"], "v": [2**62, 2**62, 1]})
    assert sorted(sc.parallelize(table, 1).reduceByKey(operator.add).collect()) == [
        ("a", 2**63), ("b", 1)
    ]


# --- properties: kernel == Python wherever the guard says yes -----------------------------


def test_arrow_whitespace_is_pythons_for_every_code_point():
    # str.split() and str.strip() (no argument) split/strip exactly the code points with
    # str.isspace(); Arrow's utf8_split_whitespace/utf8_trim_whitespace must agree on all.
    code_points = [c for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]
    chars = pa.array([chr(c) for c in code_points])
    arrow = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(chars)), 0).to_pylist()
    python = [chr(c).isspace() for c in code_points]
    assert [hex(c) for c, a, p in zip(code_points, arrow, python, strict=True) if a != p] == []
    spaces = [chr(c) for c, p in zip(code_points, python, strict=True) if p]
    split = pc.utf8_split_whitespace(pa.array([f"a{s}b" for s in spaces])).to_pylist()
    assert split == [["a", "b"]] * len(spaces)


def test_ascii_title_is_pythons_for_every_ascii_pair():
    # title() looks at one character and whether the one before it is cased: every pair
    # of ASCII characters covers every transition.
    ascii_chars = [chr(c) for c in range(128)]
    pairs = [a + b for a in ascii_chars for b in ascii_chars]
    assert functions.ascii_title(strings(*pairs))["value"].to_pylist() == [
        p.title() for p in pairs
    ]


_whitespace = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u200b\u2028\u3000\ufeff"
_texts = st.lists(st.one_of(st.text(), st.text(alphabet=_whitespace + "aZé")), max_size=30)
_ascii = st.lists(st.text(alphabet=st.characters(max_codepoint=127)), max_size=30)


def followed_by_junk(texts):
    """A string column whose data buffer goes on past its last string with bytes that are
    not UTF-8: a kernel that reads past a string's end shows it here, not at random."""
    encoded = [t.encode("utf-8") for t in texts]
    offsets = np.cumsum([0, *map(len, encoded)]).astype(np.int32)
    data = b"".join(encoded) + b"\xff\x80\xe2"
    column = pa.Array.from_buffers(pa.string(), len(texts), [None, pa.py_buffer(offsets),
                                                              pa.py_buffer(data)])
    return pa.table({"value": column})


@PROPERTY
@given(texts=_texts)
def test_strip_kernel_is_str_strip(texts):
    plan = registry.plan("map", str.strip)
    for table in (strings(*texts), followed_by_junk(texts)):
        assert plan.accepts(table)
        assert plan.run(table)["value"].to_pylist() == [t.strip() for t in texts]


@PROPERTY
@given(texts=_texts)
def test_split_kernel_is_str_split(texts):
    plan = registry.plan("flatMap", str.split)
    expected = [w for t in texts for w in t.split()]
    for table in (strings(*texts), followed_by_junk(texts)):
        assert plan.run(table)["value"].to_pylist() == expected


@PROPERTY
@given(texts=_ascii)
def test_case_kernels_are_pythons_on_ascii(texts):
    for table in (strings(*texts), followed_by_junk(texts)):
        for func in (str.lower, str.upper, str.title, len):
            plan = registry.plan("map", func)
            assert plan.accepts(table)
            assert plan.run(table)["value"].to_pylist() == [func(t) for t in texts]


@PROPERTY
@given(texts=st.lists(st.text(), max_size=20), n=st.integers(1, 4))
def test_title_and_strip_steps_are_pythons_on_any_text(sc, texts, n):
    rdd = sc.parallelize(strings(*texts), n)
    for func in (str.title, str.strip, str.lower, str.upper, len):
        assert rdd.map(func).collect() == [func(t) for t in texts]


_floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([0.0, -0.0, math.nan, 1.0]))


@PROPERTY
@given(rows=st.lists(st.tuples(st.sampled_from("abc"), _floats), max_size=30),
       n=st.integers(1, 4), func=st.sampled_from([operator.add, min, max]))
def test_float_reductions_are_pythons(sc, rows, n, func):
    table = pa.table({"k": [k for k, _ in rows], "v": pa.array([v for _, v in rows],
                                                                pa.float64())})
    got = sorted(sc.parallelize(table, n).reduceByKey(func, 2).collect())
    # Python's reduceByKey: per partition in row order, then partials in partition order
    bounds = [len(rows) * i // n for i in range(n + 1)]
    partials: dict = {}
    for i in range(n):
        part: dict = {}
        for k, v in rows[bounds[i]:bounds[i + 1]]:
            part[k] = func(part[k], v) if k in part else v
        for k, v in part.items():
            partials.setdefault(k, []).append(v)
    expected = sorted((k, reduce(func, vs)) for k, vs in partials.items())
    assert _same(got, expected)


# --- lookups ------------------------------------------------------------------------------


def test_lookup_is_by_identity_and_by_kind():
    assert registry.lookup("map", str.lower).label == "str.lower"
    assert registry.lookup("map", operator.itemgetter(3)).label == "operator.itemgetter(i)"
    assert registry.lookup("map", operator.itemgetter(0, 1)) is None
    assert registry.lookup("map", operator.itemgetter("k")) is None
    assert registry.lookup("flatMap", str.lower) is None
    assert registry.lookup("map", {}.get) is None  # unhashable-safe, and not recognised

    class Unhashable:
        __hash__ = None  # type: ignore[assignment]

        def __call__(self, x):
            return x

    assert registry.lookup("map", Unhashable()) is None
    plan = registry.plan("map", lambda s: s)
    assert not plan.columnar and plan.reason == "not a registered function for map"
    assert plan.explain() == "map(<lambda>) rows: not a registered function for map"


def test_plans_pickle_by_reference():
    # Tasks ship plans to executors: the engine's must not drag closures along.
    for operation, func, table in CASES:
        plan = registry.plan(operation, func)
        again = pickle.loads(pickle.dumps(plan))  # plain pickle: by reference only
        assert again.accepts(table)
        if callable(plan.kernel):
            assert again.run(table).equals(plan.run(table))
        else:
            assert again.kernel == plan.kernel


def test_function_labels():
    def outer():
        def tokenize(s):
            return s.split()
        return tokenize

    assert [registry.function_label(f) for f in (str.lower, len, operator.add, None, bool,
                                                  outer(), lambda x: x)] == [
        "str.lower", "len", "operator.add", "None", "bool", "tokenize", "<lambda>"]


# --- users' kernels ------------------------------------------------------------------------


def double_it(s):
    return s + s


def double_kernel(table):
    column = table.column(0)
    return pa.table({table.column_names[0]: pc.binary_join_element_wise(column, column, "")})


def no_nulls(table):
    return table.num_columns == 1 and table.column(0).null_count == 0 and pa.types.is_string(
        table.schema.types[0])


@pytest.fixture
def user_kernels():
    made: list = []

    def register(operation, func, kernel, **kw):
        register_kernel(operation, func, kernel, **kw)
        made.append((operation, func))

    yield register
    for operation, func in made:
        registry.unregister(operation, func)


def test_user_kernel_for_map_is_used_where_its_guard_passes(sc, user_kernels):
    user_kernels("map", double_it, double_kernel, guard=no_nulls,
                 description="one string column, no nulls")
    rdd = sc.parallelize(strings("ab", "", "é"), 2).map(double_it)
    assert kinds(rdd) == {"Table"}
    assert rdd.collect() == ["abab", "", "éé"]
    with_null = sc.parallelize(strings("ab", None), 1).map(double_it)
    with pytest.raises(TypeError):  # the guard said no: Python's None + None raises
        with_null.collect()
    assert registry.plan("map", double_it).explain() == (
        "map(double_it) columnar when one string column, no nulls; else rows")


def test_user_kernels_for_flat_map_filter_and_reduce(sc, user_kernels):
    def chars(s):
        return list(s)

    def chars_kernel(table):  # list(s) of a one-character s is [s]
        return table

    def letters(table):
        return pc.all(pc.equal(pc.utf8_length(table.column(0)), 1)).as_py()

    def is_a(s):
        return s == "a"

    def is_a_kernel(table):
        return table.filter(pc.equal(table.column(0), "a"))

    def plus(a, b):
        return a + b

    user_kernels("flatMap", chars, chars_kernel, guard=letters)
    user_kernels("filter", is_a, is_a_kernel)
    user_kernels("reduceByKey", plus, "sum", guard=functions.summable_pairs)
    letters_rdd = sc.parallelize(strings("a", "b", "a"), 2)
    assert kinds(letters_rdd.flatMap(chars)) == {"Table"}
    assert letters_rdd.flatMap(chars).collect() == ["a", "b", "a"]
    assert kinds(letters_rdd.filter(is_a)) == {"Table"}
    assert letters_rdd.filter(is_a).collect() == ["a", "a"]
    summed = sc.parallelize(PAIRS, 3).reduceByKey(plus)
    assert kinds(summed) == {"Table"}
    assert sorted(summed.collect()) == [("a", 10), ("b", 7), ("c", 4)]


def test_user_kernels_work_on_dstreams(manual, user_kernels):
    user_kernels("map", double_it, double_kernel, guard=no_nulls)
    ssc = manual.ssc
    stream = ssc.queueStream([ssc.sparkContext.parallelize(strings("x", "yz"), 2)])
    seen: list = []
    stream.map(double_it).foreachRDD(
        lambda rdd: seen.append((kinds(rdd), rdd.collect())))
    manual.start()
    manual.run_batches(1)
    assert seen == [({"Table"}, ["xx", "yzyz"])]


def test_a_step_keeps_the_plan_it_was_built_with(sc, user_kernels):
    user_kernels("map", double_it, double_kernel)
    built = sc.parallelize(strings("q"), 1).map(double_it)
    registry.unregister("map", double_it)
    assert kinds(built) == {"Table"}  # decided on the driver when the RDD was built
    assert "Table" not in kinds(sc.parallelize(strings("q"), 1).map(double_it))


def test_user_steps_ship_to_another_process_intact(sc, user_kernels):
    user_kernels("map", double_it, double_kernel, guard=no_nulls)
    doubled = sc.parallelize(strings("ab"), 1).map(double_it)
    # On local-cluster the step runs in a worker process that never saw the registration:
    # the plan (guard and kernel) travelled inside the task.
    assert [p.to_pydict() for p in partitions(doubled)] == [{"value": ["abab"]}]


def test_user_kernel_returning_a_wrong_type_is_named(sc, user_kernels):
    user_kernels("map", double_it, lambda table: table.column(0))
    with pytest.raises(TypeError, match=r"map\(double_it\) returned ChunkedArray"):
        sc.parallelize(strings("a"), 1).map(double_it).collect()


def test_registration_errors(user_kernels):
    with pytest.raises(ValueError, match="unknown operation 'mapValues'"):
        register_kernel("mapValues", double_it, double_kernel)
    with pytest.raises(ValueError, match="already registered for map by"):
        register_kernel("map", str.lower, double_kernel)
    with pytest.raises(TypeError, match=r"maps a pyarrow\.Table"):
        register_kernel("map", double_it, "sum")
    for name in ("mean", "count"):
        with pytest.raises(ValueError, match="one of sum, min, max, not"):
            register_kernel("reduceByKey", double_it, name)
    with pytest.raises(ValueError, match="takes no function"):
        register_kernel("countByValue", double_it, "count")
    with pytest.raises(TypeError, match="guard must be callable"):
        register_kernel("map", double_it, double_kernel, guard=True)
    assert registry.lookup("map", double_it) is None
    # registering again replaces the user's own entry
    user_kernels("map", double_it, double_kernel)
    user_kernels("map", double_it, double_kernel, guard=no_nulls)
    assert registry.lookup("map", double_it).guard is no_nulls
    assert sum(e.function is double_it for e in registry.entries()) == 1


# --- nulls: the columnar path gives what the rows give ------------------------------------


def lenient_plus(a, b):
    """A user's add, registered with the core's sum and no guard of its own."""
    return a + b


def _outcome(rdd_or_call):
    """The sorted result, or the type of the exception it raised."""
    try:
        out = rdd_or_call() if callable(rdd_or_call) else rdd_or_call.collect()
    except Exception as exc:  # the type is what is compared
        return ("raised", type(exc))
    return ("ok", sorted(out, key=repr))


_null_values = st.one_of(
    st.lists(st.one_of(st.none(), st.integers(-5, 5)), max_size=12).map(
        lambda vs: pa.array(vs, pa.int64())),
    st.lists(st.one_of(st.none(), st.sampled_from([1.5, -2.0, 0.25])), max_size=12).map(
        lambda vs: pa.array(vs, pa.float64())),
)


@PROPERTY
@given(values=_null_values, data=st.data(), n=st.integers(1, 3),
       func=st.sampled_from([operator.add, min, max, lenient_plus]))
def test_reductions_over_nulls_are_pythons_or_raise_the_same(sc, values, data, n, func):
    # Found probing the engine: reduceByKey(add) over ("k", 1.5), ("k", None) raised on
    # rows; a core that skips nulls would give ('k', 1.5) on a table. Every reduce plan
    # runs the core's check first, so a user's entry without a guard is covered too.
    keys = data.draw(st.lists(st.one_of(st.none(), st.sampled_from("ab")),
                              min_size=len(values), max_size=len(values)))
    table = pa.table({"k": pa.array(keys, pa.string()), "v": values})
    rows = list(zip(keys, values.to_pylist(), strict=True))
    registry.register("reduceByKey", lenient_plus, "sum", description="", owner="user")
    try:
        columnar = _outcome(sc.parallelize(table, n).reduceByKey(func, 2))
        python = _outcome(sc.parallelize(rows, n).reduceByKey(func, 2))
    finally:
        registry.unregister("reduceByKey", lenient_plus)
    assert columnar[0] == python[0]
    if columnar[0] == "raised":
        assert columnar[1] is python[1]
    else:
        assert _same(columnar[1], python[1])
    # countByValue counts None as a value on both paths.
    single = pa.table({"v": values})
    assert (_outcome(lambda: sc.parallelize(single, n).countByValue().items())
            == _outcome(lambda: sc.parallelize(values.to_pylist(), n).countByValue().items()))


def test_a_user_reduce_entry_without_a_guard_keeps_nulls_off_the_core(sc):
    registry.register("reduceByKey", lenient_plus, "sum", description="", owner="user")
    try:
        plan = registry.plan("reduceByKey", lenient_plus)
        assert not plan.accepts(pa.table({"k": ["k", "k"], "v": [1.5, None]}))
        assert plan.accepts(pa.table({"k": ["k", "k"], "v": [1.5, 2.0]}))
        assert "no nulls" in plan.condition
        with pytest.raises(TypeError):
            sc.parallelize(pa.table({"k": ["k", "k"], "v": [1.5, None]}), 1).reduceByKey(
                lenient_plus).collect()
    finally:
        registry.unregister("reduceByKey", lenient_plus)
