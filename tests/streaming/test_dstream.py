"""DStream operations, batch by batch on a manual clock (queue sources)."""

from __future__ import annotations

import operator
import os
import threading
from datetime import datetime

import pyarrow as pa
import pytest

from fastdstream.engine.backend.task_context import TaskContext
from fastdstream.testing import ManualStreaming


def collect_batches(stream):
    """Register an output op that records each batch's sorted contents."""
    batches: list = []

    def record(rdd):
        items = rdd.collect()
        try:
            batches.append(sorted(items))
        except TypeError:  # mixed types (None in joins): any stable order will do
            batches.append(sorted(items, key=repr))

    stream.foreachRDD(record)
    return batches


def test_stateless_ops_per_batch(manual: ManualStreaming) -> None:
    ssc = manual.ssc
    lines = ssc.queueStream([["a b", "b c c"], ["d"], []])
    words = lines.flatMap(lambda line: line.split(" "))
    mapped = collect_batches(words.map(str.upper))
    filtered = collect_batches(words.filter(lambda w: w != "c"))
    counts = collect_batches(words.map(lambda w: (w, 1)).reduceByKey(operator.add))
    by_value = collect_batches(words.countByValue())
    counted = collect_batches(words.count())
    reduced = collect_batches(words.reduce(operator.add))
    glommed = collect_batches(lines.glom().map(len))
    manual.start()
    manual.run_batches(3)
    assert mapped == [["A", "B", "B", "C", "C"], ["D"], []]
    assert filtered == [["a", "b", "b"], ["d"], []]
    assert counts == [[("a", 1), ("b", 2), ("c", 2)], [("d", 1)], []]
    assert by_value == counts
    assert counted == [[5], [1], [0]]
    assert sorted(reduced[0][0]) == sorted("abbcc") and reduced[1] == ["d"] and reduced[2] == []
    assert sum(glommed[0]) == 2


def test_key_value_ops(manual: ManualStreaming) -> None:
    ssc = manual.ssc
    left = ssc.queueStream([[("a", 1), ("b", 2), ("a", 3)]])
    right = ssc.queueStream([[("a", "x"), ("c", "y")]])
    joined = collect_batches(left.join(right))
    louter = collect_batches(left.leftOuterJoin(right))
    router = collect_batches(left.rightOuterJoin(right))
    fouter = collect_batches(left.fullOuterJoin(right))
    grouped = collect_batches(left.groupByKey().mapValues(sorted))
    cogrouped = collect_batches(left.cogroup(right).mapValues(lambda vw: (sorted(vw[0]),
                                                                          sorted(vw[1]))))
    combined = collect_batches(left.combineByKey(lambda v: [v], lambda c, v: [*c, v],
                                                 operator.add).mapValues(sorted))
    flat = collect_batches(left.flatMapValues(lambda v: range(v)))
    values = collect_batches(left.mapValues(lambda v: v * 10))
    parts = collect_batches(left.partitionBy(3).glom().map(lambda p: sorted(k for k, _ in p)))
    repart = collect_batches(left.repartition(5).glom().map(len))
    union = collect_batches(left.union(left))
    manual.start()
    manual.run_batches(1)
    assert joined == [[("a", (1, "x")), ("a", (3, "x"))]]
    assert louter == [[("a", (1, "x")), ("a", (3, "x")), ("b", (2, None))]]
    assert router == [[("a", (1, "x")), ("a", (3, "x")), ("c", (None, "y"))]]
    assert fouter == [[("a", (1, "x")), ("a", (3, "x")), ("b", (2, None)), ("c", (None, "y"))]]
    assert grouped == [[("a", [1, 3]), ("b", [2])]]
    assert cogrouped == [[("a", ([1, 3], ["x"])), ("b", ([2], [])), ("c", ([], ["y"]))]]
    assert combined == [[("a", [1, 3]), ("b", [2])]]
    assert flat == [[("a", 0), ("a", 0), ("a", 1), ("a", 2), ("b", 0), ("b", 1)]]
    assert values == [[("a", 10), ("a", 30), ("b", 20)]]
    # partitionBy puts each key in exactly one partition
    keys_per_partition = [p for p in parts[0] if p]
    assert sorted(k for p in keys_per_partition for k in set(p)) == ["a", "b"]
    assert len(repart[0]) == 5 and sum(repart[0]) == 3
    assert union == [sorted([("a", 1), ("b", 2), ("a", 3)] * 2)]


