"""RDD checkpoints cut the lineage: reliable (files) and local (blocks), on every back end."""

from __future__ import annotations

import gc
import os
from operator import add
from pathlib import Path

import pyarrow as pa
import pytest

from fastdstream import Context
from fastdstream.engine.rdd_checkpoint import CheckpointCorruptError
from fastdstream.testing import block_ids, partitions


def _calls(path: Path) -> list[int]:
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def _counting(log: Path):
    def count(split, it):
        with open(log, "a") as f:
            f.write(f"{split}\n")
        return it
    return count


def test_checkpoint_needs_a_directory(sc) -> None:
    with pytest.raises(ValueError, match="setCheckpointDir"):
        sc.parallelize([1]).checkpoint()


def test_set_checkpoint_dir_makes_a_subdirectory_per_context(sc, tmp_path) -> None:
    assert sc.getCheckpointDir() is None
    sc.setCheckpointDir(str(tmp_path))
    chosen = sc.getCheckpointDir()
    assert chosen is not None and Path(chosen).parent == tmp_path and Path(chosen).is_dir()


def test_reliable_checkpoint_saves_files_and_cuts_the_lineage(sc, tmp_path) -> None:
    sc.setCheckpointDir(str(tmp_path))
    log = tmp_path / "calls"
    base = sc.parallelize(range(6), 3).mapPartitionsWithIndex(_counting(log))
    rdd = base.map(lambda x: (x % 2, x)).reduceByKey(add)
    rdd.checkpoint()
    assert not rdd.isCheckpointed() and rdd.getCheckpointFile() is None
    assert sorted(rdd.collect()) == [(0, 6), (1, 9)]
    assert rdd.isCheckpointed() and not rdd.isLocallyCheckpointed()
    files = sorted(os.listdir(rdd.getCheckpointFile()))
    assert files == [f"part-{i:05d}" for i in range(rdd.getNumPartitions())]
    assert rdd._parents == ()
    computed = len(_calls(log))
    # Later jobs read the files: the parents are never computed again.
    assert sorted(rdd.collect()) == [(0, 6), (1, 9)]
    assert sorted(rdd.mapValues(lambda v: v * 10).collect()) == [(0, 60), (1, 90)]
    assert len(_calls(log)) == computed


def test_reliable_checkpoint_keeps_tables_columnar(sc, tmp_path) -> None:
    sc.setCheckpointDir(str(tmp_path))
    rdd = sc.parallelize(pa.table({"value": ["a b", "c"]}), 2).flatMap(str.split)
    rdd.checkpoint()
    assert rdd.count() == 3
    assert all(isinstance(p, pa.Table) for p in partitions(rdd))
    assert rdd.collect() == ["a", "b", "c"]


def test_a_corrupt_checkpoint_file_is_an_error_naming_it(sc, tmp_path) -> None:
    sc.setCheckpointDir(str(tmp_path))
    rdd = sc.parallelize(list(range(100)), 2)
    rdd.checkpoint()
    rdd.count()
    victim = Path(rdd.getCheckpointFile()) / "part-00001"
    raw = bytearray(victim.read_bytes())
    raw[-5] ^= 0xFF
    victim.write_bytes(bytes(raw))
    with pytest.raises(CheckpointCorruptError, match=r"part-00001.*checksum"):
        rdd.collect()


def test_local_checkpoint_keeps_blocks_and_cuts_the_lineage(sc, tmp_path) -> None:
    log = tmp_path / "calls"
    rdd = sc.parallelize(range(6), 3).mapPartitionsWithIndex(_counting(log)).map(
        lambda x: x * 2)
    rdd.localCheckpoint()
    assert rdd.sum() == 30
    assert rdd.isCheckpointed() and rdd.isLocallyCheckpointed()
    assert rdd.getCheckpointFile() is None and rdd._parents == ()
    assert {("rdd", rdd.id(), s) for s in range(3)} <= block_ids(sc)
    assert rdd.collect() == [0, 2, 4, 6, 8, 10]
    assert sorted(_calls(log)) == [0, 1, 2]  # computed once, read from blocks after


