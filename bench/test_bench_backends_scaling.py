"""The driver's cost as executors are added: one empty batch of 16 partitions on
``ray`` with 1, 2, 4 and 8 one-CPU executor actors, against ``local-cluster[E,1,1024]``
with as many worker processes, in the same run.

A stage sends one call per executor (its tasks batched) and the driver waits for
every answer, so the driver's work per batch grows with the executors as well as
with the partitions (``test_bench_backends.py`` varies those at two executors).
``extra_info["driver_cpu_ms"]`` is the driver process's CPU time per batch (Ray's
in-process core worker included); on this 2-core machine the wall time also
holds the executors' own work, so the CPU time is the figure the README's scaling
model uses for the driver. The Ray here has 8 logical CPUs (its placement unit, not
cores): eight one-CPU actors on two cores.
Run: ``pytest bench/test_bench_backends_scaling.py --benchmark-only``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fastdstream.testing import ManualStreaming
from test_bench_backends import time_empty_batches

EXECUTORS = [1, 2, 4, 8]
PARTITIONS = 16


@pytest.fixture(scope="module")
def ray_session() -> Iterator[None]:
    import ray

    ray.init(address="local", num_cpus=max(EXECUTORS), include_dashboard=False,
             log_to_driver=False, configure_logging=False)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.mark.parametrize("executors", EXECUTORS)
@pytest.mark.parametrize("backend", ["ray", "local-cluster"])
def test_empty_batch_overhead_by_executors(benchmark, request: pytest.FixtureRequest,
                                           backend: str, executors: int) -> None:
    """One empty batch of 16 partitions on ``executors`` executors: clock tick to
    completed."""
    if backend == "ray":
        request.getfixturevalue("ray_session")
        master, conf = "ray", {"spark.executor.instances": str(executors),
                               "spark.executor.cores": "1"}
    else:
        master, conf = f"local-cluster[{executors},1,1024]", {}
    benchmark.group = f"backend-batch-overhead-{executors}-executors"
    streaming = ManualStreaming(batch_seconds=0.01, master=master, conf=conf)
    driver_cpu_ms = time_empty_batches(benchmark, streaming, PARTITIONS, rounds=50)
    benchmark.extra_info.update(master=master, executors=executors, partitions=PARTITIONS,
                                driver_cpu_ms=driver_cpu_ms)
