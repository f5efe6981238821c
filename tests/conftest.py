"""Fixtures that start real things (contexts, TCP servers) and always stop them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fastdstream import Context, StreamingContext
from fastdstream.testing import ManualStreaming
from fastdstream.testing.line_server import LineServer

# The ``reliability`` fixture and the table of figures printed at the end of the run.
pytest_plugins = ["reliability.figures"]

MASTERS = ["local[2]", "local-cluster[2,1,1024]", "ray"]
"""Every back end the suite runs on: threads in this process, worker processes, and
Ray actors (on the session's Ray, see ``ray_session``)."""


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """One local Ray for the whole session, started on first use, which ``Context("ray")``
    joins. Four logical CPUs on this two-core machine: a module's Context and a test's
    own (two one-CPU executor actors each) are alive at once in some modules. Shut down
    at the end; if the test process is killed, the watchdog ends Ray's processes with
    it. Executors are kept warm between the tests' Contexts
    (``fastdstream.ray.reuseExecutors``): a Context per test would otherwise start two
    actor processes per test."""
    import os
    import signal

    import ray

    from fastdstream.engine.backend import ray_executor_pool, ray_watchdog

    watchdog = ray_watchdog.start(os.getpid())
    os.environ[ray_executor_pool.REUSE_ENV] = "1"
    sigterm = signal.getsignal(signal.SIGTERM)
    try:
        # address="local": a Ray of its own, never one another process left its
        # address for (ray.cluster_utils writes /tmp/ray/ray_current_cluster).
        ray.init(address="local", num_cpus=4, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)
        # ray.init makes SIGTERM raise SystemExit, which pytest reports as one failed
        # test and runs on; a SIGTERMed test run must end (the watchdog stops Ray).
        signal.signal(signal.SIGTERM, sigterm)
        yield
    finally:
        os.environ.pop(ray_executor_pool.REUSE_ENV, None)
        ray.shutdown()
        assert watchdog.stdin is not None
        watchdog.stdin.close()


def _with_backend(request: pytest.FixtureRequest, master: str) -> str:
    if master == "ray":
        request.getfixturevalue("ray_session")
    return master


@pytest.fixture(params=MASTERS)
def master(request: pytest.FixtureRequest) -> str:
    """The master of the back end under test; tests that use it run once per back end."""
    return _with_backend(request, str(request.param))


@pytest.fixture
def sc(master: str) -> Iterator[Context]:
    context = Context(master, "test")
    yield context
    context.stop()


@pytest.fixture(scope="module", params=MASTERS)
def module_sc(request: pytest.FixtureRequest) -> Iterator[Context]:
    """One Context per back end for a whole module (property tests run many small jobs)."""
    context = Context(_with_backend(request, str(request.param)), request.module.__name__)
    yield context
    context.stop()


@pytest.fixture
def local_sc() -> Iterator[Context]:
    """A ``local[2]`` Context, for tests of what only the thread back end does."""
    context = Context("local[2]", "test")
    yield context
    context.stop()


@pytest.fixture
def manual(master: str) -> Iterator[ManualStreaming]:
    streaming = ManualStreaming(master=master)
    yield streaming
    streaming.stop()


@pytest.fixture
def line_server() -> Iterator[LineServer]:
    server = LineServer()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _no_active_streaming_context() -> Iterator[None]:
    yield
    active = StreamingContext.getActive()
    if active is not None:  # a failed test must not leave its context to the next one
        active.stop()
        pytest.fail("test left a StreamingContext running")


# Here rather than at the top so that the Kafka fixture's lines stay in one block.
from fastdstream.testing.kafka_broker import KafkaBroker  # noqa: E402


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[KafkaBroker]:
    """One real Apache Kafka broker (KRaft) for the whole session, fetched on first use.

    Shared: tests create their own uniquely named topics. A test that stops, kills or
    reconfigures a broker constructs its own ``KafkaBroker`` instead.
    """
    broker = KafkaBroker()
    try:
        broker.start()
        yield broker
    finally:  # also when start() or the session fails: no JVM outlives the tests
        broker.stop()
