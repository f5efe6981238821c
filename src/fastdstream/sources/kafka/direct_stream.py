"""The direct Kafka stream: every batch plans one OffsetRange per partition and reads it.

No receiver and no write-ahead log: the driver asks the brokers for each
partition's latest offset, caps the range by ``maxRatePerPartition`` x batch
seconds (in the compiled core), and the batch's KafkaRDD reads exactly those
ranges on executors. The offsets are asked before the batch is computed, outside
the stream's lock (``prepare_batch``), all partitions in one request; which
partitions there are and where they begin, every batch or at most once per
``fastdstream.kafka.metadataRefreshInterval`` (100 ms) of batch time (for shorter
batches, once the batch before is submitted: ``batch_submitted``, not between a
batch's time and its jobs). Offsets
start from ``fromOffsets``, else the group's committed offsets, else
``auto.offset.reset``; a partition that appears after the start is read from
its beginning. A topic that does not exist is a
warning, repeated (throttled) while it is missing. ``commitAsync`` queues the
ranges a job has finished with; a committer thread commits them to the group
right away, every outcome reaches its callback or the log, and ``stop`` flushes
what is queued before it returns (Spark lost the last batch's commit:
SPARK-20050).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import confluent_kafka
import numpy as np

from fastdstream.clock import batch_time_text
from fastdstream.conf import DEFAULT_MAX_BYTES_PER_BATCH, MAX_BYTES_PER_BATCH
from fastdstream.engine.accumulator import AccumulatorParam
from fastdstream.engine.rdd import RDD
from fastdstream.errors import FastDStreamError
from fastdstream.sources.kafka import kafka_kernels
from fastdstream.sources.kafka.consumer_strategy import ConsumerStrategy
from fastdstream.sources.kafka.kafka_rdd import Decoding, KafkaRDD
from fastdstream.sources.kafka.offset_range import OffsetRange, TopicAndPartition
from fastdstream.streaming.dstream.checkpoint_data import DStreamCheckpointData
from fastdstream.streaming.dstream.input_dstream import InputDStream
from fastdstream.streaming.scheduler.listener import StreamInputInfo
from fastdstream.streaming.scheduler.rate_controller import INITIAL_RATE, create_rate_controller

if TYPE_CHECKING:
    from fastdstream.engine.explain import Form
    from fastdstream.streaming.streaming_context import StreamingContext

log = logging.getLogger(__name__)
_kafka_log = logging.getLogger("fastdstream.kafka.client")

CommitCallback = Callable[[list[OffsetRange], BaseException | None], None]

MAX_RATE = "spark.streaming.kafka.maxRatePerPartition"
MIN_RATE = "spark.streaming.kafka.minRatePerPartition"
POLL_TIMEOUT = "spark.streaming.kafka.consumer.poll.ms"
MISSING_TOPIC_WARN_INTERVAL = "fastdstream.kafka.missingTopicWarnInterval"
# How often (in batch time) the planner asks which topics and partitions there are.
# Batches of this or longer ask every batch; at 10 ms batches the metadata and
# earliest-offsets requests were two thirds of the planner's broker round trips, each
# a wait for the GIL on a busy driver (Spark's consumer refreshes metadata every
# metadata.max.age.ms, 5 minutes, and never asks for earliest offsets).
METADATA_REFRESH_INTERVAL = "fastdstream.kafka.metadataRefreshInterval"
DEFAULT_METADATA_REFRESH_MS = 100
# Records probed per new partition for its first size estimate, and how long to wait.
PROBE_RECORDS = 16
PROBE_TIMEOUT_S = 2.0
# Bytes per record assumed for a partition the probe found nothing in.
FALLBACK_BYTES_PER_RECORD = 1024.0
# Kafka's default largest record (message.max.bytes): a lag that fits the budget even
# at this size needs no probe.
LARGEST_RECORD_BYTES = 1_048_588.0
METADATA_TIMEOUT_S = 10.0


class KafkaError(FastDStreamError):
    """Kafka could not be reached or answered something the stream cannot go on from."""


class OffsetOutOfRangeError(KafkaError):
    """The offsets to read next are no longer (or not yet) on the broker."""


def client_params(kafka_params: Mapping[str, Any]) -> dict[str, Any]:
    """librdkafka settings from a user's kafkaParams (PySpark 0.8 names accepted)."""
    params = {str(k): v for k, v in kafka_params.items()}
    if "metadata.broker.list" in params and "bootstrap.servers" not in params:
        params["bootstrap.servers"] = params.pop("metadata.broker.list")
    params.pop("metadata.broker.list", None)
    if not params.get("bootstrap.servers"):
        raise ValueError("kafkaParams must set bootstrap.servers (or metadata.broker.list)")
    if str(params.get("auto.offset.reset", "")).lower() == "none":
        params["auto.offset.reset"] = "error"  # Spark's "none" is librdkafka's "error"
    params["logger"] = _kafka_log  # librdkafka's own log goes to logging, not stderr
    return params


