"""Window operations, batch by batch on a manual clock: PySpark's expectations
(python/pyspark/streaming/tests/test_dstream.py, batch interval 0.5 s), the incremental
computation, the columnar path, the explain, and the errors."""

from __future__ import annotations

import operator
import threading
from collections.abc import Iterator

import pyarrow as pa
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from fastdstream.engine.columnar import registry
from fastdstream.streaming.dstream import reduced_windowed_dstream as rwd
from fastdstream.testing import ManualStreaming, partitions


@pytest.fixture
def half(master: str, tmp_path) -> Iterator[ManualStreaming]:
    """PySpark's test base: 0.5 s batches, and a checkpoint directory."""
    streaming = ManualStreaming(batch_seconds=0.5, master=master)
    streaming.ssc.checkpoint(str(tmp_path))
    yield streaming
    streaming.stop()


def run(manual: ManualStreaming, stream, batches: int) -> list:
    """Each batch's collected elements, sorted (one entry per batch, empty ones too)."""
    out: list = []
    stream.foreachRDD(lambda rdd: out.append(sorted(rdd.collect(), key=repr)))
    manual.start()
    manual.run_batches(batches)
    return out


def queue(manual: ManualStreaming, data):
    sc = manual.sc
    return manual.ssc.queueStream([sc.parallelize(list(d), 1) for d in data])


def non_empty(batches: list) -> list:
    """What PySpark's ``_collect`` keeps: the batches with something in them."""
    return [b for b in batches if b]


# --- PySpark's WindowFunctionTests -----------------------------------------------------------


def test_window(half: ManualStreaming) -> None:
    stream = queue(half, [range(1), range(2), range(3), range(4), range(5)])
    out = run(half, stream.window(1.5, 0.5).count(), 8)
    assert out == [[1], [3], [6], [9], [12], [9], [5], [0]]


def test_count_by_window(half: ManualStreaming) -> None:
    stream = queue(half, [range(1), range(2), range(3), range(4), range(5)])
    out = run(half, stream.countByWindow(1.5, 0.5), 7)
    assert non_empty(out) == [[1], [3], [6], [9], [12], [9], [5]]


def test_count_by_window_large(half: ManualStreaming) -> None:
    stream = queue(half, [range(1), range(2), range(3), range(4), range(5), range(6)])
    out = run(half, stream.countByWindow(2.5, 0.5), 11)
    assert out[:10] == [[1], [3], [6], [10], [15], [20], [18], [15], [11], [6]]
    # Incremental (5 slides): the key stays, at 0, once its batches left the window.
    assert out[10] == [0]


def test_count_by_value_and_window(half: ManualStreaming) -> None:
    stream = queue(half, [range(1), range(2), range(3), range(4), range(5), range(6)])
    out = run(half, stream.countByValueAndWindow(2.5, 0.5), 11)
    assert out[:10] == [
        [(0, 1)],
        [(0, 2), (1, 1)],
        [(0, 3), (1, 2), (2, 1)],
        [(0, 4), (1, 3), (2, 2), (3, 1)],
        [(0, 5), (1, 4), (2, 3), (3, 2), (4, 1)],
        [(0, 5), (1, 5), (2, 4), (3, 3), (4, 2), (5, 1)],
        [(0, 4), (1, 4), (2, 4), (3, 3), (4, 2), (5, 1)],
        [(0, 3), (1, 3), (2, 3), (3, 3), (4, 2), (5, 1)],
        [(0, 2), (1, 2), (2, 2), (3, 2), (4, 2), (5, 1)],
        [(0, 1), (1, 1), (2, 1), (3, 1), (4, 1), (5, 1)],
    ]
    assert out[10] == []  # counts of 0 leave the window


def test_group_by_key_and_window(half: ManualStreaming) -> None:
    stream = queue(half, [[("a", i)] for i in range(5)])
    out = run(half, stream.groupByKeyAndWindow(1.5, 0.5).mapValues(list), 7)
    assert out == [[("a", [0])], [("a", [0, 1])], [("a", [0, 1, 2])], [("a", [1, 2, 3])],
                   [("a", [2, 3, 4])], [("a", [3, 4])], [("a", [4])]]


