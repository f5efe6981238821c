"""The pytest plugin of fastdstream (entry point ``pytest11``): fixtures for the tests
and batch-interval benchmarks of streaming jobs, in any project with fastdstream
installed.

- ``manual_streaming``: a :class:`~fastdstream.testing.ManualStreaming` (a
  StreamingContext on a manual clock), stopped after the test. Configure it with
  ``@pytest.mark.fastdstream_streaming(batch_seconds=..., master=..., conf={...})``.
- ``batch_interval_benchmark``: runs a job over a fixed input at each interval of
  ``@pytest.mark.batch_intervals(0.1, 0.5, 1.0)`` (one test per interval) under
  pytest-benchmark, and reports records/s, per-batch latency p50/p99 and whether the
  interval kept up (in ``benchmark.extra_info`` and a table at the end of the run).

Nothing heavy is imported until a fixture is used: pytest loads this module in every
run of a project that has fastdstream installed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from fastdstream.testing import ManualStreaming
    from fastdstream.testing.batch_intervals import IntervalResult, Job

DEFAULT_INTERVALS = (0.1, 0.5, 1.0)
"""The batch intervals (seconds) a ``batch_interval_benchmark`` test runs at without
a ``batch_intervals`` marker."""

_RESULTS = pytest.StashKey[list[tuple[str, "IntervalResult"]]]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "fastdstream_streaming(batch_seconds=1.0, master='local[2]', conf=None): "
        "settings of the manual_streaming fixture")
    config.addinivalue_line(
        "markers", "batch_intervals(*seconds): the batch intervals a "
        "batch_interval_benchmark test runs at, one test each")
    config.stash[_RESULTS] = []
    if not config.pluginmanager.hasplugin("benchmark"):
        config.pluginmanager.register(_NoBenchmark(), "fastdstream-no-benchmark")


class _NoBenchmark:
    """Stands in for pytest-benchmark when it is missing or disabled, to say so."""

    @pytest.fixture
    def benchmark(self) -> None:
        raise pytest.UsageError("batch_interval_benchmark needs pytest-benchmark "
                                "(pip install pytest-benchmark)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "batch_interval" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("batch_intervals")
    intervals: Sequence[float] = marker.args if marker and marker.args else DEFAULT_INTERVALS
    for value in intervals:
        if not isinstance(value, (int, float)) or value <= 0:
            raise pytest.UsageError(f"{metafunc.definition.nodeid}: batch_intervals takes "
                                    f"positive numbers of seconds, got {value!r}")
    metafunc.parametrize("batch_interval", [float(v) for v in intervals], indirect=True,
                         ids=[f"{v:g}s" for v in intervals])


@pytest.fixture
def manual_streaming(request: pytest.FixtureRequest) -> Iterator[ManualStreaming]:
    """A StreamingContext on a manual clock: feed batches, run them, check each output.

    ``manual_streaming.input(batches)`` makes a stream (one list of records per batch),
    ``manual_streaming.collect(stream)`` a list that gets each batch's records, and
    ``manual_streaming.run_batches(n)`` starts the context and runs ``n`` batches.
    """
    from fastdstream.testing import ManualStreaming

    marker = request.node.get_closest_marker("fastdstream_streaming")
    streaming = ManualStreaming(**(marker.kwargs if marker else {}))
    try:
        yield streaming
    finally:
        streaming.stop()


@pytest.fixture
def batch_interval(request: pytest.FixtureRequest) -> float:
    """The batch interval (seconds) of this run of a ``batch_intervals`` test."""
    return float(getattr(request, "param", DEFAULT_INTERVALS[0]))


@pytest.fixture
def batch_interval_benchmark(request: pytest.FixtureRequest, batch_interval: float,
                             benchmark: Any) -> Callable[..., IntervalResult]:
    """Run a job over a fixed input at this test's batch interval, under pytest-benchmark.

    Call it once per test: ``batch_interval_benchmark(job, records, rate, master=...,
    conf=..., numSlices=..., rounds=3)``. ``job(stream)`` builds the job on the input
    stream and returns the stream to output (or None if it outputs itself); ``records``
    (a list or a pyarrow Table) arrive at ``rate`` records per second, so each batch
    holds ``rate * interval`` of them. Returns an
    :class:`~fastdstream.testing.batch_intervals.IntervalResult`.
    """
    def run(job: Job, records: Any, rate: float, *, master: str = "local[2]",
            conf: dict[str, str] | None = None, numSlices: int | None = None,
            rounds: int = 3) -> IntervalResult:
        from fastdstream.testing.batch_intervals import IntervalRun

        runs: list[IntervalRun] = []
        latencies: list[float] = []

        def setup() -> tuple[tuple[()], dict[str, Any]]:
            if runs:  # the round before: stopped outside the timed part
                latencies.extend(runs[-1].latencies)
                runs[-1].stop()
            runs.append(IntervalRun(job, records, rate, batch_interval, master, conf,
                                    numSlices))
            return (), {}

        def target() -> None:
            runs[-1].run()

        benchmark.group = f"batch intervals: {request.node.originalname}"
        try:
            benchmark.pedantic(target, setup=setup, rounds=rounds, iterations=1)
        finally:
            if runs:
                latencies.extend(runs[-1].latencies)
                runs[-1].stop()
        result = runs[-1].result(latencies)
        benchmark.extra_info.update(
            interval_s=result.interval, batches=result.batches,
            records_per_second=round(result.records_per_second, 1),
            latency_p50_ms=round(result.p50_ms, 3), latency_p99_ms=round(result.p99_ms, 3),
            max_scheduling_delay_ms=round(result.max_scheduling_delay_ms, 3),
            kept_up=result.kept_up)
        request.config.stash[_RESULTS].append((request.node.nodeid, result))
        return result

    return run


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config
                            ) -> None:
    results = config.stash.get(_RESULTS, [])
    if not results:
        return
    terminalreporter.section("fastdstream batch intervals")
    width = max(len(name) for name, _ in results)
    terminalreporter.write_line(
        f"{'test':<{width}}  interval  batches    records/s   p50 ms   p99 ms  kept up")
    for name, r in results:
        terminalreporter.write_line(
            f"{name:<{width}}  {r.interval:>6g} s  {r.batches:>7}  {r.records_per_second:>11,.0f}"
            f"  {r.p50_ms:>7.1f}  {r.p99_ms:>7.1f}  {'yes' if r.kept_up else 'NO'}")
