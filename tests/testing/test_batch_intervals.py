"""The arithmetic of the batch-interval benchmark, and one run on each back end."""

from __future__ import annotations

import pytest

from fastdstream.testing.batch_intervals import IntervalRun, percentile, replay, split_batches


def test_replay_finds_the_backlog_of_a_real_time_run() -> None:
    assert replay([0.5, 0.9, 0.2], interval=1.0) == 0.0  # each done before the next is due
    # One slow batch the next ones catch up on: a wait, but under an interval.
    assert replay([1.5, 0.2, 0.2], interval=1.0) == pytest.approx(0.5)
    # Every batch slower than the interval: the wait grows by 0.5 s a batch.
    assert replay([1.5] * 4, interval=1.0) == pytest.approx(1.5)


def test_split_batches_and_percentiles() -> None:
    assert [len(b) for b in split_batches(list(range(7)), rate=10, interval=0.3)] == [3, 3, 1]
    assert [len(b) for b in split_batches(list(range(3)), rate=1, interval=0.1)] == [1, 1, 1]
    with pytest.raises(ValueError, match="positive"):
        split_batches([1], rate=0, interval=1)
    assert percentile([5.0], 99) == 5.0
    assert percentile([float(i) for i in range(1, 101)], 99) == 99.0


def test_a_run_counts_every_batch(master: str) -> None:
    seen: list[int] = []

    def job(stream):
        stream.foreachRDD(lambda rdd: seen.append(rdd.count()))

    run = IntervalRun(job, [f"line {i}" for i in range(10)], rate=40, interval=0.1,
                      master=master)
    try:
        run.run()
    finally:
        run.stop()
    assert seen == [4, 4, 2]
    result = run.result()
    assert (result.batches, result.records, result.interval) == (3, 10, 0.1)
    assert result.p50_ms <= result.p99_ms <= result.max_ms
    assert result.max_scheduling_delay_ms >= 0
    assert "3 batches" in result.summary()