def executor_params(params: Mapping[str, Any]) -> dict[str, str]:
    """Settings of the consumers that read ranges: never commit, never jump."""
    out = {k: str(v) for k, v in params.items() if k != "logger"}
    out["group.id"] = f"fastdstream-executor-{params.get('group.id', 'rdd')}"
    out["enable.auto.commit"] = "false"
    out["enable.auto.offset.store"] = "false"
    out["enable.partition.eof"] = "false"
    # A range that is gone must be an error naming it, never a silent reset.
    out["auto.offset.reset"] = "error"
    return out


_RETRIABLE = {
    confluent_kafka.KafkaError.NOT_COORDINATOR,
    confluent_kafka.KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    confluent_kafka.KafkaError.COORDINATOR_NOT_AVAILABLE,
    confluent_kafka.KafkaError.REQUEST_TIMED_OUT,
    confluent_kafka.KafkaError._TIMED_OUT,
    confluent_kafka.KafkaError._TRANSPORT,
    confluent_kafka.KafkaError._WAIT_COORD,
}


def retrying(call: Callable[[], Any], what: str, lock: threading.Lock,
             timeout_s: float = METADATA_TIMEOUT_S * 3) -> Any:
    """Retry a group-coordinator call while Kafka says "try again" (a broker that just
    started loads its offsets topic; a restarted one elects a coordinator), bounded."""
    deadline = time.monotonic() + timeout_s
    delay = 0.05
    while True:
        try:
            with lock:
                return call()
        except confluent_kafka.KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if not isinstance(error, confluent_kafka.KafkaError):
                raise KafkaError(f"{what} failed: {exc}") from exc
            if error.code() not in _RETRIABLE or time.monotonic() + delay > deadline:
                raise KafkaError(f"{what} failed: {error.str()}") from exc
            log.info("%s: %s; retrying", what, error.str())
            threading.Event().wait(delay)
            delay = min(1.0, delay * 2)


def watermarks(consumer: confluent_kafka.Consumer, tps: Iterable[TopicAndPartition],
               bootstrap: str) -> tuple[np.ndarray, np.ndarray]:
    """Each partition's earliest and latest offset, asked of the brokers now.

    Two ListOffsets requests per leader for all partitions together (timestamps -2 and
    -1 ask for the earliest and the latest offset, what ``get_watermark_offsets`` asks
    one partition at a time): two round trips, not two per partition, which at 10 ms
    batches was most of the interval.
    """
    low, high = _offsets(consumer, list(tps), bootstrap,
                         (confluent_kafka.OFFSET_BEGINNING, confluent_kafka.OFFSET_END))
    return low, high


def latest_offsets(consumer: confluent_kafka.Consumer, tps: Iterable[TopicAndPartition],
                   bootstrap: str) -> np.ndarray:
    """Each partition's latest offset, asked of the brokers now: one round trip."""
    (high,) = _offsets(consumer, list(tps), bootstrap, (confluent_kafka.OFFSET_END,))
    return high


def _offsets(consumer: confluent_kafka.Consumer, tps: list[TopicAndPartition], bootstrap: str,
             kinds: tuple[int, ...]) -> list[np.ndarray]:
    if not tps:
        return [np.empty(0, np.int64) for _ in kinds]
    deadline = time.monotonic() + METADATA_TIMEOUT_S
    delay = 0.01
    while True:
        try:
            return [_list_offsets(consumer, tps, kind, deadline) for kind in kinds]
        except confluent_kafka.KafkaException as exc:
            error = exc.args[0] if exc.args else None
            code = error.code() if isinstance(error, confluent_kafka.KafkaError) else None
            # A partition whose leader is being elected (a topic just created, a broker
            # restarting) answers "not leader" for a moment; get_watermark_offsets
            # retried that itself, offsets_for_times does not.
            if code not in _RETRIABLE_OFFSETS or time.monotonic() + delay > deadline:
                raise KafkaError(f"cannot get offsets of {', '.join(map(str, tps))} from "
                                 f"{bootstrap}: {error.str() if error else exc}") from exc
            threading.Event().wait(delay)
            delay = min(0.5, delay * 2)


_RETRIABLE_OFFSETS = _RETRIABLE | {
    confluent_kafka.KafkaError.NOT_LEADER_FOR_PARTITION,
    confluent_kafka.KafkaError.LEADER_NOT_AVAILABLE,
    confluent_kafka.KafkaError.UNKNOWN_LEADER_EPOCH,
    confluent_kafka.KafkaError.FENCED_LEADER_EPOCH,
}