def test_group_by_key_and_window_incremental_keeps_the_order(half: ManualStreaming) -> None:
    stream = queue(half, [[("a", i), ("b", -i)] for i in range(8)])
    out = run(half, stream.groupByKeyAndWindow(2.5, 0.5), 9)
    assert out[6] == [("a", [2, 3, 4, 5, 6]), ("b", [-2, -3, -4, -5, -6])]
    assert out[8] == [("a", [4, 5, 6, 7]), ("b", [-4, -5, -6, -7])]


def test_reduce_by_invalid_window(half: ManualStreaming) -> None:
    stream = queue(half, [range(3), range(5), range(1), range(6)])
    with pytest.raises(ValueError, match=r"windowDuration 0.1 s .* multiple of the parent "
                                         r"DStream's slide \(batch\) duration \(0.5 s\)"):
        stream.reduceByKeyAndWindow(None, None, 0.1, 0.1)
    with pytest.raises(ValueError, match=r"slideDuration 0.1 s .*\(0.5 s\)"):
        stream.reduceByKeyAndWindow(None, None, 1, 0.1)


def test_reduce_by_key_and_window_with_none_inv_func(half: ManualStreaming) -> None:
    stream = queue(half, [range(1), range(2), range(3), range(4), range(5), range(6)])
    counted = (stream.map(lambda x: (x, 1))
               .reduceByKeyAndWindow(operator.add, None, 5, 1)
               .filter(lambda kv: kv[1] > 0).count())
    out = run(half, counted, 12)
    assert counted.slideDuration == 1000
    assert out == [[2], [4], [6], [6], [6], [6]]


# --- semantics beyond PySpark's tests ---------------------------------------------------------


@pytest.mark.parametrize(("window", "slide"), [(2.5, 0.5), (5, 1)], ids=["slide1", "slide2"])
def test_window_and_reduce_with_and_without_inverse_agree(half: ManualStreaming, window: float,
                                                          slide: float) -> None:
    # 5 slides: the inverse stream is incremental; keys that fall to 0 leave by
    # filterFunc, so all three give the same windows.
    data = [[(k, i * 10 + j + 1) for j, k in enumerate("abcab"[: i % 5 + 1])]
            for i in range(24)]
    stream = queue(half, data)
    whole = stream.window(window, slide).reduceByKey(operator.add)
    plain = stream.reduceByKeyAndWindow(operator.add, None, window, slide)
    inverse = stream.reduceByKeyAndWindow(operator.add, operator.sub, window, slide,
                                          filterFunc=lambda kv: kv[1] != 0)
    outs: list[list] = [[], [], []]
    for windowed, out in zip((whole, plain, inverse), outs, strict=True):
        windowed.foreachRDD(lambda rdd, out=out: out.append(sorted(rdd.collect())))
    half.start()
    half.run_batches(30)
    size, step = round(window * 2), round(slide * 2)  # in batches
    expected = []
    for t in range(step, 31, step):  # the window of `size` batches ending at batch t
        totals: dict = {}
        for batch in data[max(0, t - size):t]:
            for k, v in batch:
                totals[k] = totals.get(k, 0) + v
        expected.append(sorted(totals.items()))
    assert outs[0] == outs[1] == outs[2] == expected


def test_a_window_of_a_window_remembers_enough(half: ManualStreaming) -> None:
    stream = queue(half, [[i] for i in range(10)])
    nested = stream.window(1, 0.5).window(2, 1).map(lambda x: x)
    out = run(half, nested, 10)
    # Every 1 s: the last 2 s of 1 s windows that slide by 0.5 s; each element is seen in
    # the two inner windows that hold it, and the outer window holds two of them.
    assert out[0] == sorted([0, 0, 1])
    assert out[2] == sorted([1, 2, 2, 3, 3, 4, 4, 5])


# Module level, so tasks ship them by reference: local[2] runs them in this process.
CALLS = {"func": 0, "inv": 0}
CALLS_LOCK = threading.Lock()


def counted_add(a: int, b: int) -> int:
    with CALLS_LOCK:
        CALLS["func"] += 1
    return a + b


