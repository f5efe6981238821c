"""Samplers: which rows of a partition a sample keeps (PySpark's ``rddsampler``).

Every sampler draws from one NumPy generator seeded by ``(seed, split)``, so a
sample is the same each time its partition is computed (a retried task, a second
job), and :meth:`RDD.randomSplit`'s splits, each drawing the same numbers, are
disjoint and cover the RDD. A table partition draws all its numbers at once and
is filtered by Arrow; Python rows draw the same stream in chunks, so a partition
gives the same sample in either form.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import pyarrow as pa

from fastdstream.engine.columnar.partition import PartitionData, is_columnar, iter_rows

_CHUNK = 4096

__all__ = ["bernoulli", "poisson", "range_sample", "stratified"]


def _generator(seed: int, split: int) -> np.random.Generator:
    return np.random.default_rng([seed & 0xFFFFFFFFFFFFFFFF, split])


def _uniforms(rng: np.random.Generator) -> Iterator[float]:
    while True:
        yield from rng.random(_CHUNK).tolist()


def _poissons(rng: np.random.Generator, mean: float) -> Iterator[int]:
    while True:
        yield from rng.poisson(mean, _CHUNK).tolist()


def _keep(data: PartitionData, rng: np.random.Generator,
          test: Callable[[np.ndarray[Any, Any]], np.ndarray[Any, Any]],
          row_test: Callable[[float], bool]) -> PartitionData:
    if is_columnar(data):
        return data.filter(pa.array(test(rng.random(data.num_rows))))
    return (x for x, u in zip(iter_rows(data), _uniforms(rng), strict=False) if row_test(u))


def bernoulli(fraction: float, seed: int, split: int, data: PartitionData) -> PartitionData:
    """Each row kept with probability ``fraction`` (sampling without replacement)."""
    return _keep(data, _generator(seed, split), lambda u: u < fraction,
                 lambda u: u < fraction)


def poisson(fraction: float, seed: int, split: int, data: PartitionData) -> PartitionData:
    """Each row repeated a Poisson(``fraction``) number of times (with replacement)."""
    rng = _generator(seed, split)
    if is_columnar(data):
        counts = rng.poisson(fraction, data.num_rows)
        return data.take(pa.array(np.repeat(np.arange(data.num_rows), counts)))
    return (x for x, k in zip(iter_rows(data), _poissons(rng, fraction), strict=False)
            for _ in range(k))


def range_sample(lower: float, upper: float, seed: int, split: int,
                 data: PartitionData) -> PartitionData:
    """The rows whose draw falls in ``[lower, upper)``: one of :meth:`RDD.randomSplit`'s."""
    return _keep(data, _generator(seed, split), lambda u: (u >= lower) & (u < upper),
                 lambda u: lower <= u < upper)


def stratified(with_replacement: bool, fractions: Mapping[Any, float], seed: int, split: int,
               data: PartitionData) -> Iterator[Any]:
    """:meth:`RDD.sampleByKey`: each (key, value) pair sampled at its key's fraction."""
    rng = _generator(seed, split)
    for pair in iter_rows(data):
        fraction = fractions[pair[0]]
        if with_replacement:
            yield from itertools.repeat(pair, int(rng.poisson(fraction)))
        elif rng.random() < fraction:
            yield pair
