"""The receiver-based Kafka stream (``KafkaUtils.createStream``): a consumer-group
subscriber running as a receiver.

Records are stored into blocks as they arrive; a block's offsets are committed to
the group only once the block is stored -- with the write-ahead log on, only once
it is on disk. After a crash, logged blocks not yet processed are replayed and the
group resumes after the last committed block: no record is lost, and a record may
be seen twice (at-least-once). For exactly-once use the direct stream.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

import confluent_kafka

from fastdstream.errors import DecodeError
from fastdstream.sources.kafka import kafka_kernels
from fastdstream.sources.kafka.direct_stream import client_params
from fastdstream.sources.kafka.kafka_rdd import Decoding
from fastdstream.streaming.receiver.receiver import Receiver

log = logging.getLogger(__name__)

_SEP = "\x00"  # topic names cannot contain NUL: a safe separator in metadata keys


class KafkaReceiver(Receiver):
    def __init__(self, kafka_params: Mapping[str, Any], topics: Mapping[str, int],
                 decoding: Decoding):
        super().__init__()
        self._params = client_params(kafka_params)
        self._params["enable.auto.commit"] = False  # commits follow stored blocks
        self._params.setdefault("auto.offset.reset", "largest")
        self._topics = sorted(topics)
        self._decoding = decoding
        self._consumer: confluent_kafka.Consumer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._commit_lock = threading.Lock()
        self._to_commit: dict[str, int] = {}

    @property
    def name(self) -> str:
        return f"KafkaReceiver({','.join(self._topics)} @ {self._params['bootstrap.servers']})"

    def onStart(self) -> None:
        self._stopping.clear()
        self._consumer = confluent_kafka.Consumer(self._params)
        self._consumer.subscribe(self._topics)
        self._thread = threading.Thread(target=self._consume, daemon=True,
                                        name=f"kafka-receiver-{self.streamId}")
        self._thread.start()

    def onStop(self) -> None:
        self._stopping.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self._thread = None
        # What was consumed is cut into a block and committed now, while the
        # consumer (and with it the group membership) is still there.
        if self._supervisor is not None:
            self._supervisor.flush()
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            self._commit_pending(consumer)
            consumer.close()

    def on_block_stored(self, block_id: tuple[Any, ...], metadata: dict[str, int]) -> None:
        with self._commit_lock:
            for key, offset in metadata.items():
                self._to_commit[key] = max(offset, self._to_commit.get(key, offset))
        if self._thread is None and self._consumer is not None:
            self._commit_pending(self._consumer)  # stopping: no poll loop to do it

    def _commit_pending(self, consumer: confluent_kafka.Consumer) -> None:
        with self._commit_lock:
            pending, self._to_commit = self._to_commit, {}
        if not pending:
            return
        offsets = [confluent_kafka.TopicPartition(key.split(_SEP)[0], int(key.split(_SEP)[1]),
                                                  offset) for key, offset in pending.items()]
        try:
            consumer.commit(offsets=offsets, asynchronous=False)
        except confluent_kafka.KafkaException as exc:
            # Not fatal: the records are stored; the group re-delivers them (at-least-once).
            log.warning("%s: commit of %s failed: %s", self.name, offsets, exc)
            with self._commit_lock:
                for key, offset in pending.items():
                    self._to_commit[key] = max(offset, self._to_commit.get(key, offset))

    def _consume(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        try:
            while not self._stopping.is_set():
                self._commit_pending(consumer)
                messages = consumer.consume(num_messages=10_000, timeout=0.1)
                good = []
                for message in messages:
                    error = message.error()
                    if error is None:
                        good.append(message)
                    elif error.code() != confluent_kafka.KafkaError._PARTITION_EOF:
                        raise confluent_kafka.KafkaException(error)
                if not good:
                    continue
                records = kafka_kernels.messages_to_arrow(good)
                last: dict[str, int] = {}
                for message in good:
                    key = f"{message.topic()}{_SEP}{message.partition()}"
                    offset = message.offset()
                    assert offset is not None  # messages_to_arrow rejected any without one
                    last[key] = max(offset + 1, last.get(key, 0))
                self.store(self._decoding.apply(records), last)
        except DecodeError as exc:
            self.stop(str(exc), exc)
        except confluent_kafka.KafkaException as exc:
            self.restart(f"error consuming from {self._params['bootstrap.servers']}", exc)