def test_transform_and_transform_with_get_batch_time(manual: ManualStreaming) -> None:
    ssc = manual.ssc
    stream = ssc.queueStream([[1, 2], [3]])
    other = ssc.queueStream([[10], [20]])
    times: list[datetime] = []

    def tag(time, rdd):
        times.append(time)
        return rdd.map(lambda x: x + 100)

    plus = collect_batches(stream.transform(tag))
    zipped = collect_batches(stream.transformWith(lambda a, b: a.union(b), other))
    multi = collect_batches(ssc.transform([stream, other], lambda rdds: rdds[0].union(rdds[1])))
    seen: list = []
    stream.foreachRDD(lambda t, rdd: seen.append((t, rdd.count())))
    manual.start()
    manual.run_batches(2)
    assert plus == [[101, 102], [103]]
    assert zipped == [[1, 2, 10], [3, 20]] == multi
    assert [t for t, _ in seen] == [datetime.fromtimestamp(1.0), datetime.fromtimestamp(2.0)]
    assert times == [t for t, _ in seen]
    assert [n for _, n in seen] == [2, 1]


def test_queue_stream_modes(manual: ManualStreaming) -> None:
    ssc = manual.ssc
    sc = ssc.sparkContext
    all_at_once = collect_batches(ssc.queueStream([[1], [2]], oneAtATime=False))
    with_default = collect_batches(ssc.queueStream([[1]], default=sc.parallelize([0])))
    manual.start()
    manual.run_batches(2)
    assert all_at_once == [[1, 2], []]
    assert with_default == [[1], [0]]


def test_pprint_prints_header_and_first_elements(manual: ManualStreaming, capsys) -> None:
    manual.ssc.queueStream([list(range(12))]).pprint(3)
    manual.start()
    manual.run_batches(1)
    out = capsys.readouterr().out
    expected_time = datetime.fromtimestamp(1.0)
    assert out == (
        "-------------------------------------------\n"
        f"Time: {expected_time}\n"
        "-------------------------------------------\n"
        "0\n1\n2\n...\n\n"
    )


def test_save_as_text_files(manual: ManualStreaming, tmp_path) -> None:
    prefix = str(tmp_path / "out")
    manual.ssc.queueStream([["x", "y"], ["z"]]).saveAsTextFiles(prefix, "txt")
    manual.start()
    manual.run_batches(2)
    first, second = f"{prefix}-1000.txt", f"{prefix}-2000.txt"
    assert sorted(os.listdir(tmp_path)) == ["out-1000.txt", "out-2000.txt"]

    def read(d):
        return sorted(
            line for f in os.listdir(d) for line in open(os.path.join(d, f)).read().split()
        )

    assert read(first) == ["x", "y"] and read(second) == ["z"]


def test_slice_and_remember(manual: ManualStreaming) -> None:
    ssc = manual.ssc
    ssc.remember(3)
    stream = ssc.queueStream([[1], [2], [3], [4], [5]])
    stream.foreachRDD(lambda rdd: None)
    manual.start()
    manual.run_batches(5)
    got = [rdd.collect() for rdd in stream.slice(datetime.fromtimestamp(3.0),
                                                  datetime.fromtimestamp(5.0))]
    assert got == [[3], [4], [5]]
    # older than the remember duration: forgotten
    assert 1000 not in stream._generated and 5000 in stream._generated


def test_cached_stream_rdds_are_persisted(manual: ManualStreaming) -> None:
    stream = manual.ssc.queueStream([[1, 2]]).map(lambda x: x * 2).cache()
    cached: list[bool] = []
    stream.foreachRDD(lambda rdd: cached.append(rdd.is_cached))
    manual.start()
    manual.run_batches(1)
    assert cached == [True]


def test_columnar_word_count_equals_lambda_word_count(manual: ManualStreaming) -> None:
    ssc = manual.ssc
    sc = ssc.sparkContext
    text = ["the quick brown fox", "jumps over the lazy dog", "", "  the  end  ", "ünïcode ü"]
    table_rdd = sc.parallelize(pa.table({"value": text}), 3)
    columnar = ssc.queueStream([table_rdd]).flatMap(str.split).countByValue()
    lambdas = (ssc.queueStream([sc.parallelize(text, 2)])
               .flatMap(lambda line: line.split())
               .map(lambda word: (word, 1))
               .reduceByKey(operator.add))
    kinds: list = []
    columnar.foreachRDD(lambda rdd: kinds.append(rdd._run(lambda _, d: type(d).__name__)))
    got_columnar, got_lambdas = collect_batches(columnar), collect_batches(lambdas)
    manual.start()
    manual.run_batches(1)
    assert got_columnar == got_lambdas
    assert dict(got_columnar[0])["the"] == 3
    # every reduced partition is still an Arrow table: no Python object per record
    assert set(kinds[0]) == {"Table"}


