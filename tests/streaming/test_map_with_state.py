"""mapWithState, batch by batch on the manual clock, on both back ends (Spark's
MapWithStateSuite cases), and the StateMap under it against a dict."""

from __future__ import annotations

import os
import pickle
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from long_run import lineage_size, run_1000_batches

from fastdstream import State, StateSpec
from fastdstream.engine.partitioner import portable_hash
from fastdstream.streaming.state_map import REMOVED, StateMap
from fastdstream.testing import ManualStreaming


def collect_sets(stream) -> list:
    batches: list = []
    stream.foreachRDD(lambda rdd: batches.append(sorted(rdd.collect(), key=repr)))
    return batches


def run(ckpt: ManualStreaming, inputs: list, spec: StateSpec, n: int | None = None):
    pairs = ckpt.ssc.queueStream([[(x, 1) for x in batch] for batch in inputs])
    mapped = pairs.mapWithState(spec)
    outputs, snapshots = collect_sets(mapped), collect_sets(mapped.stateSnapshots())
    ckpt.start()
    ckpt.run_batches(n if n is not None else len(inputs))
    return outputs, snapshots


INPUT = [[], ["a"], ["a", "b"], ["a", "b", "c"], ["a", "b"], ["a"], []]


def test_states_as_mapped_data(ckpt: ManualStreaming) -> None:
    def mapping(key, value, state):
        total = (value or 0) + (state.getOption() or 0)
        state.update(total)
        return key, total

    outputs, snapshots = run(ckpt, INPUT, StateSpec.function(mapping))
    assert outputs == [[], [("a", 1)], [("a", 2), ("b", 1)], [("a", 3), ("b", 2), ("c", 1)],
                       [("a", 4), ("b", 3)], [("a", 5)], []]
    assert snapshots == [[], [("a", 1)], [("a", 2), ("b", 1)],
                         [("a", 3), ("b", 2), ("c", 1)], [("a", 4), ("b", 3), ("c", 1)],
                         [("a", 5), ("b", 3), ("c", 1)], [("a", 5), ("b", 3), ("c", 1)]]


def test_initial_state_and_nothing_returned(ckpt: ManualStreaming) -> None:
    # The four-argument form: the batch time comes first, and None emits nothing.
    def mapping(time, key, value, state):
        state.update((value or 0) + (state.getOption() or 0))
        return None

    initial = ckpt.sc.parallelize([("a", 5), ("b", 10), ("c", -20), ("d", 0)])
    outputs, snapshots = run(ckpt, INPUT, StateSpec.function(mapping).initialState(initial))
    assert outputs == [[]] * 7
    assert snapshots == [
        [("a", 5), ("b", 10), ("c", -20), ("d", 0)], [("a", 6), ("b", 10), ("c", -20), ("d", 0)],
        [("a", 7), ("b", 11), ("c", -20), ("d", 0)], [("a", 8), ("b", 12), ("c", -19), ("d", 0)],
        [("a", 9), ("b", 13), ("c", -19), ("d", 0)], [("a", 10), ("b", 13), ("c", -19), ("d", 0)],
        [("a", 10), ("b", 13), ("c", -19), ("d", 0)]]


def test_the_four_argument_form_gets_the_batch_time(ckpt: ManualStreaming) -> None:
    def mapping(time, key, value, state):
        return key, time

    outputs, _ = run(ckpt, [["a"], ["b"]], StateSpec.function(mapping))
    start = datetime.fromtimestamp(ckpt.ssc._graph.zero_time / 1000)
    assert [[(k, (t - start).total_seconds()) for k, t in batch] for batch in outputs] == [
        [("a", 1.0)], [("b", 2.0)]]


def test_state_removing(ckpt: ManualStreaming) -> None:
    def mapping(key, value, state):
        if state.exists():
            state.remove()
            return key
        state.update(value)
        return None

    inputs = [[], ["a"], ["a", "b"], ["a", "b", "c"], ["a", "b", "c"], ["a", "b"], ["a"], []]
    outputs, snapshots = run(ckpt, inputs, StateSpec.function(mapping).numPartitions(1))
    # The three-argument form emits every return value, None too (Spark's Some(f(...))).
    assert [[x for x in batch if x is not None] for batch in outputs] == [
        [], [], ["a"], ["b"], ["a", "c"], ["b"], ["a"], []]
    assert snapshots == [[], [("a", 1)], [("b", 1)], [("a", 1), ("c", 1)], [("b", 1)],
                         [("a", 1)], [], []]


