"""Fixtures the streaming tests share (the ones every suite uses are in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fastdstream.testing import ManualStreaming


@pytest.fixture
def ckpt(manual: ManualStreaming, tmp_path) -> ManualStreaming:
    """``manual`` with a checkpoint directory, as stateful streams need."""
    manual.ssc.checkpoint(str(tmp_path))
    return manual


@pytest.fixture
def cleaning_ckpt(master: str, tmp_path) -> Iterator[ManualStreaming]:
    """A checkpointed ``ManualStreaming`` whose checkpoint files go with their RDDs
    (``spark.cleaner.referenceTracking.cleanCheckpoints``): what is left shows which
    are alive."""
    manual = ManualStreaming(master=master, conf={
        "spark.cleaner.referenceTracking.cleanCheckpoints": "true"})
    try:
        manual.ssc.checkpoint(str(tmp_path))
        yield manual
    finally:
        manual.stop()
