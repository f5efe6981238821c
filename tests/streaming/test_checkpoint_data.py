"""Per-stream checkpoint data: collected by the graph per stream id, cleaned, restored."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fastdstream.kafka import KafkaUtils, OffsetRange, TopicAndPartition
from fastdstream.streaming.dstream.checkpoint_data import DStreamCheckpointData
from fastdstream.testing import ManualStreaming, wait_until


def move_in(directory: Path, name: str, mtime_ms: int) -> str:
    path = directory / name
    path.write_text(f"{name}\n")
    os.utime(path, ns=(mtime_ms * 1_000_000, mtime_ms * 1_000_000))
    return str(path)


def file_job(streaming: ManualStreaming, directory: Path, out: list):
    """A file stream and a queue stream joined by a union: only the file stream saves."""
    files = streaming.ssc.textFileStream(str(directory))
    queued = streaming.ssc.queueStream([], default=["q"])
    files.union(queued).foreachRDD(lambda rdd: out.append(sorted(rdd.collect())))
    return files, queued


def remembering(seconds: int) -> ManualStreaming:
    return ManualStreaming(conf={"spark.streaming.fileStream.minRememberDuration": f"{seconds}s"})


@pytest.fixture
def streaming():
    s = remembering(3)
    yield s
    s.stop()


def test_the_graph_collects_each_batchs_files_by_stream_id(streaming, tmp_path: Path) -> None:
    out: list = []
    files, _ = file_job(streaming, tmp_path, out)
    streaming.ssc.checkpoint(str(tmp_path / "checkpoint"))
    streaming.start()
    paths = {}
    for i in range(1, 7):
        paths[i * 1000] = move_in(tmp_path, f"f{i}", i * 1000 - 500)
        streaming.run_batches(1)
    graph = streaming.ssc._graph
    # After batch 6 s, the batches before 3 s (6 s minus the 3 s window) are forgotten.
    wait_until(lambda: min(graph.checkpoint_data().get(files._id, {0: 0})) == 3000,
               what="the checkpoint data of batch 6 s")
    assert graph.checkpoint_data() == {files._id: {t: [paths[t]] for t in range(3000, 7000, 1000)}}
    assert out[-1] == ["f6", "q"]
    streaming.run_batches(2)
    wait_until(lambda: min(graph.checkpoint_data()[files._id]) == 5000,
               what="the checkpoint data of batch 8 s")
    assert graph.checkpoint_data()[files._id] == {
        5000: [paths[5000]], 6000: [paths[6000]], 7000: [], 8000: []}


def test_nothing_is_collected_without_a_checkpoint_directory(streaming, tmp_path: Path) -> None:
    files, _ = file_job(streaming, tmp_path, [])
    streaming.start()
    move_in(tmp_path, "a", 500)
    streaming.run_batches(2)
    assert streaming.ssc._graph.checkpoint_data() == {}
    assert files._batch_time_to_selected_files  # the stream itself remembers its batches


def test_the_graph_visits_every_stream_once(streaming, tmp_path: Path) -> None:
    files, queued = file_job(streaming, tmp_path, [])
    both = files.union(queued)  # a second path to the same inputs
    both.join(files.map(lambda x: (x, 1))).foreachRDD(lambda rdd: None)
    unused = streaming.ssc.queueStream([])
    ids = [s._id for s in streaming.ssc._graph.streams()]
    assert ids == sorted(set(ids))
    assert {files._id, queued._id, both._id, unused._id} <= set(ids)


def test_cleanup_forgets_batches_the_stream_no_longer_remembers(streaming, tmp_path) -> None:
    queued = streaming.ssc.queueStream([])
    queued.foreachRDD(lambda rdd: None)
    streaming.start()  # the queue stream remembers one batch (1 s)
    data = queued._checkpoint_data
    data.data = {1000: "a", 2000: "b", 3000: "c"}
    snapshot = data.snapshot()
    data.cleanup(3000)
    assert data.data == {2000: "b", 3000: "c"}
    assert snapshot == {1000: "a", 2000: "b", 3000: "c"}  # a snapshot stays as it was


def test_restore_rebuilds_the_batches_of_a_file_stream(tmp_path: Path) -> None:
    first = remembering(3)
    try:
        files, _ = file_job(first, tmp_path, [])
        first.ssc.checkpoint(str(tmp_path / "checkpoint"))
        first.start()
        a = move_in(tmp_path, "a", 500)
        b = move_in(tmp_path, "b", 1500)
        first.run_batches(2)
        graph = first.ssc._graph
        wait_until(lambda: 2000 in graph.checkpoint_data().get(files._id, {}),
                   what="the checkpoint data of batch 2 s")
        saved = graph.checkpoint_data()
    finally:
        first.stop()
    assert saved == {files._id: {1000: [a], 2000: [b]}}

    # The job rebuilt by the same setup code gets the same ids, and so its data.
    second = remembering(3)
    try:
        out: list = []
        again, _ = file_job(second, tmp_path, out)
        assert again._id == files._id
        move_in(tmp_path, "c", 700)  # a fresh listing of batch 1 s would take it too
        second.ssc._graph.restore_checkpoint_data(saved)
        assert again._batch_time_to_selected_files == {1000: [a], 2000: [b]}
        assert again._recently_selected_files == {a, b}
        assert sorted(again._generated) == [1000, 2000]
        second.start()
        second.run_batches(3)
        # Batches 1 s and 2 s read what they read before; c, not selected by either,
        # is new to batch 3 s.
        assert out == [["a", "q"], ["b", "q"], ["c", "q"]]
    finally:
        second.stop()


def test_restore_refuses_data_of_a_different_graph(streaming, tmp_path: Path) -> None:
    files, queued = file_job(streaming, tmp_path, [])
    graph = streaming.ssc._graph
    with pytest.raises(ValueError, match=r"stream\(s\) \[99\].*no longer builds the graph"):
        graph.restore_checkpoint_data({99: {1000: []}})
    with pytest.raises(ValueError, match=rf"stream {queued._id}.*QueueInputDStream"):
        graph.restore_checkpoint_data({queued._id: {1000: ["x"]}})
    with pytest.raises(ValueError, match=rf"stream {files._id}.*not a list of files"):
        graph.restore_checkpoint_data({files._id: {1000: [("t", 0, 1, 2)]}})


def test_restore_comes_before_start(streaming, tmp_path: Path) -> None:
    file_job(streaming, tmp_path, [])
    streaming.start()
    with pytest.raises(RuntimeError, match="before the StreamingContext starts"):
        streaming.ssc._graph.restore_checkpoint_data({})


def test_base_checkpoint_data_saves_nothing(streaming) -> None:
    stream = streaming.ssc.queueStream([]).map(str)
    assert type(stream._checkpoint_data) is DStreamCheckpointData
    assert stream._checkpoint_data.stream_id == stream._id
    stream._checkpoint_data.update(1000)
    assert stream._checkpoint_data.snapshot() == {}


def test_restore_rebuilds_the_batches_of_a_direct_kafka_stream(streaming) -> None:
    # No broker needed: restoring only builds RDDs; nothing is read until a job runs.
    stream = KafkaUtils.createDirectStream(
        streaming.ssc, ["t"], {"bootstrap.servers": "127.0.0.1:9", "group.id": "g"})
    saved = {stream._id: {1000: [("t", 0, 0, 5), ("t", 1, 3, 3)],
                          2000: [("t", 0, 5, 9), ("t", 1, 3, 4)]}}
    streaming.ssc._graph.restore_checkpoint_data(saved)
    assert stream._generated[2000].offsetRanges() == [OffsetRange("t", 0, 5, 9),
                                                      OffsetRange("t", 1, 3, 4)]
    assert stream._generated[1000].offsetRanges()[0] == OffsetRange("t", 0, 0, 5)
    # The next batch goes on from the newest restored one.
    assert stream._current == {TopicAndPartition("t", 0): 9, TopicAndPartition("t", 1): 4}
    stream._checkpoint_data.update(2000)
    assert stream._checkpoint_data.snapshot() == saved[stream._id]
    with pytest.raises(ValueError, match="not a list of offset ranges"):
        streaming.ssc._graph.restore_checkpoint_data({stream._id: {3000: ["a.txt"]}})


def test_a_writer_running_behind_never_deletes_what_a_kept_checkpoint_refers_to(
        streaming, tmp_path: Path) -> None:
    # The checkpoint writer runs behind the batches: here twenty checkpoints are taken
    # (each referring to the stream's checkpointed RDDs of the last three batches) before
    # the first is written. Once it is, the files it refers to must stay: it is the one
    # a driver killed now recovers from.
    sc = streaming.sc
    sc.setCheckpointDir(str(tmp_path / "rdds"))
    stream = streaming.ssc.queueStream([], default=[0])
    data = stream._checkpoint_data
    referred: dict[int, dict[int, str]] = {}
    for t in range(1000, 21000, 1000):
        rdd = sc.parallelize([t], 1)
        rdd.checkpoint()
        rdd.count()
        with stream._generated_lock:
            stream._generated[t] = rdd
            stream._generated.pop(t - 3000, None)  # the stream forgets older batches
        data.update_files(t)
        referred[t] = dict(data.files)
    assert all(len(files) == min(3, t // 1000) for t, files in referred.items())
    for written in range(1000, 21000, 1000):
        data.cleanup_files(written)
        # The last CHECKPOINTS_KEPT written and every one still queued can be read back.
        for t in range(max(1000, written - 4000), 21000, 1000):
            missing = [p for p in referred[t].values() if not os.path.isdir(p)]
            assert not missing, f"after writing {written}: checkpoint {t} refers to {missing}"
    # What no kept checkpoint refers to is deleted.
    assert not os.path.isdir(referred[2000][1000])