def test_state_timing_out(ckpt: ManualStreaming) -> None:
    # Spark's "state timing out" case, with the exact batch each key times out in.
    def mapping(key, value, state):
        if value is not None:
            state.update(1)
        return key if state.isTimingOut() else None

    inputs = [["a", "b", "c"], ["a", "b"], ["a"], [], [], ["a"]] + [["a"]] * 8
    outputs, snapshots = run(ckpt, inputs, StateSpec.function(mapping).timeout(3))
    timed_out = [[x for x in batch if x is not None] for batch in outputs]
    # c's last data came at 1 s: idle for more than 3 s at 5 s; b's at 2 s: out at 6 s.
    assert timed_out[:6] == [[], [], [], [], ["c"], ["b"]]
    assert sorted(x for batch in timed_out for x in batch) == ["b", "c"]
    assert {("a", 1), ("b", 1), ("c", 1)} == set(snapshots[0])
    assert snapshots[4] == [("a", 1), ("b", 1)]
    assert snapshots[-1] == [("a", 1)]


def test_a_timing_out_state_cannot_be_updated(ckpt: ManualStreaming) -> None:
    def mapping(key, value, state):
        state.update(value if value is not None else -1)  # raises when timing out
        return key

    ckpt.ssc.queueStream([[("a", 1)], [], [], []]).mapWithState(
        StateSpec.function(mapping).timeout(1)).foreachRDD(lambda rdd: rdd.count())
    ckpt.start()
    ckpt.run_batches(3)
    assert "cannot update a state that is timing out" in str(ckpt.take_error())


def test_num_partitions_and_partitioner(ckpt: ManualStreaming) -> None:
    def mapping(key, value, state):
        state.update(value)
        return key

    pairs = ckpt.ssc.queueStream([[(i, i) for i in range(20)]])
    by_hash = pairs.mapWithState(StateSpec.function(mapping).numPartitions(3))
    by_parity = pairs.mapWithState(
        StateSpec.function(mapping).numPartitions(2).partitioner(lambda k: k % 2))
    layouts: list = []
    by_hash.stateSnapshots().foreachRDD(lambda rdd: layouts.append(("hash", rdd.glom().collect())))
    by_parity.stateSnapshots().foreachRDD(
        lambda rdd: layouts.append(("parity", rdd.glom().collect())))
    ckpt.start()
    ckpt.run_batches(1)
    for kind, parts in layouts:
        assert len(parts) == (3 if kind == "hash" else 2)
        assert sorted(k for part in parts for k, _ in part) == list(range(20))
        for index, part in enumerate(parts):
            split = (lambda k: portable_hash(k) % 3) if kind == "hash" else (lambda k: k % 2)
            assert all(split(k) == index for k, _ in part)


def test_only_the_batch_keys_are_passed_to_the_function(ckpt: ManualStreaming) -> None:
    # 1000 keys of state, 3 records a batch: 3 calls a batch, whatever the state holds.
    def mapping(key, value, state):
        state.update((state.getOption() or 0) + value)
        return key

    initial = ckpt.sc.parallelize([(i, 0) for i in range(1000)], 4)
    pairs = ckpt.ssc.queueStream([[(1, 1), (2, 1), (3, 1)]] * 4)
    mapped = pairs.mapWithState(StateSpec.function(mapping).initialState(initial))
    outputs = collect_sets(mapped)
    sizes: list = []
    mapped.stateSnapshots().foreachRDD(lambda rdd: sizes.append(rdd.count()))
    ckpt.start()
    ckpt.run_batches(4)
    assert outputs == [[1, 2, 3]] * 4
    assert sizes == [1000] * 4


def test_mutating_the_state_in_place_leaves_earlier_snapshots(ckpt: ManualStreaming) -> None:
    def mapping(key, value, state):
        seen = state.getOption() or []
        seen.append(value)
        state.update(seen)
        return list(seen)

    pairs = ckpt.ssc.queueStream([[("k", 1)], [("k", 2)], [("k", 3)]])
    mapped = pairs.mapWithState(StateSpec.function(mapping))
    outputs, snapshots = collect_sets(mapped), collect_sets(mapped.stateSnapshots())
    ckpt.start()
    ckpt.run_batches(3)
    assert outputs == [[[1]], [[1, 2]], [[1, 2, 3]]]
    assert snapshots == [[("k", [1])], [("k", [1, 2])], [("k", [1, 2, 3])]]


