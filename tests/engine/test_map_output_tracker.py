"""The driver's record of where each shuffle's map outputs are."""

from __future__ import annotations

import pytest

from fastdstream.engine.backend.shuffle import MapStatus
from fastdstream.engine.map_output_tracker import MapOutputTracker


def test_register_and_forget_by_executor() -> None:
    tracker = MapOutputTracker()
    tracker.register(1, [MapStatus("0", 0, (1,)), MapStatus("1", 1, (2,))])
    tracker.register(2, [MapStatus("1", 0, (3,))])
    tracker.register(3, [MapStatus("0", 0, (4,))])
    assert tracker.statuses(2) == (MapStatus("1", 0, (3,)),)
    assert sorted(tracker.remove_outputs_on_executor("1")) == [1, 2]
    assert not tracker.contains(1) and tracker.contains(3) and len(tracker) == 1
    with pytest.raises(KeyError, match="shuffle 1 has no registered map outputs"):
        tracker.statuses(1)
    tracker.unregister(3)
    assert len(tracker) == 0
