"""Fixtures that start real things (contexts, TCP servers) and always stop them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fastdstream import Context, StreamingContext
from fastdstream.line_server import LineServer
from fastdstream.testing import ManualStreaming


@pytest.fixture
def sc() -> Iterator[Context]:
    context = Context("local[2]", "test")
    yield context
    context.stop()


@pytest.fixture
def manual() -> Iterator[ManualStreaming]:
    streaming = ManualStreaming()
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
