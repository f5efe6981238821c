"""Checkpoint benchmarks: checkpoint write time and recovery time vs state size.

A checkpointed stream whose every batch is an RDD of N keys (int64 key and value
columns, kept columnar: ``mapInArrow`` of a table), checkpointed every batch, stands
for a state of N keys. N = 1e3 .. 1e6. Each figure has its peer in the same run:

- write: one batch of that stream with its RDD checkpoint (partition files, CRC,
  fsync) and its streaming checkpoint written, against the same batch without
  checkpointing (the batch's own cost) and against writing the same table as one
  Arrow IPC file with fsync (the ceiling for saving that data);
- recovery: ``getOrCreate`` from the checkpoint, ``start`` and the recovered batch
  run (the state read back from its files and counted), then stop, against reading
  the Arrow IPC file back and counting its rows.

Run: ``pytest bench/test_bench_checkpoint.py --benchmark-only``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from fastdstream import StreamingContext
from fastdstream.streaming.checkpoint import checkpoint_path
from fastdstream.testing import ManualStreaming, wait_until

SIZES = [1_000, 10_000, 100_000, 1_000_000]


def state_table(n: int) -> pa.Table:
    keys = pa.array(range(n), pa.int64())
    return pa.table({"key": keys, "value": keys})


def _same(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    return batches


def _count(rdd) -> None:
    rdd.count()


def build(n: int, checkpointed: bool, clock_at: int = 0) -> ManualStreaming:
    streaming = ManualStreaming()
    streaming.clock.set_time(clock_at)
    ssc = streaming.ssc
    base = streaming.sc.parallelize(state_table(n), 2)
    stream = ssc.queueStream([], default=base).mapInArrow(_same)
    if checkpointed:
        stream.checkpoint(1)
    stream.foreachRDD(_count)
    return streaming


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.benchmark(group="checkpoint-write")
def test_checkpoint_write(benchmark, n: int, tmp_path: Path) -> None:
    """One batch whose N-key RDD is checkpointed, its streaming checkpoint written."""
    streaming = build(n, checkpointed=True)
    streaming.ssc.checkpoint(str(tmp_path))
    streaming.start()
    writer = streaming.ssc._checkpoint_writer
    assert writer is not None

    def batch() -> None:
        streaming.run_batches(1)
        writer.flush()

    try:
        benchmark.pedantic(batch, rounds=5, iterations=1, warmup_rounds=1)
    finally:
        streaming.stop()
    assert writer.last_written_time > 0


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.benchmark(group="checkpoint-write")
def test_checkpoint_write_peer_no_checkpoint(benchmark, n: int) -> None:
    """Peer: the same batch without checkpointing."""
    streaming = build(n, checkpointed=False)
    streaming.start()
    try:
        benchmark.pedantic(streaming.run_batches, args=(1,), rounds=5, iterations=1,
                           warmup_rounds=1)
    finally:
        streaming.stop()


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.benchmark(group="checkpoint-write")
def test_checkpoint_write_peer_arrow_ipc_fsync(benchmark, n: int, tmp_path: Path) -> None:
    """Peer: the same table written as one Arrow IPC file and fsynced."""
    table = state_table(n)
    path = tmp_path / "state.arrow"

    def write() -> None:
        with open(path, "wb") as f:
            with pa.ipc.new_file(f, table.schema) as writer:
                writer.write_table(table)
            f.flush()
            os.fsync(f.fileno())

    benchmark.pedantic(write, rounds=5, iterations=1, warmup_rounds=1)


def _checkpointed_job(n: int, directory: Path) -> None:
    """Run two checkpointed batches, so ``directory`` holds the state of 2 s."""
    streaming = build(n, checkpointed=True)
    streaming.ssc.checkpoint(str(directory))
    streaming.start()
    try:
        streaming.run_batches(2)
        wait_until(lambda: os.path.exists(checkpoint_path(str(directory), 2000)),
                   what="the checkpoint of 2 s")
    finally:
        streaming.stop()


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.benchmark(group="checkpoint-recovery")
def test_checkpoint_recovery(benchmark, n: int, tmp_path: Path) -> None:
    """getOrCreate, start, the recovered batch read back from its files, stop."""
    _checkpointed_job(n, tmp_path)
    made: list[ManualStreaming] = []

    def setup() -> StreamingContext:
        made.append(build(n, checkpointed=True, clock_at=2000))
        return made[-1].ssc

    def recover() -> None:
        ssc = StreamingContext.getOrCreate(str(tmp_path), setup)
        ssc.start()
        made[-1].recorder.wait_for_batches(1)
        ssc.stop()

    benchmark.pedantic(recover, rounds=5, iterations=1, warmup_rounds=1)
    assert all(m.recorder.completed for m in made)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.benchmark(group="checkpoint-recovery")
def test_checkpoint_recovery_peer_arrow_ipc_read(benchmark, n: int, tmp_path: Path) -> None:
    """Peer: the same table read back from an Arrow IPC file and counted."""
    path = tmp_path / "state.arrow"
    table = state_table(n)
    with open(path, "wb") as f, pa.ipc.new_file(f, table.schema) as writer:
        writer.write_table(table)

    def read() -> int:
        with pa.memory_map(str(path)) as source:
            return pa.ipc.open_file(source).read_all().num_rows

    assert benchmark.pedantic(read, rounds=5, iterations=1, warmup_rounds=1) == n
