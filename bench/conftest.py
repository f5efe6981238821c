"""Data for the kernel benchmarks, built once per session.

``FASTDSTREAM_BENCH_ROWS`` shrinks the data (default 10,000,000 rows) so the suite can
run quickly in CI; the published figures use the default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pytest

VOCABULARY = 100_000
ZIPF_EXPONENT = 1.1
SEED = 20240229


@dataclass(frozen=True)
class WordData:
    keys: pa.Array  # string keys, "w<rank>" drawn Zipf-distributed from the vocabulary
    values: pa.Array  # int64 values
    table: pa.Table  # {"k": keys, "v": values}


def bench_rows() -> int:
    return int(os.environ.get("FASTDSTREAM_BENCH_ROWS", "10000000"))


@pytest.fixture(scope="session")
def word_data() -> WordData:
    n = bench_rows()
    rng = np.random.default_rng(SEED)
    # numpy's zipf is unbounded; folding ranks into the vocabulary keeps the skew of
    # the head (what word counts look like) with exactly VOCABULARY possible keys.
    ranks = (rng.zipf(ZIPF_EXPONENT, size=n) - 1) % VOCABULARY
    vocab = pa.array([f"w{r}" for r in range(VOCABULARY)], pa.string())
    keys = vocab.take(pa.array(ranks, pa.int64()))
    values = pa.array(rng.integers(0, 1_000, size=n), pa.int64())
    return WordData(keys=keys, values=values, table=pa.table({"k": keys, "v": values}))
