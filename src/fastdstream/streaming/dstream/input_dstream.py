"""InputDStream: the base of every source stream."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastdstream.streaming.dstream.dstream import DStream

if TYPE_CHECKING:
    from fastdstream.streaming.streaming_context import StreamingContext


class InputDStream(DStream):
    """A stream with no parents: sources (queue, socket, files, Kafka)."""

    def __init__(self, ssc: StreamingContext):
        super().__init__(ssc, ())
        self._graph.add_input_stream(self)
        self.last_num_records = 0

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass
