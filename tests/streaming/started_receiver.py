"""A receiver that stores only what a test hands it."""

from __future__ import annotations

import threading

from fastdstream.streaming.receiver.receiver import Receiver


class StartedReceiver(Receiver):
    """Stores what the test hands it (``store``), and errors it reports; ``started`` is
    set once it has started."""

    def __init__(self) -> None:
        super().__init__()
        self.started = threading.Event()

    def onStart(self) -> None:
        self.started.set()

    def onStop(self) -> None:
        pass