def test_a_checkpointed_shuffle_is_not_run_again_and_its_outputs_go(sc, tmp_path) -> None:
    sc.setCheckpointDir(str(tmp_path))
    rdd = sc.parallelize([("a", 1), ("b", 2), ("a", 3)], 2).reduceByKey(add)
    rdd.checkpoint()
    rdd.count()
    assert not any(b[0] == "shuffle" and b[1] == rdd.shuffle_id for b in block_ids(sc))
    assert not rdd.map_outputs_ready
    assert sorted(rdd.collect()) == [("a", 4), ("b", 2)]


def test_clean_checkpoints_removes_files_with_their_rdd(master, tmp_path) -> None:
    conf = {"spark.cleaner.referenceTracking.cleanCheckpoints": "true"}
    with Context(master, conf=conf) as sc:
        sc.setCheckpointDir(str(tmp_path))
        rdd = sc.parallelize(range(4), 2)
        rdd.checkpoint()
        rdd.count()
        directory = Path(rdd.getCheckpointFile())
        assert directory.is_dir()
        del rdd
        gc.collect()
        sc._cleaner.wait_until_idle()
        assert not directory.exists()


# --- the loop that motivated it: a state carried across 1,000 batches ---------------------


def _state_loop(sc: Context, batches: int, cut_every: int | None) -> tuple[list[int], list[int]]:
    """``state = state.union(batch).reduceByKey(add).persist()``, as a stateful stream
    does; return the live block count and the RSS (KiB, driver plus workers) per batch."""
    state = sc.parallelize([], 2)
    blocks, rss = [], []
    for i in range(batches):
        # 500 keys a batch out of 2,000: each state holds ~2,000 entries, so keeping
        # every earlier state alive would show in the RSS within a few hundred batches.
        first = (i * 500) % 2000
        batch = sc.parallelize([(f"key-{k}", 1) for k in range(first, first + 500)], 2)
        state = state.union(batch).reduceByKey(add, 2).persist()
        if cut_every and i % cut_every == 0:
            state.localCheckpoint()
        state.count()
        if i % 10 == 5:  # between two cuts, where the most is alive
            blocks.append(len(block_ids(sc)))
            rss.append(_rss_kib(sc))
    assert sum(v for _, v in state.collect()) == 500 * batches
    return blocks, rss


def _rss_kib(sc: Context) -> int:
    pids = [os.getpid()]
    pids += list(getattr(sc._backend, "worker_pids", dict)().values())
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            total += next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return total


def test_without_a_cut_every_batch_keeps_the_ones_before_it_alive(sc) -> None:
    # The control: this is what the checkpoint below has to prevent.
    blocks, _ = _state_loop(sc, 100, cut_every=None)
    assert blocks[-1] > blocks[0] + 300


def test_local_checkpoints_keep_blocks_and_memory_flat_over_1000_batches(sc) -> None:
    blocks, rss = _state_loop(sc, 1000, cut_every=10)
    assert max(blocks) <= 60, blocks  # bounded by the batches since the last cut
    # Flat: the last 300 batches hold no more blocks than the 300 after warm-up.
    assert max(blocks[-30:]) <= max(blocks[10:40]), blocks
    # RSS: after warm-up, the second half grows less than 30 MiB over the first.
    first, second = rss[10:50], rss[50:]
    assert sorted(second)[len(second) // 2] - sorted(first)[len(first) // 2] < 30 * 1024, rss


def test_checkpoint_file_reads_a_checkpointed_rdd_back_verified(sc, tmp_path) -> None:
    sc.setCheckpointDir(str(tmp_path))
    rdd = sc.parallelize([("a", 1), ("b", 2), ("c", 3)], 3)
    rdd.checkpoint()
    rdd.count()
    directory = rdd.getCheckpointFile()
    assert directory is not None
    back = sc._checkpointFile(directory)
    assert back.getNumPartitions() == 3 and back.getCheckpointFile() == directory
    assert sorted(back.map(lambda kv: kv[1] * 10).collect()) == [10, 20, 30]
    victim = Path(directory) / "part-00002"
    victim.write_bytes(victim.read_bytes()[:-3])
    with pytest.raises(CheckpointCorruptError, match=r"part-00002.*truncated"):
        back.collect()
    os.remove(Path(directory) / "part-00001")
    with pytest.raises(CheckpointCorruptError, match=r"partition file\(s\) \[1\] missing"):
        sc._checkpointFile(directory)
    with pytest.raises(CheckpointCorruptError, match=r"nowhere.*is missing"):
        sc._checkpointFile(str(tmp_path / "nowhere"))