def _list_offsets(consumer: confluent_kafka.Consumer, tps: list[TopicAndPartition],
                  which: int, deadline: float) -> np.ndarray:
    """Each partition's offset at ``which`` (OFFSET_BEGINNING/OFFSET_END), one request
    per leader; a partition's own error is raised as the call's."""
    asked = [confluent_kafka.TopicPartition(tp.topic, tp.partition, which) for tp in tps]
    answers = consumer.offsets_for_times(asked, timeout=max(0.1, deadline - time.monotonic()))
    offsets = {}
    for answer in answers:
        if answer.error is not None:
            raise confluent_kafka.KafkaException(answer.error)
        offsets[TopicAndPartition(answer.topic, answer.partition)] = answer.offset
    missing = [tp for tp in tps if offsets.get(tp, -1) < 0]
    if missing:
        raise confluent_kafka.KafkaException(confluent_kafka.KafkaError(
            confluent_kafka.KafkaError._PARTIAL,
            f"no offset for {', '.join(map(str, missing))}"))
    return np.array([offsets[tp] for tp in tps], dtype=np.int64)


class OffsetCommitter:
    """Commits queued offset ranges to the consumer group, in order, on its own thread."""

    def __init__(self, consumer: confluent_kafka.Consumer, lock: threading.Lock, group: str):
        self._consumer = consumer
        self._lock = lock
        self._group = group
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name=f"kafka-committer-{group}",
                                        daemon=True)
        self._thread.start()

    def enqueue(self, ranges: list[OffsetRange], callback: CommitCallback | None) -> None:
        self._queue.put((ranges, callback))

    def _loop(self) -> None:
        while True:
            items = [self._queue.get()]
            while not self._queue.empty():  # what piled up goes out in one commit
                items.append(self._queue.get())
            work = [item for item in items if item is not None]
            if work:
                self._commit(work)
            if len(work) < len(items):
                return

    def _commit(self, work: list[tuple[list[OffsetRange], CommitCallback | None]]) -> None:
        ids: dict[TopicAndPartition, int] = {}
        parts, offsets_ = np.empty(0, np.int64), np.empty(0, np.int64)
        for ranges, _ in work:
            pids = [ids.setdefault(r.topicAndPartition(), len(ids)) for r in ranges]
            parts, offsets_ = kafka_kernels.merge_commits(parts, offsets_, pids,
                                                    [r.untilOffset for r in ranges])
        by_id = {i: tp for tp, i in ids.items()}
        offsets = [confluent_kafka.TopicPartition(by_id[int(p)].topic, by_id[int(p)].partition,
                                                  int(o)) for p, o in zip(parts, offsets_,
                                                                          strict=True)]
        error: BaseException | None = None
        try:
            result = retrying(
                lambda: self._consumer.commit(offsets=offsets, asynchronous=False),
                f"commit to group {self._group}", self._lock)
            failed = [tp for tp in result or [] if tp.error is not None]
            if failed:
                raise KafkaError(f"commit of {failed[0].topic}-{failed[0].partition} to group "
                                 f"{self._group} failed: {failed[0].error}")
        except Exception as exc:
            error = exc
        for ranges, callback in work:
            if callback is not None:
                try:
                    callback(ranges, error)
                except Exception:
                    log.exception("commit callback failed")
            elif error is not None:
                log.error("Kafka commit of %s to group %s failed: %s",
                          ", ".join(map(str, ranges)), self._group, error)
            else:
                log.debug("committed %s to group %s", ", ".join(map(str, ranges)), self._group)

    def stop(self) -> None:
        """Commit everything queued, then stop."""
        self._queue.put(None)
        # A commit callback may stop the StreamingContext, which stops this committer
        # from its own thread: it ends its loop after this call returns.
        if self._thread is not threading.current_thread():
            self._thread.join()