def test_needs_a_checkpoint_directory(manual: ManualStreaming) -> None:
    spec = StateSpec.function(lambda k, v, s: k)
    manual.ssc.queueStream([[("a", 1)]]).mapWithState(spec).pprint()
    with pytest.raises(ValueError, match=r"InternalMapWithStateDStream\[1\].*checkpoint "
                                         r"directory has not been set"):
        manual.start()


def test_bad_specs_are_refused(manual: ManualStreaming) -> None:
    stream = manual.ssc.queueStream([])
    with pytest.raises(TypeError, match="takes a StateSpec"):
        stream.mapWithState(lambda k, v, s: k)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"takes 2 positional arguments; it must take "
                                        r"\(key, value, state\)"):
        stream.mapWithState(StateSpec.function(lambda k, v: k))
    with pytest.raises(ValueError, match="positive int"):
        StateSpec.function(len).numPartitions(0)
    with pytest.raises(ValueError, match="timeout must be positive"):
        StateSpec.function(len).timeout(0)
    with pytest.raises(TypeError, match="initialState takes an RDD"):
        StateSpec.function(len).initialState([("a", 1)])  # type: ignore[arg-type]


def test_default_checkpoint_interval_is_ten_batches(ckpt: ManualStreaming) -> None:
    mapped = ckpt.ssc.queueStream([]).mapWithState(StateSpec.function(lambda k, v, s: k))
    other = ckpt.ssc.queueStream([]).mapWithState(StateSpec.function(lambda k, v, s: k))
    assert other.checkpoint(4) is other
    mapped.pprint()
    other.pprint()
    ckpt.start()
    assert mapped._internal._checkpoint_interval_ms == 10 * ckpt.batch_ms
    assert other._internal._checkpoint_interval_ms == 4000


def test_explain_says_how_the_state_is_held(ckpt: ManualStreaming) -> None:
    def mapping(key, value, state):
        return key

    mapped = ckpt.ssc.queueStream([]).mapWithState(StateSpec.function(mapping).timeout(5))
    text = mapped.stateSnapshots().explain()
    assert "mapWithState(mapping) rows: a function of (key, value, State) per record" in text
    assert "touching only its keys and those timing out" in text
    assert "keys idle over 5 s time out" in text


def test_a_state_restored_without_its_partitioner_is_partitioned_again(
        ckpt: ManualStreaming) -> None:
    # What a restored batch looks like: the state partitions read back from files, with
    # no partitioner. The next batch partitions its entries again and goes on.
    def mapping(key, value, state):
        state.update((state.getOption() or 0) + value)
        return key, state.get()

    pairs = ckpt.ssc.queueStream([[("a", 1), ("b", 1)], [("a", 1)], [("c", 1)]])
    mapped = pairs.mapWithState(StateSpec.function(mapping).numPartitions(2))
    snapshots = collect_sets(mapped.stateSnapshots())
    internal = mapped._internal
    ckpt.start()
    ckpt.run_batches(1)
    first = max(internal._generated)
    records = internal._generated[first].collect()
    internal._generated[first] = ckpt.sc.parallelize(records, 3)
    ckpt.run_batches(2)
    assert snapshots == [[("a", 1), ("b", 1)], [("a", 2), ("b", 1)],
                         [("a", 2), ("b", 1), ("c", 1)]]


def test_lineage_and_blocks_stay_bounded_over_1000_batches(cleaning_ckpt: ManualStreaming
                                                            ) -> None:
    ssc, sc = cleaning_ckpt.ssc, cleaning_ckpt.sc

    def mapping(key, value, state):
        state.update((state.getOption() or 0) + value)
        return state.get()

    pairs = ssc.queueStream([], default=sc.parallelize([("a", 1), ("b", 2)], 2))
    mapped = pairs.mapWithState(StateSpec.function(mapping).numPartitions(2).timeout(50))
    depths: list[int] = []
    last: list = []
    mapped.stateSnapshots().foreachRDD(lambda rdd: last.__setitem__(
        slice(None), rdd.collect()))
    mapped.foreachRDD(lambda rdd: depths.append(lineage_size(rdd)))
    blocks = run_1000_batches(cleaning_ckpt)
    assert sorted(last) == [("a", 1000), ("b", 2000)]
    assert max(depths) == max(depths[:30]) and max(depths) < 50
    assert max(blocks) == max(blocks[:2]) and max(blocks) < 200
    assert 0 < len(os.listdir(sc.getCheckpointDir())) < 10


