"""State update cost against state size: updateStateByKey and mapWithState, with peers.

For state sizes of 1e3 to 1e6 string keys, each batch brings ``UPDATES`` (1e4)
(key, 1) records drawn from the state's keys. One round is one batch through the
whole streaming machinery on ``local[2]`` (manual clock: tick, jobs, tasks, output
``count()`` of the mapped stream / the state), the state built beforehand from an
initial state of that size. Measured, each beside its peer on the same data:

- ``mapWithState`` (a running count): touches only the batch's keys, so its median
  should stay flat as the state grows. Peers: a plain Python dict updated in a loop
  with the same 1e4 records (the floor for an in-memory O(batch) update), and the
  same batches through the same stream with no state (``partitionBy`` into the
  state's two partitions and a count: the engine's own floor for a batch that
  shuffles 1e4 Python pairs).
- ``updateStateByKey`` with an unregistered function (PySpark's semantics call it
  for every key, every batch: O(state)) and with the same function registered as a
  ``"sum"`` reduction (the state stays an Arrow table merged by the compiled core).
  Peer: pyarrow's own merge of the same state table with the batch (``group_by``
  of the concatenation), what a columnar O(state) merge costs.

The state streams are checkpointed at their default interval (mapWithState: every
10 batches; updateStateByKey: 10 s of 1 s batches), so the mean includes a checkpoint
(an O(state) write, and a read in the next batch) every tenth round; the median
shows a batch without one. ``test_state_summary`` prints medians and ratios.

Run: ``pytest bench/test_bench_state.py --benchmark-only -s``.
``FASTDSTREAM_BENCH_STATE_MAX`` caps the largest state (default 1000000).
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pyarrow as pa
import pytest

from fastdstream import StateSpec, register_kernel
from fastdstream.testing import ManualStreaming

UPDATES = 10_000
MAX_STATE = int(os.environ.get("FASTDSTREAM_BENCH_STATE_MAX", "1000000"))
SIZES = [s for s in (1_000, 10_000, 100_000, 1_000_000) if s <= MAX_STATE]
ROUNDS = 10
SEED = 20261129

_medians: dict[tuple[str, int], float] = {}


def _keys(size: int) -> list[str]:
    return [f"k{i}" for i in range(size)]


def _batch(size: int) -> list[tuple[str, int]]:
    rng = np.random.default_rng(SEED + size)
    keys = _keys(size)
    return [(keys[i], 1) for i in rng.integers(0, size, UPDATES)]


def count(key, value, state):  # the mapping function: a running count per key
    total = (state.getOption() or 0) + value
    state.update(total)
    return total


def running_sum(new_values, last_sum):  # rows: called for every key of the state
    return sum(new_values) + (last_sum or 0)


def registered_sum(new_values, last_sum):  # the same, registered as a "sum" reduction
    return sum(new_values) + (last_sum or 0)


register_kernel("updateStateByKey", registered_sum, "sum")


def _stream(kind: str, size: int) -> ManualStreaming:
    manual = ManualStreaming(master="local[2]")
    manual.ssc.checkpoint(tempfile.mkdtemp(prefix="bench-state-"))
    sc = manual.sc
    batch = sc.parallelize(_batch(size), 2)
    if kind == "updateStateByKey-columnar":
        keys = pa.array(_keys(size))
        initial = sc.parallelize(pa.table({"k": keys, "v": pa.array(np.zeros(size, np.int64))}), 2)
        table_batch = pa.table({"k": [k for k, _ in _batch(size)], "v": [1] * UPDATES})
        batch = sc.parallelize(table_batch, 2)
    else:
        initial = sc.parallelize([(k, 0) for k in _keys(size)], 2)
    pairs = manual.ssc.queueStream([], default=batch)
    if kind == "peer-stateless-shuffle":
        out = pairs.partitionBy(2)
    elif kind == "mapWithState":
        out = pairs.mapWithState(StateSpec.function(count).initialState(initial).numPartitions(2))
    elif kind == "updateStateByKey-rows":
        out = pairs.updateStateByKey(running_sum, 2, initial)
    else:
        out = pairs.updateStateByKey(registered_sum, 2, initial)
    out.foreachRDD(lambda rdd: rdd.count())
    manual.start()
    manual.run_batches(2, timeout=600)  # the initial state is built: not measured
    return manual


def _record(benchmark, name: str, size: int) -> None:
    stats = benchmark.stats.stats
    _medians[(name, size)] = stats.median
    benchmark.extra_info["state_keys"] = size
    benchmark.extra_info["updates_per_batch"] = UPDATES


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("kind", ["mapWithState", "updateStateByKey-rows",
                                  "updateStateByKey-columnar", "peer-stateless-shuffle"])
def test_state_batch(benchmark, kind: str, size: int) -> None:
    benchmark.group = f"state-{size}"
    manual = _stream(kind, size)
    try:
        benchmark.pedantic(manual.run_batches, args=(1, 600), rounds=ROUNDS, iterations=1)
    finally:
        manual.stop()
    _record(benchmark, kind, size)


@pytest.mark.parametrize("size", SIZES)
def test_state_peer_dict_loop(benchmark, size: int) -> None:
    """Peer of mapWithState: the batch's records into a plain dict, one by one."""
    benchmark.group = f"state-{size}"
    state = dict.fromkeys(_keys(size), 0)
    batch = _batch(size)

    def update() -> None:
        for key, value in batch:
            state[key] = state.get(key, 0) + value

    benchmark.pedantic(update, rounds=ROUNDS, iterations=1)
    _record(benchmark, "peer-dict-loop", size)