class DirectKafkaInputDStream(InputDStream):
    """Kafka direct stream (``KafkaUtils.createDirectStream``); see the module docs."""

    def __init__(self, ssc: StreamingContext, strategy: ConsumerStrategy,
                 kafka_params: Mapping[str, Any], decoding: Decoding):
        super().__init__(ssc)
        self._strategy = strategy
        self._params = client_params(kafka_params)
        if not self._params.get("group.id"):
            raise ValueError("kafkaParams must set group.id: the stream's offsets are "
                             "committed to, and started from, that consumer group")
        self._group = str(self._params["group.id"])
        self._bootstrap = str(self._params["bootstrap.servers"])
        self._reset = str(self._params.get("auto.offset.reset", "latest")).lower()
        if self._reset == "error":
            self._reset = "none"
        self._decoding = decoding
        conf = ssc.sparkContext.getConf()
        self._max_rate = int(conf.get(MAX_RATE, "0") or 0)
        self._min_rate = int(conf.get(MIN_RATE, "1") or 1)
        self._initial_rate = float(conf.get(INITIAL_RATE, "0") or 0)
        self.rate_controller = create_rate_controller(conf, self._id, self.slideDuration)
        if self.rate_controller is not None:
            ssc.addStreamingListener(self.rate_controller)
        self._poll_timeout_s = conf.get_duration_ms(POLL_TIMEOUT, 120_000) / 1000.0
        # The byte budget per batch: each partition's Arrow bytes per record, learned
        # from what the batches read (an accumulator the reads add to) and, before a
        # partition's first read, from a probe of a few of its records.
        self._max_bytes = conf.get_size_bytes(MAX_BYTES_PER_BATCH, DEFAULT_MAX_BYTES_PER_BATCH)
        if self._max_bytes < 0:
            raise ValueError(f"{MAX_BYTES_PER_BATCH} must be >= 0 (0: no budget), got "
                             f"{self._max_bytes}")
        self._sizes = (self._sc.accumulator({}, RecordSizesParam()) if self._max_bytes
                       else None)
        self._sizes_seen: dict[tuple[str, int], tuple[int, int]] = {}
        self._bytes_per_record: dict[TopicAndPartition, float] = {}
        self._current: dict[TopicAndPartition, int] = {}
        # What prepare_batch found for the next batch: (time, answer or its error).
        self._prepared: tuple[int, tuple[list[TopicAndPartition], np.ndarray, np.ndarray]
                              | Exception] | None = None
        self._lock = threading.Lock()
        self._driver: confluent_kafka.Consumer | None = None
        self._committer: OffsetCommitter | None = None
        self._started = False
        self._checkpoint_data = DirectKafkaInputDStreamCheckpointData(self)
        # A topic that does not exist reads as nothing: say so at start, then again at
        # most once per interval while it is still missing.
        self._auto_create = str(self._params.get("allow.auto.create.topics", "false")
                                ).lower() == "true"
        self._missing_warn_interval_s = conf.get_duration_ms(MISSING_TOPIC_WARN_INTERVAL,
                                                             60_000) / 1000.0
        self._missing_warned: dict[str, float] = {}
        self._create_asked: dict[str, float] = {}  # topic -> when its creation was asked
        self._metadata_refresh_ms = conf.get_duration_ms(METADATA_REFRESH_INTERVAL,
                                                         DEFAULT_METADATA_REFRESH_MS)
        self._metadata_time: int | None = None  # batch time of the last metadata asked
        # Each partition's earliest offset at that lookup (retention moves it rarely).
        self._earliest: dict[TopicAndPartition, int] = {}

    def _explain_source(self) -> tuple[str, Form]:
        text, form = self._decoding.explain()
        return f"Kafka direct stream; {text}", form

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        params = dict(self._params)
        params["enable.auto.commit"] = False
        self._driver = confluent_kafka.Consumer(params)
        try:
            # unreachable brokers fail here, within a bounded time
            metadata = self._metadata()
            partitions = self._strategy.partitions(metadata)
            # Offsets restored from a checkpoint go on from there; only partitions the
            # checkpoint does not know start from fromOffsets / the group / the reset.
            # After a recovery those were created while the job was down: all their
            # records are newer than what the checkpoint read, so from their beginning.
            fresh = self._initial_offsets([tp for tp in partitions if tp not in self._current],
                                          from_beginning=bool(self._current))
            self._current = {**self._current, **fresh}
            # Every partition there is now is known: one that appears later is new.
            self._started = True
        except BaseException:
            self._driver.close()
            self._driver = None
            raise
        self._committer = OffsetCommitter(self._driver, self._lock, self._group)

    def stop(self) -> None:
        if self._committer is not None:
            self._committer.stop()
            self._committer = None
        if self._driver is not None:
            with self._lock:
                self._driver.close()
            self._driver = None

    # --- CanCommitOffsets ---------------------------------------------------------------

    def commitAsync(self, offsetRanges: list[OffsetRange],
                    callback: CommitCallback | None = None) -> None:
        """Commit ``offsetRanges`` (their untilOffsets) to the consumer group.

        Returns at once; the commit's outcome goes to ``callback(offsetRanges,
        error_or_None)``, or to the log when there is no callback. Commits queued
        when the context stops are flushed before ``stop`` returns.
        """
        if self._committer is None:
            raise RuntimeError("commitAsync needs a started stream (after ssc.start())")
        self._committer.enqueue(list(offsetRanges), callback)

    # --- planning -----------------------------------------------------------------------

    def _metadata(self) -> dict[str, list[int]]:
        assert self._driver is not None
        try:
            with self._lock:
                md = self._driver.list_topics(timeout=METADATA_TIMEOUT_S)
        except confluent_kafka.KafkaException as exc:
            raise KafkaError(
                f"cannot reach Kafka at {self._bootstrap} within {METADATA_TIMEOUT_S:.0f} s: "
                f"{exc.args[0].str() if exc.args else exc}"
            ) from exc
        topics = {name: sorted(t.partitions) for name, t in md.topics.items()
                  if t.error is None}
        missing = self._strategy.missing(topics)
        if missing and self._auto_create:
            # A metadata request naming the topic is what makes a broker with
            # auto.create.topics.enable create it (allow.auto.create.topics=true). A
            # broker that refuses may take the whole metadata timeout to say so: asked
            # again at most once per warning interval, not at every batch.
            now = time.monotonic()
            for name in self._strategy.topics_to_describe() or []:
                if name in topics:
                    self._create_asked.pop(name, None)
                    continue
                last = self._create_asked.get(name)
                if last is not None and now - last < self._missing_warn_interval_s:
                    continue
                self._create_asked[name] = now
                topics.update(self._describe_topic(name))
            missing = self._strategy.missing(topics)
        self._warn_missing(missing)
        return topics

    def _describe_topic(self, name: str) -> dict[str, list[int]]:
        assert self._driver is not None
        log.debug("asking %s to create topic %r (allow.auto.create.topics=true)",
                  self._bootstrap, name)
        try:
            with self._lock:
                md = self._driver.list_topics(topic=name, timeout=METADATA_TIMEOUT_S)
        except confluent_kafka.KafkaException:
            return {}
        return {n: sorted(t.partitions) for n, t in md.topics.items()
                if t.error is None and t.partitions}

    def _warn_missing(self, missing: list[str]) -> None:
        now = time.monotonic()
        for what in list(self._missing_warned):
            if what not in missing:
                del self._missing_warned[what]
                log.info("Kafka direct stream %d: %s now exists on %s; reading it",
                         self._id, what, self._bootstrap)
        for what in missing:
            last = self._missing_warned.get(what)
            if last is not None and now - last < self._missing_warn_interval_s:
                continue
            self._missing_warned[what] = now
            how = ("the broker did not create it although allow.auto.create.topics=true "
                   "(its auto.create.topics.enable is false?)" if self._auto_create
                   else "allow.auto.create.topics is false")
            log.warning("Kafka direct stream %d: %s does not exist on %s; the stream reads "
                        "nothing from it until it is created (%s). Said again every %g s "
                        "while it is missing (%s).", self._id, what, self._bootstrap, how,
                        self._missing_warn_interval_s, MISSING_TOPIC_WARN_INTERVAL)

    def _initial_offsets(self, partitions: list[TopicAndPartition], from_beginning: bool = False
                         ) -> dict[TopicAndPartition, int]:
        """Where to start reading ``partitions``: fromOffsets, else the group's committed
        offset, else ``auto.offset.reset`` -- or their earliest offset if
        ``from_beginning`` (partitions that appeared after the stream started)."""
        driver = self._driver
        assert driver is not None
        chosen: dict[TopicAndPartition, int] = {}
        missing = [tp for tp in partitions if tp not in self._strategy.offsets]
        for tp in partitions:
            if tp in self._strategy.offsets:
                chosen[tp] = self._strategy.offsets[tp]
        if missing:
            wanted = [confluent_kafka.TopicPartition(tp.topic, tp.partition) for tp in missing]
            committed = retrying(lambda: driver.committed(wanted, timeout=5.0),
                                 f"committed offsets of group {self._group} on {self._bootstrap}",
                                 self._lock)
            with self._lock:
                low, high = watermarks(driver, missing, self._bootstrap)
            for i, (tp, c) in enumerate(zip(missing, committed, strict=True)):
                if c.offset >= 0:
                    chosen[tp] = c.offset
                elif from_beginning:
                    chosen[tp] = int(low[i])
                else:
                    chosen[tp] = self._reset_offset(tp, int(low[i]), int(high[i]), None)
        return chosen

    def _max_messages(self, lag: np.ndarray) -> np.ndarray | None:
        """Per-partition caps for this batch (Spark's ``maxMessagesPerPartition``): the
        backpressure rate shared out by lag, bounded by maxRatePerPartition; None: no cap."""
        rate = -1.0
        if self.rate_controller is not None:
            rate = self.rate_controller.latest_rate()
            if rate <= 0:
                rate = self._initial_rate
        if rate > 0:
            total = lag.sum()
            per_partition = lag / total * rate if total else np.zeros(len(lag))
            if self._max_rate > 0:
                per_partition = np.minimum(per_partition, self._max_rate)
        else:
            per_partition = np.full(len(lag), float(self._max_rate))
        if per_partition.sum() <= 0:
            return None
        seconds = self.slideDuration / 1000.0
        return np.maximum((seconds * per_partition).astype(np.int64), self._min_rate)

    def _budget_caps(self, tps: list[TopicAndPartition], start: np.ndarray,
                     lag: np.ndarray) -> np.ndarray | None:
        """Per-partition caps that keep the batch within maxBytesPerBatch; None: it fits."""
        if not self._max_bytes or not lag.any():
            return None
        self._learn_sizes()
        unknown = [i for i, tp in enumerate(tps)
                   if lag[i] > 0 and tp not in self._bytes_per_record]
        if unknown:
            # No probe where even records of Kafka's default largest size would fit.
            sizes = np.array([self._bytes_per_record.get(tp, LARGEST_RECORD_BYTES)
                              for tp in tps])
            if float((lag * sizes).sum()) <= self._max_bytes:
                return None
            self._probe_sizes([tps[i] for i in unknown], [int(start[i]) for i in unknown],
                              [int(lag[i]) for i in unknown])
        known = list(self._bytes_per_record.values())
        default = max(known) if known else FALLBACK_BYTES_PER_RECORD
        sizes = np.array([self._bytes_per_record.get(tp, default) for tp in tps])
        caps = kafka_kernels.byte_budget_caps(lag, sizes, self._max_bytes)
        if caps is not None:
            log.debug("Kafka direct stream %d: batch capped at %d records to stay within "
                      "%s=%d bytes", self._id, int(caps.sum()), MAX_BYTES_PER_BATCH,
                      self._max_bytes)
        return caps

    def _learn_sizes(self) -> None:
        """Bytes per record of each partition from what batches read since last time."""
        assert self._sizes is not None
        totals: dict[tuple[str, int], tuple[int, int]] = self._sizes.value
        for key, (records, size) in totals.items():
            seen_records, seen_size = self._sizes_seen.get(key, (0, 0))
            if records > seen_records:
                self._bytes_per_record[TopicAndPartition(*key)] = max(
                    (size - seen_size) / (records - seen_records), 1.0)
        self._sizes_seen = totals

    def _probe_sizes(self, tps: list[TopicAndPartition], starts: list[int],
                     lags: list[int]) -> None:
        """Measure a few records at each partition's next offset (before its first read,
        a batch's size is otherwise unknown)."""
        settings: dict[str, Any] = dict(executor_params(self._params))
        settings["logger"] = _kafka_log
        settings["fetch.queue.backoff.ms"] = 0
        probe = confluent_kafka.Consumer(settings)
        got: dict[tuple[str, int], list[Any]] = {(tp.topic, tp.partition): [] for tp in tps}
        wanted = {(tp.topic, tp.partition): min(PROBE_RECORDS, lag)
                  for tp, lag in zip(tps, lags, strict=True)}
        try:
            probe.assign([confluent_kafka.TopicPartition(tp.topic, tp.partition, start)
                          for tp, start in zip(tps, starts, strict=True)])
            deadline = time.monotonic() + PROBE_TIMEOUT_S
            while (time.monotonic() < deadline
                   and any(len(m) < wanted[k] for k, m in got.items())):
                for message in probe.consume(PROBE_RECORDS * len(tps), timeout=0.1):
                    if message.error() is None:
                        records = got.get((str(message.topic()), int(message.partition() or 0)))
                        if records is not None and len(records) < PROBE_RECORDS:
                            records.append(message)
        finally:
            probe.close()
        for (topic, partition), messages in got.items():
            if messages:
                table = kafka_kernels.messages_to_arrow(messages)
                self._bytes_per_record[TopicAndPartition(topic, partition)] = (
                    table.nbytes / table.num_rows)

    def _reset_offset(self, tp: TopicAndPartition, low: int, high: int,
                      wanted: int | None) -> int:
        what = (f"offset {wanted} of {tp} is out of range [{low}, {high}]" if wanted is not None
                else f"group {self._group} has no committed offset for {tp}")
        if self._reset in ("earliest", "smallest", "beginning"):
            if wanted is not None:
                log.warning("%s: records [%d, %d) were removed before they were read; "
                            "continuing at %d (auto.offset.reset=earliest)", what, wanted, low, low)
            return low
        if self._reset in ("latest", "largest", "end"):
            if wanted is not None:
                log.warning("%s: continuing at %d (auto.offset.reset=latest)", what, high)
            return high
        raise OffsetOutOfRangeError(
            f"{what}, and auto.offset.reset={self._reset} says not to move "
            f"(topic {tp.topic}, partition {tp.partition})"
        )

    def prepare_batch(self, time_ms: int) -> None:
        """Ask the brokers, for the batch of ``time_ms``, which partitions there are and
        where they end, before the batch is computed.

        The JobGenerator calls this before it generates the batch's jobs: the broker
        round trips then happen outside the stream's lock, which the job thread takes
        to forget old batches -- at 10 ms batches it otherwise waited for them every
        batch. ``_compute`` of the same time uses the answer (or raises its error).
        """
        # Not under the lock, which is the point; a dict lookup is atomic.
        if time_ms in self._generated:  # restored from a checkpoint: read as saved
            return
        try:
            # The partitions' lookup, when due, was made for this batch after the one
            # before was submitted (batch_submitted): here only where they end, one
            # round trip, unless that lookup failed or was not made.
            self._prepared = (time_ms, self._latest_offsets(time_ms))
        except Exception as exc:
            self._prepared = (time_ms, exc)

    def batch_submitted(self, time_ms: int) -> None:
        """Look the partitions up for the next batch if its time is due for it.

        Only for batches shorter than metadataRefreshInterval. Asking which partitions
        there are and where they begin (a metadata request and an earliest-offsets
        request) took as long as the batch's own offsets request; done when a batch was
        prepared, it delayed one batch in ten at 10 ms batches. Done here, between a
        batch's submission and the next batch's time, the next batch asks only where
        the partitions end. A lookup that fails leaves the next batch to look up
        itself, and fail with the error.
        """
        if (self._driver is None or self._metadata_time is None
                or self.slideDuration >= self._metadata_refresh_ms):
            # Not started, or the next batch looks up anyway: at once when the last
            # lookup failed; at its own time when every batch looks up (batches of the
            # refresh interval or longer: a partition made before a batch's time is
            # read by that batch, as before).
            return
        following = time_ms + self.slideDuration
        if following - self._metadata_time < self._metadata_refresh_ms:
            return
        try:
            self._look_up(following)
        except Exception as exc:
            self._metadata_time = None
            log.warning("Kafka direct stream %d: looking the partitions up after batch %s "
                        "failed (%s); the next batch looks them up again", self._id,
                        batch_time_text(time_ms), exc)

    def _latest_offsets(self, time_ms: int
                        ) -> tuple[list[TopicAndPartition], np.ndarray, np.ndarray]:
        """The partitions to read (new ones start at their beginning) and each one's
        earliest and latest offset now.

        Which partitions there are, and where they begin, is asked at most once per
        metadataRefreshInterval of batch time (every batch of that length or longer),
        and again whenever the offsets query fails (a deleted topic then gets its clear
        error); between lookups a batch costs one round trip, its latest offsets. A
        batch the generator prepares finds its lookup made (``batch_submitted``) unless
        that failed. As in
        Spark, records that retention removes between two lookups, before the stream
        read them, fail the batch's read (``auto.offset.reset`` applies from the next
        lookup on).
        """
        assert self._driver is not None
        last = self._metadata_time
        tps = list(self._current)
        if (last is not None and tps and all(tp in self._earliest for tp in tps)
                and 0 <= time_ms - last < max(self._metadata_refresh_ms, self.slideDuration)):
            try:
                with self._lock:
                    high = latest_offsets(self._driver, tps, self._bootstrap)
                return tps, np.array([self._earliest[tp] for tp in tps], np.int64), high
            except KafkaError:
                pass  # what changed is in the metadata: asked below
        return self._look_up(time_ms)

    def _look_up(self, time_ms: int) -> tuple[list[TopicAndPartition], np.ndarray, np.ndarray]:
        """Which partitions there are (new ones start at their beginning; a gone one is
        an error), and each one's earliest and latest offset now, for the batch of
        ``time_ms``."""
        assert self._driver is not None
        self._metadata_time = time_ms
        metadata = self._metadata()
        partitions = self._strategy.partitions(metadata)
        gone = [tp for tp in self._current
                if tp.partition not in metadata.get(tp.topic, ())]
        if gone:
            tp = gone[0]
            raise KafkaError(
                f"topic {tp.topic} partition {tp.partition} no longer exists on "
                f"{self._bootstrap} (deleted?); the stream was at offset {self._current[tp]}"
            )
        new = [tp for tp in partitions if tp not in self._current]
        if new:
            # As Spark, new partitions are picked up; unlike Spark (which applies
            # auto.offset.reset, so "latest" skipped what was written to them before the
            # stream noticed them), a partition that appeared after the stream started
            # is read from its beginning: all of its records are newer than the start.
            log.info("new Kafka partitions, read from their beginning: %s",
                     ", ".join(map(str, new)))
            self._current.update(self._initial_offsets(new, from_beginning=self._started))
        tps = list(self._current)
        with self._lock:
            low, high = watermarks(self._driver, tps, self._bootstrap)
        self._earliest = dict(zip(tps, low.tolist(), strict=True))
        return tps, low, high

    def _compute(self, time_ms: int) -> RDD | None:
        prepared, self._prepared = self._prepared, None
        if prepared is not None and prepared[0] == time_ms:
            if isinstance(prepared[1], Exception):
                raise prepared[1]
            tps, low, high = prepared[1]
        else:  # a batch computed without the generator (a recovery, slice)
            tps, low, high = self._latest_offsets(time_ms)
        start = np.array([self._current[tp] for tp in tps], dtype=np.int64)
        lag = np.maximum(high - start, 0)
        cap = self._max_messages(lag)
        budget = self._budget_caps(tps, start, lag if cap is None else np.minimum(lag, cap))
        if budget is not None:
            cap = budget if cap is None else np.minimum(cap, budget)
        until, out_of_range = kafka_kernels.plan_offset_ranges(
            start, high, cap, earliest_offsets=low
        )
        if out_of_range.any():
            for j in np.flatnonzero(out_of_range).tolist():
                start[j] = self._reset_offset(tps[j], int(low[j]), int(high[j]), int(start[j]))
            until, _ = kafka_kernels.plan_offset_ranges(start, high, cap, earliest_offsets=low)
        ranges = [OffsetRange(tp.topic, tp.partition, int(start[i]), int(until[i]))
                  for i, tp in enumerate(tps)]
        for i, tp in enumerate(tps):
            self._current[tp] = int(until[i])
        self._report_input_info(time_ms, int((until - start).sum()), {
            "offsets": ranges,
            # Each partition's end when the batch was planned: the status page's lag.
            "latestOffsets": {f"{tp.topic}/{tp.partition}": int(high[i])
                              for i, tp in enumerate(tps)},
            StreamInputInfo.METADATA_KEY_DESCRIPTION: _describe(ranges),
        })
        return self._kafka_rdd(ranges)

    def _kafka_rdd(self, ranges: list[OffsetRange]) -> KafkaRDD:
        return KafkaRDD(self._sc, executor_params(self._params), ranges, self._decoding,
                        self._poll_timeout_s, self._sizes)


