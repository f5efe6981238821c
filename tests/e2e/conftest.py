"""Fixtures of the end-to-end tests only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fastdstream.testing.kafka_broker import KafkaBroker


@pytest.fixture
def own_broker() -> Iterator[KafkaBroker]:
    """A Kafka broker of the test's own, for tests that stop, kill or restart it (the
    session's ``kafka_broker`` is shared)."""
    broker = KafkaBroker()
    broker.start()
    yield broker
    broker.stop()
