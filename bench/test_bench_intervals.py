"""Which batch interval suits a word count: the ``batch_interval_benchmark`` fixture (the
pytest plugin users get) over the same lines at 50 ms, 200 ms and 1 s.

The lines arrive at 100,000 a second, so the batches hold 5,000, 20,000 and 100,000
lines. Each interval is a benchmark of its own (one run over all the lines) with
records/s, per-batch latency p50/p99 and whether the interval kept up in
``extra_info``, and the run ends with the plugin's table of them. The peer, at each
interval, counts the words of the same batches with pyarrow's kernels in a plain loop:
no scheduler, no tasks -- what per-batch work costs without the streaming machinery.

Run: ``make bench`` or ``pytest bench/test_bench_intervals.py --benchmark-only``.
``FASTDSTREAM_BENCH_LINES`` sets the number of lines (default 200000).
"""

from __future__ import annotations

import itertools
import os

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from fastdstream.testing.batch_intervals import split_batches
from fastdstream.testing.line_server import demo_lines

LINES = int(os.environ.get("FASTDSTREAM_BENCH_LINES", "200000"))
RATE = 100_000  # lines a second
INTERVALS = (0.05, 0.2, 1.0)


@pytest.fixture(scope="module")
def lines() -> pa.Table:
    return pa.table({"value": list(itertools.islice(demo_lines(), LINES))})


def word_count(stream):
    return stream.flatMap(str.split).countByValue()  # columnar: Arrow kernels


@pytest.mark.batch_intervals(*INTERVALS)
def test_wordcount_intervals(batch_interval_benchmark, lines: pa.Table) -> None:
    result = batch_interval_benchmark(word_count, lines, rate=RATE, numSlices=2)
    assert result.records == LINES


@pytest.mark.batch_intervals(*INTERVALS)
def test_wordcount_intervals_peer_pyarrow(benchmark, batch_interval: float,
                                          lines: pa.Table) -> None:
    batches = split_batches(lines, RATE, batch_interval)
    benchmark.group = "batch intervals: test_wordcount_intervals"

    def count_each() -> int:
        total = 0
        for batch in batches:
            words = pc.list_flatten(pc.utf8_split_whitespace(batch.column("value")))
            total += len(pc.value_counts(words))
        return total

    assert benchmark(count_each) > 0