@pytest.mark.parametrize("size", SIZES)
def test_state_peer_pyarrow_merge(benchmark, size: int) -> None:
    """Peer of the columnar updateStateByKey: state table + batch, summed by pyarrow."""
    benchmark.group = f"state-{size}"
    holder = {"state": pa.table({"k": pa.array(_keys(size)),
                                 "v": pa.array(np.zeros(size, np.int64))})}
    batch = pa.table({"k": [k for k, _ in _batch(size)], "v": [1] * UPDATES})

    def merge() -> None:
        both = pa.concat_tables([holder["state"], batch])
        holder["state"] = both.group_by("k").aggregate([("v", "sum")]).rename_columns(
            ["k", "v"])

    benchmark.pedantic(merge, rounds=ROUNDS, iterations=1)
    _record(benchmark, "peer-pyarrow-merge", size)


def test_state_summary(benchmark) -> None:
    """Medians (ms) per state size, and how each grows from the smallest state."""
    benchmark.group = "state-summary"
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)  # runs under --benchmark-only
    if len(_medians) < 2:
        pytest.skip("no figures: run the whole module")
    names = sorted({name for name, _ in _medians})
    lines = ["median ms per batch, 1e4 updates/batch; x = median / median at the smallest size"]
    lines.append("state keys".rjust(12) + "".join(n.rjust(28) for n in names))
    for size in SIZES:
        row = f"{size:>12}"
        for name in names:
            median = _medians.get((name, size))
            base = _medians.get((name, SIZES[0]))
            row += ("-".rjust(28) if median is None or base is None
                    else f"{median * 1000:10.2f} ms x{median / base:7.1f}".rjust(28))
        lines.append(row)
    for size in SIZES:
        mws, peer = _medians.get(("mapWithState", size)), _medians.get(("peer-dict-loop", size))
        shuffle = _medians.get(("peer-stateless-shuffle", size))
        col = _medians.get(("updateStateByKey-columnar", size))
        arrow = _medians.get(("peer-pyarrow-merge", size))
        rows = _medians.get(("updateStateByKey-rows", size))
        parts = [f"state {size:>9}:"]
        if mws and peer:
            parts.append(f"mapWithState / dict loop = {mws / peer:6.1f}")
        if mws and shuffle:
            parts.append(f"mapWithState - stateless shuffle = {(mws - shuffle) * 1000:6.2f} ms")
        if col and arrow:
            parts.append(f"columnar updateStateByKey / pyarrow merge = {col / arrow:5.2f}")
        if rows and col:
            parts.append(f"rows / columnar updateStateByKey = {rows / col:6.1f}")
        lines.append("  ".join(parts))
    print("\n" + "\n".join(lines))
