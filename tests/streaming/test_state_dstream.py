"""updateStateByKey, batch by batch on the manual clock, on both back ends."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from long_run import lineage_size, run_1000_batches

from fastdstream import register_kernel
from fastdstream.engine.columnar import registry
from fastdstream.engine.partitioner import portable_hash
from fastdstream.streaming.dstream import state_dstream
from fastdstream.testing import ManualStreaming, partitions


def collect_batches(stream) -> list:
    batches: list = []
    stream.foreachRDD(lambda rdd: batches.append(sorted(rdd.collect())))
    return batches


def appender(vs, s):
    # PySpark's test updater: it changes its state in place.
    if not s:
        s = []
    s.extend(vs)
    return s


def running_sum(new_values, last_sum):
    return sum(new_values) + (last_sum or 0)


def test_update_state_by_key(ckpt: ManualStreaming) -> None:
    # PySpark's test_update_state_by_key.
    stream = ckpt.ssc.queueStream([[("k", i)] for i in range(5)])
    out = collect_batches(stream.updateStateByKey(appender))
    ckpt.start()
    ckpt.run_batches(5)
    # The updater extends its state in place: earlier batches' results stay as they were.
    expected = [[0], [0, 1], [0, 1, 2], [0, 1, 2, 3], [0, 1, 2, 3, 4]]
    assert out == [[("k", v)] for v in expected]


def test_update_state_by_key_initial_rdd(ckpt: ManualStreaming) -> None:
    # PySpark's test_update_state_by_key_initial_rdd.
    initial = ckpt.sc.parallelize([("k", [0, 1])], 1)
    stream = ckpt.ssc.queueStream([[("k", i)] for i in range(2, 5)])
    out = collect_batches(stream.updateStateByKey(appender, initialRDD=initial))
    ckpt.start()
    ckpt.run_batches(3)
    assert out == [[("k", v)] for v in ([0, 1, 2], [0, 1, 2, 3], [0, 1, 2, 3, 4])]


def test_initial_state_as_a_list_and_keys_without_new_values(ckpt: ManualStreaming) -> None:
    stream = ckpt.ssc.queueStream([[("a", 1)], [], [("b", 2), ("b", 3)]])
    state = stream.updateStateByKey(running_sum, initialRDD=[("z", 10)])
    out = collect_batches(state)
    # Every key with a state is updated every batch, with [] when it has no new values.
    seen = collect_batches(stream.updateStateByKey(lambda vs, s: (sorted(vs), s)))
    ckpt.start()
    ckpt.run_batches(3)
    assert out == [[("a", 1), ("z", 10)], [("a", 1), ("z", 10)],
                   [("a", 1), ("b", 5), ("z", 10)]]
    assert seen[0] == [("a", ([1], None))]
    assert seen[1] == [("a", ([], ([1], None)))]
    assert seen[2] == [("a", ([], ([], ([1], None)))), ("b", ([2, 3], None))]


def test_returning_none_removes_the_key(ckpt: ManualStreaming) -> None:
    def until_three(vs, s):
        total = sum(vs) + (s or 0)
        return None if total >= 3 else total

    stream = ckpt.ssc.queueStream([[("a", 1), ("b", 2)], [("b", 1), ("a", 1)], [("a", 1)],
                                   [("b", 1)]])
    out = collect_batches(stream.updateStateByKey(until_three))
    ckpt.start()
    ckpt.run_batches(4)
    assert out == [[("a", 1), ("b", 2)], [("a", 2)], [], [("b", 1)]]


def test_num_partitions_and_key_hash_layout(ckpt: ManualStreaming) -> None:
    stream = ckpt.ssc.queueStream([[(w, 1) for w in "abcdefghij"], [("a", 1), ("q", 1)]])
    state = stream.updateStateByKey(running_sum, numPartitions=3)
    layouts: list = []
    state.foreachRDD(lambda rdd: layouts.append(
        (rdd.getNumPartitions(), rdd.glom().collect(), rdd.partitioner)))
    ckpt.start()
    ckpt.run_batches(2)
    for n, parts, partitioner in layouts:
        assert n == 3 and partitioner is not None and partitioner.num_partitions == 3
        for index, part in enumerate(parts):
            assert all(portable_hash(k) % 3 == index for k, _ in part)
    assert sorted(kv for part in layouts[1][1] for kv in part) == sorted(
        [(w, 1) for w in "bcdefghij"] + [("a", 2), ("q", 1)])


def test_the_state_is_not_shuffled(ckpt: ManualStreaming) -> None:
    # Only the new batch crosses a shuffle: the state RDD's parents are the previous
    # state (narrow) and the batch partitioned into the state's layout.
    stream = ckpt.ssc.queueStream([[("a", 1)], [("b", 1)]])
    state = stream.updateStateByKey(running_sum, numPartitions=2)
    kinds: list = []
    state.foreachRDD(lambda rdd: kinds.append([type(p).__name__ for p in rdd._parents]))
    ckpt.start()
    ckpt.run_batches(2)
    assert kinds == [["ShuffledRDD"], ["StateRDD", "ShuffledRDD"]]


def test_needs_a_checkpoint_directory(manual: ManualStreaming) -> None:
    manual.ssc.queueStream([[("a", 1)]]).updateStateByKey(running_sum).pprint()
    with pytest.raises(ValueError, match=r"StateDStream\[1\].*checkpoint directory has not "
                                         r"been set.*ssc\.checkpoint\(directory\)"):
        manual.start()


def test_update_func_must_be_callable(manual: ManualStreaming) -> None:
    with pytest.raises(TypeError, match="updateFunc must be callable"):
        manual.ssc.queueStream([]).updateStateByKey(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="numPartitions must be a positive int"):
        manual.ssc.queueStream([]).updateStateByKey(running_sum, numPartitions=0)


def test_a_failing_update_func_fails_the_batch(ckpt: ManualStreaming) -> None:
    def broken(vs, s):
        raise RuntimeError("update exploded")

    ckpt.ssc.queueStream([[("a", 1)]]).updateStateByKey(broken).foreachRDD(
        lambda rdd: rdd.count())
    ckpt.start()
    ckpt.run_batches(1)
    assert "update exploded" in str(ckpt.take_error())


# --- columnar state ---------------------------------------------------------------------


def sum_update(new_values, last_sum):
    return sum(new_values) + (last_sum or 0)


@pytest.fixture
def registered_sum() -> Iterator[None]:
    register_kernel("updateStateByKey", sum_update, "sum")
    yield
    registry.unregister("updateStateByKey", sum_update)


def test_a_registered_sum_keeps_the_state_columnar(ckpt: ManualStreaming,
                                                   registered_sum: None) -> None:
    batches = [pa.table({"k": ["a", "b", "a"], "v": [1, 2, 3]}),
               pa.table({"k": ["c", "a"], "v": [5, 1]}),
               pa.table({"k": pa.array([], pa.string()), "v": pa.array([], pa.int64())}),
               pa.table({"k": ["b"], "v": [10]})]
    ssc = ckpt.ssc
    columnar = ssc.queueStream(batches).updateStateByKey(sum_update, numPartitions=2)
    # The same data through a function nobody registered: the row path, as reference.
    rows = ssc.queueStream(batches).updateStateByKey(running_sum, numPartitions=2)
    forms: list = []
    columnar.foreachRDD(lambda rdd: forms.append([type(p).__name__ for p in partitions(rdd)]))
    got, want = collect_batches(columnar), collect_batches(rows)
    assert "columnar when two columns" in columnar.explain()
    assert "merged by the compiled core" in columnar.explain()
    assert "rows: not a registered function" in rows.explain()
    after_lambda = ssc.queueStream([]).map(lambda kv: kv).updateStateByKey(sum_update)
    assert ("updateStateByKey(sum_update) rows: its input is Python rows (from map(<lambda>)) "
            "(state held as Python objects)") in after_lambda.explain()
    ckpt.start()
    ckpt.run_batches(4)
    assert got == want == [[("a", 4), ("b", 2)], [("a", 5), ("b", 2), ("c", 5)],
                           [("a", 5), ("b", 2), ("c", 5)], [("a", 5), ("b", 12), ("c", 5)]]
    assert all(kinds == ["Table"] * len(kinds) for kinds in forms)


def test_columnar_state_falls_back_to_rows_where_the_guard_fails(
        ckpt: ManualStreaming, registered_sum: None) -> None:
    batches = [pa.table({"k": ["a", "b"], "v": [1, 2]}),
               [("a", 2.5), ("c", 1)],  # Python rows: updateFunc runs on them
               pa.table({"k": ["a"], "v": [2**62]}),
               pa.table({"k": ["a"], "v": [2**62]})]  # int64 would overflow: exact ints
    state = ckpt.ssc.queueStream(batches).updateStateByKey(sum_update, numPartitions=1)
    out = collect_batches(state)
    ckpt.start()
    ckpt.run_batches(4)
    assert out == [[("a", 1), ("b", 2)], [("a", 3.5), ("b", 2), ("c", 1)],
                   [("a", 3.5 + 2**62), ("b", 2), ("c", 1)],
                   [("a", 3.5 + 2**62 + 2**62), ("b", 2), ("c", 1)]]


# --- lineage and blocks over a long run -------------------------------------------------


def test_lineage_and_blocks_stay_bounded_over_1000_batches(cleaning_ckpt: ManualStreaming
                                                            ) -> None:
    ssc, sc = cleaning_ckpt.ssc, cleaning_ckpt.sc
    pairs = ssc.queueStream([], default=sc.parallelize([("a", 1), ("b", 2)], 2))
    state = pairs.updateStateByKey(running_sum, numPartitions=2)
    state.checkpoint(5)
    depths: list[int] = []
    last: list = []
    checkpointed: list[bool] = []

    def record(rdd) -> None:
        last[:] = rdd.collect()
        depths.append(lineage_size(rdd))
        checkpointed.append(rdd.isCheckpointed())

    state.foreachRDD(record)
    blocks = run_1000_batches(cleaning_ckpt)
    assert sorted(last) == [("a", 1000), ("b", 2000)]
    # Cut every 5 batches: never more than 5 states and their batches in a lineage.
    assert max(depths) <= max(depths[:20]) and max(depths) < 40
    assert max(blocks) == max(blocks[:2]) and max(blocks) < 200
    # Checkpoints were written (every 5th batch), and the old states were freed.
    assert checkpointed.count(True) == 200
    saved = os.listdir(sc.getCheckpointDir())
    assert 0 < len(saved) < 10, saved
    print("lineage depths", max(depths), "blocks", blocks, "files", len(saved))


def test_a_state_batch_s_lineage_is_what_it_read(ckpt: ManualStreaming) -> None:
    # A batch's lineage (what Kafka's offsetRanges() walks) holds its own input only, not
    # the earlier batches the carried state came from: a state pipeline commits what
    # each batch consumed, once.
    stream = ckpt.ssc.queueStream([[("a", 1)], [("b", 1)], [("a", 1)]])
    state = stream.updateStateByKey(running_sum, numPartitions=2)
    inputs: list = []
    stream.foreachRDD(lambda rdd: inputs.append(rdd.id()))
    read: list = []
    state.foreachRDD(lambda rdd: read.append(
        [n.id() for n in rdd._lineage() if type(n).__name__ == "ParallelCollectionRDD"]))
    ckpt.start()
    ckpt.run_batches(3)
    assert read == [[i] for i in inputs]


@pytest.mark.parametrize("columnar", [False, True])
def test_a_state_restored_without_its_partitioner_is_partitioned_again(
        ckpt: ManualStreaming, columnar: bool) -> None:
    # What a restored batch looks like: its partitions read back from checkpoint files,
    # with no partitioner. The next batch partitions it again and goes on from it.
    func = sum_update if columnar else running_sum
    if columnar:
        register_kernel("updateStateByKey", sum_update, "sum")
    try:
        batches = [pa.table({"k": ["a", "b"], "v": [1, 1]}), pa.table({"k": ["a"], "v": [1]}),
                   pa.table({"k": ["c"], "v": [1]})]
        state = ckpt.ssc.queueStream(batches).updateStateByKey(func, numPartitions=2)
        out = collect_batches(state)
        ckpt.start()
        ckpt.run_batches(1)
        first = max(state._generated)
        restored = state._generated[first]
        saved = partitions(restored)
        tables = [p for p in saved if isinstance(p, pa.Table)]
        assert not columnar or len(tables) == len(saved)  # even an empty one is a table
        state._generated[first] = ckpt.sc.parallelize(
            pa.concat_tables(tables) if columnar else restored.collect(), 3)
        ckpt.run_batches(2)
        assert out == [[("a", 1), ("b", 1)], [("a", 2), ("b", 1)],
                       [("a", 2), ("b", 1), ("c", 1)]]
    finally:
        registry.unregister("updateStateByKey", sum_update)


def test_the_context_s_checkpoint_directory_is_enough(manual: ManualStreaming, tmp_path) -> None:
    # As PySpark's own test base does: sc.setCheckpointDir, no ssc.checkpoint.
    manual.sc.setCheckpointDir(str(tmp_path))
    out = collect_batches(manual.ssc.queueStream([[("k", 1)], [("k", 2)]])
                          .updateStateByKey(running_sum))
    manual.start()
    manual.run_batches(2)
    assert out == [[("k", 1)], [("k", 3)]]


@settings(max_examples=60, deadline=None)
@given(prev=st.lists(st.tuples(st.one_of(st.none(), st.sampled_from("ab")),
                               st.one_of(st.none(), st.integers(-3, 3))), max_size=5,
                     unique_by=lambda kv: kv[0]),
       new=st.lists(st.tuples(st.one_of(st.none(), st.sampled_from("ab")),
                              st.one_of(st.none(), st.integers(-3, 3))), max_size=6))
def test_a_columnar_state_update_over_nulls_is_the_rows_or_raises_the_same(prev, new):
    # A registered sum must not let the core skip a null Python's sum() raises on.
    def table(pairs):
        return pa.table({"k": pa.array([k for k, _ in pairs], pa.string()),
                         "v": pa.array([v for _, v in pairs], pa.int64())})

    def outcome(prev_part, new_part):
        try:
            out = state_dstream._update_partition(sum_update, plan, False, False, 0,
                                                  prev_part, new_part)
        except Exception as exc:  # the type is what is compared
            return ("raised", type(exc))
        rows = list(zip(*(c.to_pylist() for c in out.columns), strict=True)) if isinstance(
            out, pa.Table) else list(out)
        return ("ok", sorted(rows, key=repr))

    register_kernel("updateStateByKey", sum_update, "sum")
    try:
        plan = state_dstream._plan(sum_update)
        assert plan.columnar
        prev_table = table(prev) if prev else None
        assert outcome(prev_table, table(new)) == outcome(list(prev) or None, list(new))
    finally:
        registry.unregister("updateStateByKey", sum_update)