def counted_sub(a: int, b: int) -> int:
    with CALLS_LOCK:
        CALLS["inv"] += 1
    return a - b


def test_incremental_work_follows_the_slide_not_the_window(tmp_path) -> None:
    # A counter in the functions: local[2] runs them in this process. Every batch has
    # the same 4 keys; a 40-batch window recomputed whole would call func ~160 times
    # per batch, the incremental one calls each function once per key.
    streaming = ManualStreaming(batch_seconds=1, master="local[2]")
    try:
        streaming.ssc.checkpoint(str(tmp_path))
        keys = ["w", "x", "y", "z"]
        batches = [[(k, 1) for k in keys] for _ in range(60)]
        stream = streaming.ssc.queueStream([streaming.sc.parallelize(b, 2) for b in batches])
        window = stream.reduceByKeyAndWindow(counted_add, counted_sub, 40, 1, numPartitions=2)
        per_batch: list = []
        seen: list = []

        def record(rdd):
            result = sorted(rdd.collect())
            with CALLS_LOCK:
                per_batch.append(dict(CALLS))
                CALLS["func"] = CALLS["inv"] = 0
            seen.append(result)

        window.foreachRDD(record)
        streaming.start()
        streaming.run_batches(60)
    finally:
        streaming.stop()
    assert seen[39] == [(k, 40) for k in keys] and seen[59] == [(k, 40) for k in keys]
    # Past the first window: no call in the reduce of the batch itself (one value per
    # key per batch), one inverse per key leaving, one func per key entering.
    for counts in per_batch[41:]:
        assert counts == {"func": 4, "inv": 4}, per_batch
    assert max(c["func"] for c in per_batch) <= 8  # never the window's 40 x 4


def test_incremental_windows_are_checkpointed_so_their_lineage_stays_short(
        half: ManualStreaming) -> None:
    # Each window is built on the one before; the checkpoint every 10 s (20 batches of
    # 0.5 s, Spark's default for a stateful stream) cuts that chain.
    data = [[("a", 1), ("b", i)] for i in range(50)]
    stream = queue(half, data)
    windowed = stream.reduceByKeyAndWindow(operator.add, operator.sub, 2.5, 0.5)
    seen: list = []
    windowed.foreachRDD(lambda rdd: seen.append(
        (sorted(rdd.collect()), rdd.isCheckpointed(), len(list(rdd._lineage())))))
    half.start()
    half.run_batches(50)
    assert [s[0] for s in seen] == [
        [("a", min(t, 5)), ("b", sum(range(max(0, t - 5), t)))] for t in range(1, 51)]
    assert [i for i, s in enumerate(seen) if s[1]] == [19, 39]
    lineage = [s[2] for s in seen]
    # A checkpointed window has no parents left; the chain after it grows again the same
    # way each time: bounded, not one step longer per batch forever.
    assert lineage[19] == lineage[39] == 1
    assert lineage[20:30] == lineage[40:50] and lineage[18] > lineage[20]


def test_a_missing_previous_window_is_reduced_whole_not_recomputed_back_to_zero(
        half: ManualStreaming) -> None:
    # As after a recovery whose checkpoint held no window: the stream must not walk
    # back window by window to the zero time, but reduce the window from its batches.
    # 50 batches: past what the input stream remembers (20 s = 40 batches).
    stream = queue(half, [[("a", 1), ("b", i)] for i in range(54)])
    windowed = stream.reduceByKeyAndWindow(operator.add, operator.sub, 2.5, 0.5)
    out = run_all_of(half, windowed)
    half.start()
    half.run_batches(50)
    with windowed._generated_lock:
        windowed._generated.clear()
    half.run_batches(4)
    assert out == [[("a", min(t, 5)), ("b", sum(range(max(0, t - 5), t)))]
                   for t in range(1, 55)]