def test_output_ops_run_on_driver_and_tasks_on_executors(manual: ManualStreaming) -> None:
    where: dict[str, object] = {}

    def output(rdd):
        where["driver"] = (threading.current_thread().name, TaskContext.get())
        where["tasks"] = set(rdd.map(lambda _: _where_am_i()).collect())

    manual.ssc.queueStream([manual.sc.parallelize(range(8), 4)]).foreachRDD(output)
    manual.start()
    manual.run_batches(1)
    assert where["driver"] == ("streaming-job-executor", None)  # not inside a task
    executors = {e for e, _ in where["tasks"]}  # type: ignore[attr-defined]
    assert executors == set(manual.sc._backend.executor_ids())
    pids = {pid for _, pid in where["tasks"]}  # type: ignore[attr-defined]
    if manual.sc.master.startswith(("local-cluster", "ray")):
        assert os.getpid() not in pids and len(pids) == 2
    else:
        assert pids == {os.getpid()}


def _where_am_i() -> tuple[str, int]:
    context = TaskContext.get()
    assert context is not None
    return context.executor.executor_id, os.getpid()


def test_stream_ids_are_deterministic() -> None:
    def build():
        streaming = ManualStreaming()
        a = streaming.ssc.queueStream([[1]])
        b = a.map(str)
        c = streaming.ssc.queueStream([[2]]).union(b)
        ids = [a._id, b._id, c._id]
        streaming.stop()
        return ids

    assert build() == build()


def test_union_of_different_slide_durations_is_refused(manual: ManualStreaming) -> None:
    other = ManualStreaming(batch_seconds=2)
    try:
        with pytest.raises(ValueError, match=r"StreamingContext|slide"):
            manual.ssc.queueStream([[1]]).union(other.ssc.queueStream([[2]]))
    finally:
        other.stop()


# --- DStream.checkpoint ---------------------------------------------------------------


def test_checkpoint_interval_must_be_a_multiple_of_the_slide(manual: ManualStreaming) -> None:
    stream = manual.ssc.queueStream([[1]])
    with pytest.raises(ValueError, match=r"multiple of its slide duration \(1.0 s\)"):
        stream.checkpoint(1.5)
    with pytest.raises(ValueError, match="positive multiple"):
        stream.checkpoint(0)


def test_a_checkpointed_stream_needs_a_checkpoint_directory(manual: ManualStreaming) -> None:
    stream = manual.ssc.queueStream([[1]]).map(lambda x: x)
    stream.checkpoint(2)
    stream.foreachRDD(lambda rdd: None)
    with pytest.raises(ValueError, match=r"checkpoint directory has not been set.*"
                                         r"ssc\.checkpoint\(directory\)"):
        manual.start()


def test_a_checkpointed_stream_saves_a_batch_every_interval(manual: ManualStreaming,
                                                             tmp_path) -> None:
    manual.ssc.checkpoint(str(tmp_path))
    doubled = manual.ssc.queueStream([[1, 2], [3], [4], [5], [6]]).map(lambda x: 2 * x)
    assert doubled.checkpoint(2) is doubled
    saved: list = []
    doubled.foreachRDD(lambda t, rdd: saved.append(
        (t, sorted(rdd.collect()), rdd.isCheckpointed(), rdd.getCheckpointFile())))
    manual.start()
    manual.run_batches(5)
    # Batches at 2 s and 4 s after the zero time are saved; the rest keep their lineage.
    assert [entry[1] for entry in saved] == [[2, 4], [6], [8], [10], [12]]
    assert [entry[2] for entry in saved] == [False, True, False, True, False]
    for _, _, checkpointed, path in saved:
        assert (path is not None) == checkpointed
        if path is not None:
            assert path.startswith(str(tmp_path)) and os.listdir(path)
    with pytest.raises(RuntimeError, match="before the StreamingContext starts"):
        doubled.checkpoint(2)
