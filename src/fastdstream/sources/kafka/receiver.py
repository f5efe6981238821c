"""The receiver-based Kafka stream (``KafkaUtils.createStream``): a consumer-group
subscriber running as a receiver.

Records are stored into blocks as they arrive; a block's offsets are committed to
the group only once the block is stored -- with the write-ahead log on, only once
it is on disk. After a crash, logged blocks not yet processed are replayed and the
group resumes after the last committed block: no record is lost, and a record may
be seen twice (at-least-once). For exactly-once use the direct stream.

The receiver joins its group as a static member (KIP-345): ``group.instance.id``
is derived from the job -- its checkpoint directory, else its app name -- and the
receiver's stream id, unless kafkaParams set one (an empty string: a dynamic
member). A job restarted after a crash so rejoins as the member that died and
gets its partitions back at once; a dynamic member would wait until the group's
coordinator expired the dead one (``session.timeout.ms``, 45 s by default) and
read nothing meanwhile. Two jobs sharing a group and a checkpoint directory (or,
without one, an app name) would claim the same identity: the broker fences one,
which stops with an error saying so.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import confluent_kafka

from fastdstream.errors import DecodeError
from fastdstream.sources.kafka import kafka_kernels
from fastdstream.sources.kafka.direct_stream import KafkaError, client_params
from fastdstream.sources.kafka.kafka_rdd import Decoding
from fastdstream.streaming.receiver.receiver import Receiver

log = logging.getLogger(__name__)

_SEP = "\x00"  # topic names cannot contain NUL: a safe separator in metadata keys
INSTANCE_ID = "group.instance.id"
# Without an assignment for this long, the log says what the consumer waits for.
ASSIGNMENT_WAIT_LOG_S = 5.0
_FENCED = {confluent_kafka.KafkaError._FENCED, confluent_kafka.KafkaError.FENCED_INSTANCE_ID}


def static_instance_id(app_name: str, checkpoint_dir: str | None, stream_id: int) -> str:
    """The ``group.instance.id`` of a job's receiver: stable across restarts of the job,
    distinct for each receiver stream of it.

    >>> static_instance_id("wordcount", None, 0)
    'fastdstream-wordcount-receiver-0'
    >>> a, b = (static_instance_id("wc", d, 1) for d in ("/ckpt/a", "/ckpt/b"))
    >>> a != b
    True
    """
    if checkpoint_dir is not None:
        # The checkpoint directory is what a recovered job shares with the one that died.
        digest = hashlib.sha1(os.path.abspath(checkpoint_dir).encode()).hexdigest()[:12]
        job = f"{app_name}-{digest}"
    else:
        job = app_name
    # Kafka allows 249 characters of [a-zA-Z0-9._-] in ids; keep to those.
    job = "".join(c if c.isalnum() or c in "._-" else "_" for c in job)[:200]
    return f"fastdstream-{job}-receiver-{stream_id}"


def _fixed(identity: tuple[str, str | None]) -> tuple[str, str | None]:
    return identity


class KafkaReceiver(Receiver):
    def __init__(self, kafka_params: Mapping[str, Any], topics: Mapping[str, int],
                 decoding: Decoding,
                 job: Callable[[], tuple[str, str | None]] | None = None):
        super().__init__()
        self._params = client_params(kafka_params)
        # (app name, checkpoint dir) of the job, asked at start (the checkpoint directory
        # may be set after the stream is made); None: no static membership unless set.
        self._job = job
        self._params["enable.auto.commit"] = False  # commits follow stored blocks
        self._params.setdefault("auto.offset.reset", "largest")
        self._topics = sorted(topics)
        self._decoding = decoding
        self._consumer: confluent_kafka.Consumer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._commit_lock = threading.Lock()
        self._to_commit: dict[str, int] = {}
        self._instance_id: str | None = None
        self._assigned = False

    def __getstate__(self) -> dict[str, Any]:
        # Shipped to the executor that runs it: the job's identity is resolved here, on
        # the driver (the weak reference to the StreamingContext does not travel).
        state = super().__getstate__()
        if self._job is not None:
            state["_job"] = partial(_fixed, self._job())
        return state

    @property
    def name(self) -> str:
        return f"KafkaReceiver({','.join(self._topics)} @ {self._params['bootstrap.servers']})"

    def consumer_params(self) -> dict[str, Any]:
        """The consumer's settings, with the static ``group.instance.id`` filled in."""
        params = dict(self._params)
        instance = params.get(INSTANCE_ID)
        if instance is None and self._job is not None:
            app_name, checkpoint_dir = self._job()
            params[INSTANCE_ID] = static_instance_id(app_name, checkpoint_dir, self.streamId)
        elif instance == "":
            del params[INSTANCE_ID]  # asked for a dynamic member
        return params

    def onStart(self) -> None:
        self._stopping.clear()
        params = self.consumer_params()
        self._instance_id = params.get(INSTANCE_ID)
        self._assigned = False
        log.info("%s: joining group %s as %s", self.name, params.get("group.id"),
                 f"static member {self._instance_id!r}" if self._instance_id
                 else "a dynamic member")
        self._consumer = confluent_kafka.Consumer(params)
        self._consumer.subscribe(self._topics, on_assign=self._on_assign)
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

    def _on_assign(self, consumer: confluent_kafka.Consumer,
                   partitions: list[confluent_kafka.TopicPartition]) -> None:
        self._assigned = True
        log.info("%s: assigned %s", self.name,
                 ", ".join(f"{tp.topic}-{tp.partition}" for tp in partitions) or "nothing")

    def _waiting_for(self) -> str:
        session_ms = self._params.get("session.timeout.ms", 45_000)
        if self._instance_id:
            return (f"as static member {self._instance_id!r} it takes its partitions back "
                    "as soon as the coordinator answers; a wait this long means the "
                    "coordinator is not reachable or busy, or another member with this "
                    f"{INSTANCE_ID} holds them (for up to session.timeout.ms={session_ms})")
        return (f"as a dynamic member ({INSTANCE_ID} set to ''), it waits until the group's "
                "other members rejoin or are expired: one that died, "
                f"session.timeout.ms={session_ms} after its last heartbeat; one that stopped "
                "polling, max.poll.interval.ms after its last poll")

    def _consume(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        subscribed = time.monotonic()
        wait_logged = False
        try:
            while not self._stopping.is_set():
                if (not self._assigned and not wait_logged
                        and time.monotonic() - subscribed > ASSIGNMENT_WAIT_LOG_S):
                    wait_logged = True
                    log.warning("%s: no partitions assigned by group %s after %.0f s; %s",
                                self.name, self._params.get("group.id"),
                                ASSIGNMENT_WAIT_LOG_S, self._waiting_for())
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
            error = exc.args[0] if exc.args else None
            if isinstance(error, confluent_kafka.KafkaError) and _is_fenced(error):
                # Restarting would fence the other member in turn, back and forth.
                fenced = KafkaError(
                    f"{self.name}: fenced out of group {self._params.get('group.id')}: "
                    f"another consumer joined as {INSTANCE_ID}={self._instance_id!r} (two "
                    "jobs with the same checkpoint directory, or the same app name and "
                    f"none, in one group?); give each its own {INSTANCE_ID} in kafkaParams")
                fenced.__cause__ = exc
                self.stop(str(fenced), fenced)
                return
            self.restart(f"error consuming from {self._params['bootstrap.servers']}", exc)


def _is_fenced(error: confluent_kafka.KafkaError) -> bool:
    """Another member took this one's group.instance.id (librdkafka makes it fatal)."""
    fatal = error.fatal() or error.code() == confluent_kafka.KafkaError._FATAL
    return error.code() in _FENCED or (fatal and "fenced" in error.str().lower())