def test_an_inverse_needs_a_checkpoint_directory(master: str) -> None:
    streaming = ManualStreaming(batch_seconds=1, master=master)
    try:
        stream = streaming.ssc.queueStream([[("a", 1)]])
        stream.reduceByKeyAndWindow(operator.add, operator.sub, 10, 1).pprint()
        with pytest.raises(ValueError, match=r"ReducedWindowedDStream.*checkpoint directory "
                                             r"has not been set"):
            streaming.start()
    finally:
        streaming.stop()


def test_window_errors(half: ManualStreaming) -> None:
    stream = queue(half, [[1]])
    with pytest.raises(ValueError, match=r"windowDuration 0.75 s of a window over "
                                         r"QueueInputDStream\[0\].*\(0.5 s\)"):
        stream.window(0.75)
    with pytest.raises(ValueError, match=r"slideDuration 0.25 s"):
        stream.window(1, 0.25)
    with pytest.raises(ValueError, match=r"windowDuration 0 s .*positive multiple"):
        stream.countByWindow(0, 0.5)
    with pytest.raises(ValueError, match=r"slideDuration -1 s"):
        stream.countByValueAndWindow(1, -1)
    windowed = stream.window(1, 1)
    # A window of a window: multiples of the windowed stream's slide (1 s), not 0.5 s.
    with pytest.raises(ValueError, match=r"\(1 s\)"):
        windowed.window(1.5)
    with pytest.raises(TypeError, match="invFunc must be a function, got int"):
        stream.map(lambda x: (x, x)).reduceByKeyAndWindow(operator.add, 3, 1)


# --- the columnar path ------------------------------------------------------------------------


def pair_tables(manual: ManualStreaming, n_batches: int) -> list:
    sc = manual.sc
    return [sc.parallelize(pa.table({"k": ["a", "b", "c", "a"][: 1 + i % 4],
                                     "v": [i, 2 * i, 3, 1][: 1 + i % 4]}), 2)
            for i in range(n_batches)]


def python_window(tables: list, t: int, size: int, func) -> list:
    totals: dict = {}
    for table in tables[max(0, t - size):t]:
        for k, v in zip(table["k"].to_pylist(), table["v"].to_pylist(), strict=True):
            totals[k] = func(totals[k], v) if k in totals else v
    return sorted(totals.items())


def test_windows_over_tables_stay_tables(half: ManualStreaming) -> None:
    raw = [pa.table({"k": ["a", "b", "c", "a"][: 1 + i % 4],
                     "v": [i, 2 * i, 3, 1][: 1 + i % 4]}) for i in range(12)]
    stream = half.ssc.queueStream([half.sc.parallelize(t, 2) for t in raw])
    streams = {
        "sum": stream.reduceByKeyAndWindow(operator.add, operator.sub, 3, 0.5),
        "min": stream.reduceByKeyAndWindow(min, None, 1.5, 0.5),
        "max": stream.reduceByKeyAndWindow(max, None, 3, 1),
        "window": stream.window(1, 0.5),
    }
    results: dict = {name: [] for name in streams}
    kinds: dict = {name: set() for name in streams}
    for name, s in streams.items():
        def record(rdd, name=name):
            kinds[name].update(type(p).__name__ for p in partitions(rdd)
                               if isinstance(p, pa.Table) or p)
            results[name].append(sorted(rdd.collect()))
        s.foreachRDD(record)
    half.start()
    half.run_batches(12)
    assert kinds == {"sum": {"Table"}, "min": {"Table"}, "max": {"Table"}, "window": {"Table"}}
    assert results["sum"] == [python_window(raw, t, 6, operator.add) for t in range(1, 13)]
    assert results["min"] == [python_window(raw, t, 3, min) for t in range(1, 13)]
    assert results["max"] == [python_window(raw, t, 6, max) for t in range(2, 13, 2)]
    assert results["window"][3] == sorted(
        (k, v) for t in raw[2:4] for k, v in zip(t["k"].to_pylist(), t["v"].to_pylist(),
                                                 strict=True))