class RecordSizesParam(AccumulatorParam[dict[tuple[str, int], tuple[int, int]]]):
    """Records and Arrow bytes read per (topic, partition). Adding makes a new dict, so
    the planner reads a value no task merge changes under it."""

    def zero(self, value: dict[tuple[str, int], tuple[int, int]]
             ) -> dict[tuple[str, int], tuple[int, int]]:
        return {}

    def addInPlace(self, value1: dict[tuple[str, int], tuple[int, int]],
                   value2: dict[tuple[str, int], tuple[int, int]]
                   ) -> dict[tuple[str, int], tuple[int, int]]:
        out = dict(value1)
        for key, (records, size) in value2.items():
            r, b = out.get(key, (0, 0))
            out[key] = (r + records, b + size)
        return out


class DirectKafkaInputDStreamCheckpointData(DStreamCheckpointData):
    """A direct stream saves, per remembered batch time, the offset ranges the batch reads,
    as ``(topic, partition, fromOffset, untilOffset)`` tuples (Spark's
    DirectKafkaInputDStreamCheckpointData)."""

    def __init__(self, stream: DirectKafkaInputDStream):
        super().__init__(stream)
        self._kafka_stream = stream

    def update(self, time_ms: int) -> None:
        stream = self._kafka_stream
        with stream._generated_lock:
            generated = list(stream._generated.items())
        self.data = {
            t: [(r.topic, r.partition, r.fromOffset, r.untilOffset) for r in rdd.offsetRanges()]
            for t, rdd in generated if isinstance(rdd, KafkaRDD)
        }

    def restore(self) -> None:
        stream = self._kafka_stream
        latest: list[OffsetRange] = []
        for t, tuples in sorted(self.data.items()):
            try:
                ranges = [OffsetRange(str(topic), int(partition), int(start), int(until))
                          for topic, partition, start, until in tuples]
            except (TypeError, ValueError) as exc:
                raise ValueError(
                    f"checkpoint data of stream {self.stream_id} (a direct Kafka stream) for "
                    f"batch {t} ms is not a list of offset ranges ({exc}): the setup function "
                    "no longer builds the graph the checkpoint was taken of"
                ) from exc
            log.info("restoring the offset ranges of batch %d ms: %s", t,
                     ", ".join(map(str, ranges)))
            # The batch reads again exactly what it read before the restart.
            with stream._generated_lock:
                stream._generated[t] = stream._kafka_rdd(ranges)
            latest = ranges
        # The next batch goes on where the newest saved batch ends.
        stream._current.update({r.topicAndPartition(): r.untilOffset for r in latest})


def _describe(ranges: list[OffsetRange]) -> str:
    """A batch's ranges for people to read, as Spark's direct stream describes them
    (empty ranges left out)."""
    return "\n".join(
        f"topic: {r.topic}\tpartition: {r.partition}\toffsets: {r.fromOffset} to {r.untilOffset}"
        for r in ranges if r.fromOffset != r.untilOffset
    )