# --- State ------------------------------------------------------------------------------


def test_state_object() -> None:
    state = State()
    assert not state.exists() and state.getOption() is None
    with pytest.raises(KeyError, match="has no state"):
        state.get()
    state.update(None)  # None is a state like any other
    assert state.exists() and state.get() is None
    state.remove()
    assert not state.exists()
    with pytest.raises(ValueError, match="already been removed"):
        state.remove()
    with pytest.raises(ValueError, match="has been removed"):
        state.update(1)
    state._wrap(5, timing_out=True)
    assert state.isTimingOut() and state.get() == 5
    with pytest.raises(ValueError, match="timing out"):
        state.remove()


# --- StateMap against a dict ----------------------------------------------------------

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ops = st.lists(  # per batch: key -> new state (int) or None to remove
    st.dictionaries(st.integers(0, 40), st.one_of(st.none(), st.integers(0, 9)), max_size=25),
    max_size=30)


@SETTINGS
@given(batches=ops, timeout=st.integers(1, 6))
def test_state_map_equals_a_dict(batches: list[dict[int, int | None]], timeout: int) -> None:
    model: dict[int, tuple[int, int]] = {}
    current = StateMap(track_times=True)
    history: list[tuple[StateMap, dict[int, tuple[int, int]]]] = []
    for time, batch in enumerate(batches, start=1):
        threshold = time - timeout
        writes: dict = {k: REMOVED if v is None else (v, time) for k, v in batch.items()}
        # Timeouts: every key (not written now) last updated before the threshold.
        expected_out = sorted(k for k, (_, t) in model.items() if t < threshold and k not in batch)
        got_out = sorted(k for k, _ in current.timing_out(threshold) if k not in writes)
        assert got_out == expected_out
        for key in got_out:
            writes[key] = REMOVED
        for key, entry in writes.items():
            if entry is REMOVED:
                model.pop(key, None)
            else:
                model[key] = entry
        current = current.updated(writes, time, horizon=threshold)
        history.append((current, dict(model)))
        assert current.num_layers <= 12
    for snapshot, expected in history:  # earlier snapshots are unchanged by later batches
        assert {k: (s, t) for k, s, t in snapshot.items()} == expected
        assert all(snapshot.get(k) == e for k, e in expected.items())
        flat = pickle.loads(pickle.dumps(snapshot))
        assert flat.num_layers <= 1 and sorted(flat.items()) == sorted(snapshot.items())


def test_a_small_batch_does_not_copy_a_big_state() -> None:
    base = StateMap.from_items([(i, i, 0) for i in range(100_000)], track_times=False)
    after = base
    for time in range(1, 50):
        after = after.updated({time: (-1, time)}, time)
    # The bottom layer is the very dict of the start: 49 small batches copied none of it.
    assert after._layers[0].entries is base._layers[0].entries
    assert after.num_layers <= 8 and after.get(7) == (-1, 7) and after.get(99_999) == (99_999, 0)


def test_each_record_is_mapped_once(ckpt: ManualStreaming, tmp_path) -> None:
    # The previous state is read from its cached partitions, not recomputed from the
    # lineage: the function runs once per record, on either back end.
    calls = str(tmp_path / "calls")

    def mapping(key, value, state):
        with open(calls, "a", encoding="utf-8") as log:
            log.write(f"{key}\n")
        state.update((state.getOption() or 0) + value)
        return state.get()

    pairs = ckpt.ssc.queueStream([[("a", 1), ("b", 1)], [("a", 1)], [("c", 1)], [("a", 1)]])
    mapped = pairs.mapWithState(StateSpec.function(mapping).numPartitions(2))
    outputs = collect_sets(mapped)
    snapshots = collect_sets(mapped.stateSnapshots())
    ckpt.start()
    ckpt.run_batches(4)
    assert outputs == [[1, 1], [2], [1], [3]]
    assert snapshots[-1] == [("a", 3), ("b", 1), ("c", 1)]
    with open(calls, encoding="utf-8") as log:
        assert sorted(log.read().split()) == ["a", "a", "a", "b", "c"]
