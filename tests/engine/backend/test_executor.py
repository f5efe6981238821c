"""An executor's own things: its state and close hooks, its blocks, its task contexts."""

from __future__ import annotations

import logging

import pyarrow as pa
import pytest

from fastdstream.engine.backend.block_manager import BlockManager, BlockNotFoundError
from fastdstream.engine.backend.executor import Executor
from fastdstream.engine.backend.shuffle import FetchFailedError, MapStatus
from fastdstream.engine.backend.task_context import TaskContext


def test_state_is_made_once_and_closed_when_the_executor_stops(caplog) -> None:
    executor = Executor("7")
    closed: list[str] = []
    made = []

    def make(name: str):
        made.append(name)
        return name

    assert executor.state("a", lambda: make("a"), closed.append) == "a"
    assert executor.state("a", lambda: make("again"), closed.append) == "a"
    executor.state("b", lambda: make("b"), lambda _: (_ for _ in ()).throw(OSError("boom")))
    executor.state("c", lambda: make("c"), closed.append)
    assert made == ["a", "b", "c"]
    with caplog.at_level(logging.ERROR):
        executor.stop()
    assert closed == ["a", "c"]  # a failing close hook does not stop the others
    assert "closing 'b' failed" in caplog.text
    with pytest.raises(RuntimeError, match="executor 7 has stopped"):
        executor.state("d", lambda: 1)
    executor.stop()  # idempotent


def test_a_task_sees_its_context_and_nothing_outside_a_task_does() -> None:
    executor = Executor("3")
    assert TaskContext.get() is None

    def task(tc: TaskContext, split: int):
        current = TaskContext.get()
        assert current is tc
        return tc.stageId(), tc.partitionId(), tc.attemptNumber(), tc.block_manager.executor_id

    assert executor.run_task(task, 5, 2, attempt=1) == (5, 2, 1, "3")
    assert TaskContext.get() is None


def test_blocks_on_another_executor_need_a_fetcher() -> None:
    blocks = BlockManager("0")
    blocks.put(("input", 0, "a"), pa.table({"v": [1]}))
    assert blocks.get(("input", 0, "a")).num_rows == 1
    with pytest.raises(BlockNotFoundError, match="on executor 1, which executor 0 cannot"):
        blocks.get(("input", 0, "b"), location="1")
    with pytest.raises(BlockNotFoundError, match="block input-0-b not found on executor 0"):
        blocks.get(("input", 0, "b"))


def test_encoded_blocks_are_decoded_on_read_and_served_as_frames() -> None:
    source, sink = BlockManager("0"), BlockManager("1")
    source.put(("rdd", 1, 0), [1, 2, 3])
    sink.put_encoded(("rdd", 1, 0), source.get_encoded(("rdd", 1, 0)))
    assert sink.get(("rdd", 1, 0)) == [1, 2, 3]
    assert source.remove_prefix("rdd", 1) == 1 and len(source) == 0


def test_shuffle_outputs_are_written_with_row_counts_and_read_in_map_order() -> None:
    executor = Executor("0")
    status0 = executor.shuffle.write(4, 0, [[("a", 1)], pa.table({"k": ["b"], "v": [2]})])
    status1 = executor.shuffle.write(4, 1, [[], [("c", 3), ("d", 4)]])
    assert status0 == MapStatus("0", 0, (1, 1)) and status1.rows == (0, 2)
    buckets = executor.shuffle.read(4, 1, [status1, status0])
    assert buckets[0] == [("c", 3), ("d", 4)] and buckets[1].num_rows == 1
    with pytest.raises(FetchFailedError, match=r"shuffle 4.*executor 9") as info:
        executor.shuffle.read(4, 0, [MapStatus("9", 0, (1,))])
    assert (info.value.shuffle_id, info.value.executor_id) == (4, "9")