def test_count_by_value_and_window_of_a_string_column_stays_columnar(
        half: ManualStreaming) -> None:
    raw = [pa.table({"value": ["x", "y", "x"][: 1 + i % 3]}) for i in range(9)]
    stream = half.ssc.queueStream([half.sc.parallelize(t, 2) for t in raw])
    counted = stream.countByValueAndWindow(2.5, 0.5)
    kinds: set = set()
    out: list = []

    def record(rdd):
        kinds.update(type(p).__name__ for p in partitions(rdd) if isinstance(p, pa.Table) or p)
        out.append(sorted(rdd.collect()))

    counted.foreachRDD(record)
    half.start()
    half.run_batches(9)
    assert kinds == {"Table"}
    for t in range(1, 10):
        counts: dict = {}
        for table in raw[max(0, t - 5):t]:
            for v in table["value"].to_pylist():
                counts[v] = counts.get(v, 0) + 1
        assert out[t - 1] == sorted(counts.items())


def test_incremental_float_sums_keep_pythons_order_and_stay_tables(
        half: ManualStreaming) -> None:
    # (previous - left) + entered, per key, as the rows would: rounding shows the order.
    floats = [pa.table({"k": ["a"], "v": [x]}) for x in (0.1, 0.2, 0.3, 1e16, 1.0, 0.7, 0.1)]
    stream = half.ssc.queueStream([half.sc.parallelize(t, 1) for t in floats])
    out, kinds = record_kinds(stream.reduceByKeyAndWindow(operator.add, operator.sub, 2.5, 0.5))
    half.start()
    half.run_batches(7)
    xs = [t["v"][0].as_py() for t in floats]
    expected = []
    value = 0.0
    for i, x in enumerate(xs):  # the first window summed, then each from the one before
        value = value + x if i < 5 else (value - xs[i - 5]) + x
        expected.append([("a", x if i == 0 else value)])
    assert out == expected
    assert kinds == [{"Table"}] * 7


def test_an_int64_overflow_runs_on_rows_and_tables_come_back(half: ManualStreaming) -> None:
    values = [2**62, 2**62] + [1] * 8
    big = [pa.table({"k": ["a"], "v": [v]}) for v in values]
    stream = half.ssc.queueStream([half.sc.parallelize(t, 1) for t in big])
    out, kinds = record_kinds(stream.reduceByKeyAndWindow(operator.add, operator.sub, 2.5, 0.5))
    half.start()
    half.run_batches(10)
    assert out == [[("a", sum(values[max(0, t - 5):t]))] for t in range(1, 11)]
    # Python's ints past int64 (batches 2-5, and 6 whose previous window was one), then
    # the window fits int64 again and is a table.
    assert kinds == [{"Table"}] + [{"list"}] * 5 + [{"Table"}] * 4


def record_kinds(stream) -> tuple[list, list]:
    out: list = []
    kinds: list = []

    def record(rdd):
        kinds.append({type(p).__name__ for p in partitions(rdd) if isinstance(p, pa.Table) or p})
        out.append(sorted(rdd.collect()))

    stream.foreachRDD(record)
    return out, kinds


def run_all_of(manual: ManualStreaming, stream) -> list:
    out: list = []
    stream.foreachRDD(lambda rdd: out.append(sorted(rdd.collect())))
    return out


def test_registry_entries_for_windows_are_pythons(sc) -> None:
    pairs = pa.table({"k": ["a", "b", None], "v": [3, 0, -2]})
    positive = registry.plan("filter", rwd.count_is_positive)
    assert positive.accepts(pairs)
    assert positive.run(pairs).to_pylist() == [{"k": "a", "v": 3}]
    rdd = sc.parallelize(pairs, 2).filter(rwd.count_is_positive)
    assert {type(p).__name__ for p in partitions(rdd)} == {"Table"}
    assert rdd.collect() == [("a", 3)]
    assert not positive.accepts(pa.table({"k": ["a"], "v": [None]}, schema=pa.schema(
        [("k", pa.string()), ("v", pa.int64())])))
    inverse = registry.plan("reduceByKeyAndWindow", operator.sub)
    assert inverse.kernel == "sum" and inverse.accepts(pairs)
    assert inverse.accepts(pa.table({"k": ["a"], "v": [1.5]}))
    assert not inverse.accepts(pa.table({"k": ["a"], "v": [-0.0]}))


# --- explain ----------------------------------------------------------------------------------


def test_explain_shows_each_window_step(half: ManualStreaming) -> None:
    stream = half.ssc.queueStream([half.sc.parallelize(pa.table({"value": ["a b"]}), 1)])
    words = stream.flatMap(str.split)
    counted = words.countByValueAndWindow(30, 0.5)
    assert counted.explain().splitlines() == [
        "ReducedWindowedDStream[3] reduceByKeyAndWindow(operator.add, operator.sub, "
        "filterFunc=count_is_positive, window 30 s, slide 0.5 s) columnar when "
        "invFunc after operator.add: two columns: string, binary or integer keys; integer "
        "or float values, no nulls, no -0.0 (incremental: the previous window, minus the "
        "batches that left, plus those that entered); else rows",
        " |  TransformedDStream[2] countByValue() columnar when one column of string, binary "
        "or integer values; else rows",
        " |  TransformedDStream[1] flatMap(str.split) columnar when one string column, "
        "no nulls; else rows",
        " |  QueueInputDStream[0] input",
    ]
    lam = words.map(lambda w: (w, 1)).reduceByKeyAndWindow(operator.add, lambda a, b: a - b,
                                                            30, 0.5)
    assert lam.explain().splitlines()[0] == (
        "ReducedWindowedDStream[6] reduceByKeyAndWindow(operator.add, <lambda>, window 30 s, "
        "slide 0.5 s) rows: incremental; the inverse is not the core's: not a registered "
        "function for reduceByKeyAndWindow")
    windowed = words.window(1, 0.5)
    assert windowed.explain().splitlines()[0] == (
        "WindowedDStream[7] window(1 s, 0.5 s) columnar on tables: the partitions of the "
        "window's batches")


# --- nulls: a window of tables gives what a window of rows gives ---------------------------

_pair_tables = st.lists(
    st.lists(st.tuples(st.one_of(st.none(), st.sampled_from("ab")),
                       st.one_of(st.none(), st.sampled_from([1.5, -2.0, 0.25]))),
             max_size=6),
    min_size=1, max_size=4)


def _window_outcome(call):
    try:
        out = call()
    except Exception as exc:  # the type is what is compared
        return ("raised", type(exc))
    rows = list(zip(*(c.to_pylist() for c in out.columns), strict=True)) if isinstance(
        out, pa.Table) else list(out)
    return ("ok", sorted(rows, key=repr))


@settings(max_examples=60, deadline=None)
@given(batches=_pair_tables, num_old=st.integers(0, 2),
       func=st.sampled_from([operator.add, min, max]))
@example(batches=[[("b", 1.5), ("b", 1.5)], [("b", 1.5)]], num_old=0, func=operator.add)
def test_window_merges_over_nulls_are_the_rows_or_raise_the_same(batches, num_old, func):
    # Per-batch partitions as the window's task sees them: tables (columnar) or rows.
    tables = [pa.table({"k": pa.array([k for k, _ in b], pa.string()),
                        "v": pa.array([v for _, v in b], pa.float64())}) for b in batches]
    rows = [list(b) for b in batches]
    plan = registry.plan("reduceByKey", func)
    assert (_window_outcome(lambda: rwd.merge_window(func, plan, 0, tables))
            == _window_outcome(lambda: rwd.merge_window(func, plan, 0, rows)))
    if func is operator.add:
        # The previous window comes first: a reduced partition, one row per key (the
        # two paths may differ on a repeated key, which no window can have).
        seen: set = set()
        rows[0] = [(k, v) for k, v in rows[0] if not (k in seen or seen.add(k))]
        tables[0] = pa.table({"k": pa.array([k for k, _ in rows[0]], pa.string()),
                              "v": pa.array([v for _, v in rows[0]], pa.float64())})
        inv = registry.plan("reduceByKeyAndWindow", operator.sub)
        num_old = min(num_old, len(tables) - 1)
        assert (_window_outcome(lambda: rwd.merge_incremental(
                    operator.add, operator.sub, num_old, plan, inv, 0, tables))
                == _window_outcome(lambda: rwd.merge_incremental(
                    operator.add, operator.sub, num_old, plan, inv, 0, rows)))
