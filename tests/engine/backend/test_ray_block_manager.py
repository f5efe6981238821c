"""Blocks and map outputs in Ray's object store: read by handle, freed with their batch."""

from __future__ import annotations

import gc
from collections.abc import Iterable
from operator import add

import pytest
import ray
from ray._private import internal_api

from fastdstream import Context, TaskContext
from fastdstream.engine.backend.ray_block_manager import BlockHandle
from fastdstream.testing import ManualStreaming, wait_until
from fastdstream.testing.line_server import LineServer

FRESH = {"fastdstream.ray.reuseExecutors": "false"}
ON_EXECUTORS = "fastdstream.receiver.onExecutors"


def _objects_in_store() -> int:
    """Objects in the object store of every node of the session's Ray, as Ray counts them."""
    address = ray.get_runtime_context().gcs_address
    reply = internal_api.get_memory_info_reply(internal_api.get_state_from_address(address))
    return int(reply.store_stats.num_local_objects)


@pytest.fixture
def cluster(ray_session: None) -> Context:
    sc = Context("ray", "test-ray-blocks", conf=FRESH)
    yield sc
    sc.stop()


def test_map_outputs_are_read_from_the_object_store_by_handle(cluster: Context) -> None:
    before = _objects_in_store()
    counts = cluster.parallelize([(i % 5, 1) for i in range(500)], 4).reduceByKey(add, 3)
    assert sorted(counts.collect()) == [(k, 100) for k in range(5)]
    statuses = cluster._map_output_tracker.statuses(counts.shuffle_id)
    assert {s.executor_id for s in statuses} == {"0", "1"}  # read across executors
    assert all(len(s.handles) == 3 and all(isinstance(h, BlockHandle) for h in s.handles)
               for s in statuses)
    assert _objects_in_store() >= before + 4 * 3  # one object per map output bucket
    del counts, statuses
    gc.collect()
    assert cluster._cleaner.wait_until_idle()
    # Ray unpins an object shortly after its owner lets go of the last reference.
    wait_until(lambda: _objects_in_store() <= before, timeout=30,
               what="the map outputs to leave the object store")


def test_a_map_output_removed_by_its_executor_cannot_be_read_by_handle(cluster: Context) -> None:
    before = _objects_in_store()
    pairs = cluster.parallelize([(i % 4, i) for i in range(40)], 2).reduceByKey(add, 2)
    assert len(pairs.collect()) == 4
    shuffle_id = pairs.shuffle_id
    statuses = cluster._map_output_tracker.statuses(shuffle_id)
    cluster._backend.remove_blocks("shuffle", shuffle_id)
    # A handle does not keep its object: gone from the store once its executor let go.
    wait_until(lambda: _objects_in_store() <= before, timeout=30,
               what="the map outputs to leave the object store")

    def read(_):
        blocks = TaskContext.get().block_manager
        status = next(s for s in statuses if s.executor_id != blocks.executor_id)
        try:
            blocks.get_many([("shuffle", shuffle_id, status.map_id, 0)], status.executor_id,
                            [status.handles[0]])
        except ConnectionError as exc:
            return str(exc)
        return "read"

    answers = cluster.parallelize(range(2), 2).map(read).collect()
    assert all("no longer in Ray's object store" in a for a in answers), answers


def _where_read(rows: Iterable[str]) -> list[tuple[str, list[str]]]:
    return [(TaskContext.get().block_manager.executor_id, list(rows))]


def test_a_received_block_is_read_on_another_executor_by_handle_without_a_call(
        ray_session: None, line_server: LineServer) -> None:
    """The receiver's executor reports each block's handle with its info: a task on the
    other executor reads it from the object store, asking the holder nothing."""
    # The receiver takes the one core of its executor, so the batch runs on the other
    # at once.
    streaming = ManualStreaming(master="ray", conf={**FRESH, ON_EXECUTORS: "true"})
    try:
        lines = streaming.ssc.socketTextStream(*line_server.address)
        read: list[tuple[str, list[str]]] = []
        lines.foreachRDD(lambda rdd: read.extend(rdd.mapPartitions(_where_read).collect()))
        streaming.start()
        assert line_server.wait_for_clients(1, timeout=30)
        line_server.send_lines(["a b", "c"])
        streaming.cut_blocks(lines._id, 2)
        tracker = streaming.ssc._receiver_tracker
        (block,) = tracker.blocks.unallocated_blocks(lines._id)
        assert isinstance(block.handle, BlockHandle)
        backend = streaming.sc._backend
        (holder,) = [a for a in backend._slots if a.executor_id == block.location]
        served = ray.get(holder.handle.blocks_served.remote())
        streaming.run_batches(1)
        wait_until(lambda: bool(read), timeout=30, what="the batch to read the block")
        ((executor_id, rows),) = read
        assert rows == ["a b", "c"]
        assert executor_id != block.location
        assert ray.get(holder.handle.blocks_served.remote()) == served
    finally:
        streaming.stop()


@pytest.mark.parametrize("receiver_on", ["driver", "executor"])
def test_a_long_stream_does_not_grow_the_object_store(ray_session: None,
                                                       line_server: LineServer,
                                                       receiver_on: str) -> None:
    """Received blocks and shuffle outputs of forgotten batches leave the object store:
    after 40 batches it holds no more objects than after 10 (a leak of the references
    would add a block and 4 x 4 map outputs per batch). The receiver runs on the driver
    (its blocks stored on the executors) or on an executor, whose blocks the batches read
    on the other executor by the handles it reported."""
    conf = FRESH if receiver_on == "driver" else {**FRESH, ON_EXECUTORS: "true",
                                                  "spark.locality.wait": "0"}
    streaming = ManualStreaming(master="ray", conf=conf)
    try:
        lines = streaming.ssc.socketTextStream(*line_server.address)
        totals: list[int] = []
        counts = lines.flatMap(str.split).map(lambda w: (w, 1)).reduceByKey(add, 4)
        counts.foreachRDD(lambda rdd: totals.append(sum(n for _, n in rdd.collect())))
        streaming.start()
        assert line_server.wait_for_clients(1, timeout=10)
        text = [f"w{i} x y z" for i in range(8)]
        sent = [0]  # words sent so far

        def run(batches: int) -> None:
            for _ in range(batches):
                line_server.send_lines(text)
                streaming.cut_blocks(lines._id, len(text))
                streaming.run_batches(1, timeout=30)
            # Cutting blocks moves the clock too, at times past a batch time: the batch
            # it started may still run when run_batches returns.
            sent[0] += 4 * len(text) * batches
            wait_until(lambda: sum(totals) == sent[0], timeout=30,
                       what=f"{sent[0]} words counted")

        def settled() -> int:
            gc.collect()  # the batches' RDDs the stream has let go of
            assert streaming.sc._cleaner.wait_until_idle()
            return _objects_in_store()

        run(10)
        warm = settled()
        run(30)
        settled()
        wait_until(lambda: _objects_in_store() <= warm + 2, timeout=30,
                   what=f"the object store back to {warm} objects (+2)")
    finally:
        streaming.stop()
