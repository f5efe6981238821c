"""Kafka's decoders and message handler run on the executors: one that cannot be
shipped fails at the KafkaUtils call, before any broker is contacted or task runs."""

from __future__ import annotations

import threading

import pytest

from fastdstream import StreamingContext, TaskNotSerializableError
from fastdstream.kafka import KafkaUtils, OffsetRange

# Nothing listens here: a call that reached a broker would fail otherwise.
NO_BROKER = {"bootstrap.servers": "127.0.0.1:9", "group.id": "closure-check"}


def test_decoders_and_handler_are_checked_at_the_call(local_sc) -> None:
    lock = threading.Lock()
    ssc = StreamingContext(local_sc, 1)
    with pytest.raises(TaskNotSerializableError,
                       match=r"^KafkaUtils\.createDirectStream: .* captures 'lock'"):
        KafkaUtils.createDirectStream(ssc, ["t"], NO_BROKER,
                                      messageHandler=lambda m: lock and m)
    with pytest.raises(TaskNotSerializableError,
                       match=r"^KafkaUtils\.createStream: .* captures 'lock'"):
        KafkaUtils.createStream(ssc, "127.0.0.1:9", "g", {"t": 1},
                                valueDecoder=lambda b: lock and b)
    with pytest.raises(TaskNotSerializableError,
                       match=r"^KafkaUtils\.createRDD: .* captures 'lock'"):
        KafkaUtils.createRDD(local_sc, NO_BROKER, [OffsetRange("t", 0, 0, 1)],
                             keyDecoder=lambda b: lock and b)
