"""KafkaRDD: one partition per OffsetRange, read on an executor, exactly that range.

The executor consumes ``[fromOffset, untilOffset)`` of its partition with a
consumer of its own (``auto.offset.reset=error``: a range that vanished is an
error naming topic/partition/offset, never a silent jump), turns the messages
into Arrow columns in the compiled core, and decodes them as the stream asked.

The consumer is the compiled core's ``NativeRangeReader`` where it can be: the
librdkafka that confluent_kafka ships, driven directly, copying each record from the
client's message into the Arrow buffers without the GIL and without a Python object
per record. Otherwise (library not found, a setting only confluent_kafka knows,
``FASTDSTREAM_KAFKA_NATIVE=0``) confluent_kafka's ``Consumer`` and
:func:`read_offset_range`.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import confluent_kafka
import pyarrow as pa

from fastdstream import _core
from fastdstream.engine.backend.task_pool import TaskPool
from fastdstream.engine.columnar import registry
from fastdstream.engine.explain import EITHER, TABLES, Form, rows_from
from fastdstream.engine.rdd import RDD
from fastdstream.errors import DecodeError, FastDStreamError
from fastdstream.sources.kafka import kafka_kernels
from fastdstream.sources.kafka.offset_range import OffsetRange

if TYPE_CHECKING:
    from fastdstream.engine.accumulator import Accumulator
    from fastdstream.engine.backend.task_context import TaskContext
    from fastdstream.engine.context import Context

Decoder = Callable[[bytes | None], Any]
_kafka_log = logging.getLogger("fastdstream.kafka.client")


class KafkaReadError(FastDStreamError):
    """An executor could not read its offset range; the message says which and why."""


def utf8_decoder(s: bytes | None) -> str | None:
    """Decode bytes as UTF-8 (None stays None), as PySpark's ``utf8_decoder``."""
    if s is None:
        return None
    return s.decode("utf-8")


class KafkaMessageAndMetadata:
    """One record as a ``messageHandler`` sees it (PySpark's class of that name)."""

    __slots__ = ("_key_decoder", "_raw_key", "_raw_value", "_value_decoder", "offset",
                 "partition", "timestamp", "topic")

    def __init__(self, topic: str, partition: int, offset: int, key: bytes | None,
                 message: bytes | None, timestamp: int | None = None,
                 keyDecoder: Decoder = utf8_decoder, valueDecoder: Decoder = utf8_decoder):
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.timestamp = timestamp
        self._raw_key = key
        self._raw_value = message
        self._key_decoder = keyDecoder
        self._value_decoder = valueDecoder

    @property
    def key(self) -> Any:
        """The record's key, decoded by the stream's ``keyDecoder`` at each read.

        With the default :func:`utf8_decoder` a ``str``, or None for a record without a key.

        Examples
        --------
        >>> KafkaMessageAndMetadata("events", 0, 7, b"k", b"v").key
        'k'
        """
        return self._key_decoder(self._raw_key)

    @property
    def message(self) -> Any:
        """The record's value, decoded by the stream's ``valueDecoder`` at each read.

        With the default :func:`utf8_decoder` a ``str``, or None for a null value.

        Examples
        --------
        >>> KafkaMessageAndMetadata("events", 0, 7, b"k", b"v", valueDecoder=bytes).message
        b'v'
        """
        return self._value_decoder(self._raw_value)

    def __repr__(self) -> str:
        return (f"KafkaMessageAndMetadata(topic={self.topic!r}, partition={self.partition}, "
                f"offset={self.offset})")


# The registry's "decoder" operation: a keyDecoder/valueDecoder of a Kafka stream, whose
# kernel maps a one-column table of the raw bytes (named "key" or "value").
DECODER = "decoder"


@dataclass(frozen=True)
class Decoding:
    """How a partition's Arrow records become what the stream's functions see.

    Built on the driver: each decoder's registry plan is chosen there and travels with
    the tasks (a receiver's or a KafkaRDD's), so executors look nothing up.
    """

    key_decoder: Decoder | None = utf8_decoder
    value_decoder: Decoder | None = utf8_decoder
    message_handler: Callable[[KafkaMessageAndMetadata], Any] | None = None
    _plans: tuple[registry.Plan | None, registry.Plan | None] = field(
        init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        plans = tuple(None if d is None else registry.plan(DECODER, d)
                      for d in (self.key_decoder, self.value_decoder))
        object.__setattr__(self, "_plans", plans)

    def apply(self, records: pa.Table) -> Any:
        if self.message_handler is None:
            columns = {}
            for name, plan in zip(("key", "value"), self._plans, strict=True):
                column = self._decode_column(records, name, plan)
                if column is None:
                    break
                columns[name] = column
            else:
                # the columnar path: (key, value) columns, no object per record
                return pa.table(columns)
        return list(self._records(records))

    @staticmethod
    def _decode_column(records: pa.Table, name: str, plan: registry.Plan | None
                       ) -> pa.ChunkedArray | None:
        """The decoded column, or None where the decoder must run on Python objects."""
        if plan is None:  # decoder None: the raw bytes
            return records.column(name)
        raw = records.select([name])
        if not plan.accepts(raw):
            return None
        try:
            return plan.run(raw).column(0)
        except pa.ArrowInvalid:
            # Bytes the kernel refuses (not UTF-8): the decoder itself raises on them,
            # and the row path names the record.
            return None

    def explain(self) -> tuple[str, Form]:
        """How the records of a partition are decoded, for the explain."""
        if self.message_handler is not None:
            name = registry.function_label(self.message_handler)
            return (f"rows: messageHandler {name} gets a KafkaMessageAndMetadata per record",
                    rows_from("messageHandler"))
        form = TABLES
        texts = []
        for plan in self._plans:
            if plan is None:
                texts.append("raw bytes")
                continue
            texts.append(plan.explain())
            if not plan.columnar:
                form = rows_from(plan.step)
            elif plan.guard is not None and form.table:
                form = EITHER
        text = (f"key and value: {texts[0]}" if texts[0] == texts[1]
                else f"key: {texts[0]}; value: {texts[1]}")
        return ("rows; " if not form.table else "") + text, form

    def _records(self, records: pa.Table) -> Any:
        keys = records.column("key").to_pylist()
        values = records.column("value").to_pylist()
        key_dec = self.key_decoder or _identity
        value_dec = self.value_decoder or _identity
        if self.message_handler is None:
            for i, (k, v) in enumerate(zip(keys, values, strict=True)):
                try:
                    key = key_dec(k)
                except UnicodeDecodeError as exc:
                    raise _located(records, i, "key", exc) from exc
                try:
                    value = value_dec(v)
                except UnicodeDecodeError as exc:
                    raise _located(records, i, "value", exc) from exc
                yield key, value
            return
        # Metadata columns become Python objects only for a handler that sees them.
        topics = records.column("topic").to_pylist()
        partitions = records.column("partition").to_pylist()
        offsets = records.column("offset").to_pylist()
        timestamps = records.column("timestamp").cast(pa.int64()).to_pylist()
        for i in range(len(keys)):
            yield self.message_handler(KafkaMessageAndMetadata(
                topics[i], partitions[i], offsets[i], keys[i], values[i], timestamps[i],
                key_dec, value_dec))


def _identity(x: Any) -> Any:
    return x


def _located(records: pa.Table, i: int, name: str, exc: UnicodeDecodeError) -> DecodeError:
    """The error for record ``i``, naming its topic/partition/offset and which column."""
    topic, partition, offset = (records.column(c)[i].as_py()
                                for c in ("topic", "partition", "offset"))
    return DecodeError(
        f"Kafka record {topic}/{partition}/offset {offset}: {name} is not valid "
        f"UTF-8 ({exc.reason} at byte {exc.start}); pass keyDecoder/valueDecoder="
        "None for raw bytes or a decoder of your own"
    )


def binary_column(table: pa.Table) -> bool:
    """One binary column: Kafka's raw keys or values (nulls stay None)."""
    return table.num_columns == 1 and (pa.types.is_binary(table.schema.types[0])
                                       or pa.types.is_large_binary(table.schema.types[0]))


def utf8_kernel(table: pa.Table) -> pa.Table:
    """Decode a binary column as UTF-8; raises ``pyarrow.ArrowInvalid`` where
    ``bytes.decode("utf-8")`` raises (Arrow's validation rejects what Python's does:
    overlong forms, surrogates, truncated sequences)."""
    column = table.column(0)
    target = pa.large_string() if pa.types.is_large_binary(column.type) else pa.string()
    return pa.table({table.column_names[0]: column.cast(target)})


registry.declare_operation(DECODER, "table")
registry.register(DECODER, utf8_decoder, utf8_kernel, guard=binary_column,
                  description="a binary key or value column (bytes that are not UTF-8 "
                              "raise DecodeError naming the record)",
                  owner=__name__)


class KafkaRDD(RDD):
    """Batch of a direct stream: partition ``i`` holds exactly ``offsetRanges()[i]``."""

    def __init__(self, ctx: Context, executor_params: dict[str, str],
                 ranges: list[OffsetRange], decoding: Decoding, poll_timeout_s: float,
                 sizes: Accumulator[Any] | None = None):
        super().__init__(ctx, len(ranges))
        # Records and Arrow bytes read per (topic, partition), for the planner's byte
        # budget; None: nobody asks.
        self._sizes = sizes
        self._ranges = tuple(ranges)
        self._executor_params = executor_params
        self._decoding = decoding
        self._poll_timeout_s = poll_timeout_s

    def offsetRanges(self) -> list[OffsetRange]:
        """The offset range of each partition, in partition order."""
        return list(self._ranges)

    def _build_partition_fn(self) -> Callable[[TaskContext, int], Any]:
        # Where each range is meant to be read, so an executor can start the consumers
        # of the other ranges it will read (see ConsumerCache.warm).
        locations = tuple(self._input_location(i) for i in range(len(self._ranges)))
        return partial(_read_partition, tuple(sorted(self._executor_params.items())),
                       self._ranges, locations, self._decoding, self._poll_timeout_s,
                       self._sizes)

    def _input_location(self, split: int) -> str | None:
        # A Kafka partition is read by the same executor batch after batch (Spark's
        # PreferConsistent), where its consumer stays assigned and has prefetched.
        executors = sorted(self.ctx._backend.executor_ids())
        if len(executors) < 2:
            return None
        source = self._ranges[split]
        return executors[(zlib.crc32(source.topic.encode()) + source.partition)
                         % len(executors)]

    def _explain_source(self) -> tuple[str, Form]:
        text, form = self._decoding.explain()
        return f"Kafka offset ranges; {text}", form


def _read_partition(params: tuple[tuple[str, str], ...], ranges: tuple[OffsetRange, ...],
                    locations: tuple[str | None, ...], decoding: Decoding,
                    poll_timeout_s: float, sizes: Accumulator[Any] | None,
                    tc: TaskContext, split: int) -> Any:
    source = ranges[split]
    consumers = executor_consumers(tc, params)
    here = tc.executor.executor_id
    consumers.warm(r for i, (r, where) in enumerate(zip(ranges, locations, strict=True))
                   if i != split and where in (None, here))
    records = consumers.read(source, poll_timeout_s)
    # This executor's next range of the batch is read while this one is decoded and
    # processed: the broker serves it meanwhile, not while this executor waits for it
    # (on local-cluster both executors otherwise read at once, then process at once).
    later = [r for i, (r, where) in enumerate(zip(ranges, locations, strict=True))
             if i > split and where == here]
    if later:
        consumers.read_ahead(later[0], poll_timeout_s)
    if sizes is not None and records.num_rows:
        sizes.add({(source.topic, source.partition): (records.num_rows, records.nbytes)})
    return decoding.apply(records)


# --- executor-side consumers ---------------------------------------------------------------

CONSUMER_STATE = "kafka.consumers"
# Consumers an executor keeps per kafkaParams (Spark's
# spark.streaming.kafka.consumer.cache.maxCapacity default); the least recently used idle
# one is closed beyond that.
MAX_CACHED_CONSUMERS = 64
# Settings for consumers that read bounded ranges, unless kafkaParams set them. The
# consumer stays assigned across batches, so librdkafka's prefetch is the next batch's
# read-ahead; fetch.queue.backoff.ms (1 s by default) would stall a read whose queue
# was full a moment ago, which small batches hit every time. Not 0: with a full queue
# librdkafka then re-checks in a busy loop (half a core per idle consumer, measured);
# 10 ms is far less than a full queue takes to drain.
RANGE_READ_SETTINGS = {
    "fetch.queue.backoff.ms": "10",
    # What one partition's consumer prefetches (librdkafka's default is 100k records,
    # 64 MB, per consumer: with a consumer per partition that is the largest memory
    # term of a batch); 20k records still keep a batch of 10 ms or more fed.
    "queued.min.messages": "20000",
    "queued.max.messages.kbytes": "16384",
    # A consumer's background fetch returns once 1 MiB is there or 5 ms passed, not on
    # the first new byte: with a consumer per partition, librdkafka's defaults (1 byte,
    # 500 ms) sent a fetch for every produce request to each of them, and on a loaded
    # broker the producers' requests queued behind those fetches (latency bench, 10 ms
    # batches at 100k msg/s: broker CPU 0.93 -> 0.79 cores, p99 halved). A read waits at
    # most 5 ms more for its range's last records; a backlog fills 1 MiB at once.
    "fetch.wait.max.ms": "5",
    "fetch.min.bytes": "1048576",
}
# Records asked of the client per consume() call: large enough that the per-call cost
# vanishes, small enough that the transient Message objects stay a few MB.
CONSUME_CHUNK = 20_000
# Whether executors read through the compiled core's librdkafka reader when they can
# (FASTDSTREAM_KAFKA_NATIVE=0: confluent_kafka's Consumer, e.g. to compare the two).
NATIVE_READS = os.environ.get("FASTDSTREAM_KAFKA_NATIVE", "1") != "0"
# The name of each ConsumerCache's read-ahead thread (TaskPool adds "_0").
READ_AHEAD_THREAD = "kafka-read-ahead"
# How long one native read waits for records before it checks the position and timeout.
NATIVE_WAIT_MS = 500
_MAX_BINARY_BYTES = 2**31 - 1


def executor_consumers(tc: TaskContext, params: tuple[tuple[str, str], ...]) -> ConsumerCache:
    """This executor's consumers for ``params`` (Spark's cached KafkaDataConsumer): one
    per Kafka partition, kept assigned to it across batches. They close when the
    executor stops."""
    return tc.executor_state((CONSUMER_STATE, params), partial(ConsumerCache, params),
                             ConsumerCache.close)


class ConsumerCache:
    """One :class:`PartitionConsumer` per Kafka partition, handed to one task at a time.

    A partition's consumer in use by another task (two jobs reading the same range at
    once) gives this task a consumer of its own, closed after the read, as Spark does.
    """

    def __init__(self, params: tuple[tuple[str, str], ...]):
        self._params = params
        self._lock = threading.Lock()
        self._consumers: OrderedDict[tuple[str, int], PartitionConsumer] = OrderedDict()
        self._closed = False
        # One long-lived thread reads ranges ahead (started at the first, joined by
        # close): at 10 ms batches a thread per read ahead was ~100 thread starts a
        # second per executor.
        self._ahead_pool = TaskPool(1, READ_AHEAD_THREAD)

    def __len__(self) -> int:
        with self._lock:
            return len(self._consumers)

    def partitions(self) -> list[tuple[str, int]]:
        """The (topic, partition) pairs this cache holds a consumer of."""
        with self._lock:
            return list(self._consumers)

    def warm(self, sources: Iterable[OffsetRange]) -> None:
        """Start consumers, assigned at their ``fromOffset``, for ranges this executor will
        read next that it has no consumer for yet (the first batch, a new partition):
        the client connects and fetches in its own threads while this task reads, and
        the range's own task finds its records queued."""
        with self._lock:
            missing = [s for s in sources if s.count() and not self._closed
                       and (s.topic, s.partition) not in self._consumers]
            if len(missing) + len(self._consumers) > MAX_CACHED_CONSUMERS:
                return  # they would evict each other before their tasks come
        for source in missing:
            consumer = PartitionConsumer(self._params, source.topic, source.partition)
            consumer.seek(source.fromOffset)
            evicted: list[PartitionConsumer] = []
            with self._lock:
                key = (source.topic, source.partition)
                if self._closed or key in self._consumers:
                    evicted.append(consumer)  # a task made one meanwhile
                else:
                    evicted.extend(self._insert(key, consumer))
            for old in evicted:
                old.close()

    def _insert(self, key: tuple[str, int], consumer: PartitionConsumer
                ) -> list[PartitionConsumer]:
        """Cache ``consumer`` (lock held); returns the idle ones evicted beyond the cap."""
        self._consumers[key] = consumer
        evicted = []
        while len(self._consumers) > MAX_CACHED_CONSUMERS:
            idle = next((k for k, c in self._consumers.items() if not c.in_use), None)
            if idle is None:
                break
            evicted.append(self._consumers.pop(idle))
        return evicted

    def read_ahead(self, source: OffsetRange, poll_timeout_s: float) -> None:
        """Start reading ``source`` on the cache's read-ahead thread with its partition's
        idle native consumer, for the task that reads it next (:meth:`read` takes the
        result). Nothing happens without such a consumer (the client reader holds the
        GIL while it reads)."""
        if source.count() == 0:
            return
        with self._lock:
            consumer = self._consumers.get((source.topic, source.partition))
            if self._closed or consumer is None or consumer.in_use or not consumer.native:
                return
            consumer.in_use = True  # until the task that takes the result is done
            ahead: Future[pa.Table] = Future()
            consumer.ahead = (source, ahead)
            # Under the lock: close() shuts the pool down only after it set _closed.
            self._ahead_pool.submit_all([(_read_ahead, (consumer, source, poll_timeout_s,
                                                        ahead))])

    def read(self, source: OffsetRange, poll_timeout_s: float) -> pa.Table:
        """Read exactly ``source`` as an Arrow table of records (see :func:`read_offset_range`)."""
        if source.count() == 0:
            return kafka_kernels.messages_to_arrow([])
        key = (source.topic, source.partition)
        evicted: list[PartitionConsumer] = []
        cached = True
        with self._lock:
            if self._closed:
                raise KafkaReadError(f"reading {source}: the executor's consumers are closed")
            consumer = self._consumers.get(key)
            ahead = None if consumer is None else consumer.ahead
            if consumer is not None and ahead is not None:
                consumer.ahead = None
            else:
                ahead = None
                consumer, cached, evicted = self._checkout(key, consumer)
        if ahead is not None:
            # A read ahead holds the consumer: this task takes it over, with the result
            # if that is this range's.
            assert consumer is not None
            return self._take_ahead(consumer, ahead, source, poll_timeout_s)
        for old in evicted:
            old.close()
        try:
            return consumer.read(source, poll_timeout_s)
        finally:
            if cached:
                consumer.in_use = False
            else:
                consumer.close()

    def _checkout(self, key: tuple[str, int], consumer: PartitionConsumer | None
                  ) -> tuple[PartitionConsumer, bool, list[PartitionConsumer]]:
        """The consumer a task reads ``key`` with (lock held), whether it is the cached
        one, and the idle ones evicted to make room for it."""
        evicted: list[PartitionConsumer] = []
        cached = consumer is None or not consumer.in_use
        if consumer is None:
            consumer = PartitionConsumer(self._params, *key)
            evicted = self._insert(key, consumer)
        elif consumer.in_use:
            consumer = PartitionConsumer(self._params, *key)
        else:
            self._consumers.move_to_end(key)
        consumer.in_use = True
        return consumer, cached, evicted

    def _take_ahead(self, consumer: PartitionConsumer,
                    ahead: tuple[OffsetRange, Future[pa.Table]], source: OffsetRange,
                    poll_timeout_s: float) -> pa.Table:
        ahead_source, future = ahead
        try:
            # Not started yet (the thread is reading another partition ahead): this
            # task reads for itself rather than wait for both.
            if not future.cancel():
                try:
                    table = future.result()
                except Exception:
                    if ahead_source == source:
                        # This range's read failed: its error, not a second wait for
                        # the broker. The consumer seeks at its next read.
                        raise
                else:
                    if ahead_source == source:
                        return table
            # Another range (a retry, another job), or not read ahead after all: the
            # consumer seeks if it must.
            return consumer.read(source, poll_timeout_s)
        finally:
            consumer.in_use = False

    def close(self) -> None:
        with self._lock:
            self._closed = True
            consumers = list(self._consumers.values())
            self._consumers.clear()
        for consumer in consumers:
            consumer.close()
        # After the consumers: a read ahead under way ends as its consumer closes (the
        # native reader closes when its current wait returns); one not started yet is
        # dropped, and the task that would take it reads for itself and finds the
        # consumers closed.
        self._ahead_pool.shutdown()


def _read_ahead(consumer: PartitionConsumer, source: OffsetRange, poll_timeout_s: float,
                ahead: Future[pa.Table]) -> None:
    """The read-ahead thread's job: read ``source`` unless its task took it over first."""
    if not ahead.set_running_or_notify_cancel():
        return
    try:
        ahead.set_result(consumer.read(source, poll_timeout_s))
    except BaseException as exc:  # the task's to raise, as its own read's would be
        ahead.set_exception(exc)


class PartitionConsumer:
    """A consumer of one Kafka partition that reads consecutive ranges without seeking.

    ``next_offset`` is where the records it can hand out next start: the head of
    ``_leftover`` (records a read fetched past its range's end, kept for the next
    range), else the consumer's position. A range that starts anywhere else (a retry,
    a recomputed batch, another job's range) is sought to: the consumer is assigned
    again at its fromOffset and what it had fetched is dropped.
    """

    def __init__(self, params: tuple[tuple[str, str], ...], topic: str, partition: int):
        settings: dict[str, Any] = dict(params)
        for name, value in RANGE_READ_SETTINGS.items():
            settings.setdefault(name, value)
        self.topic = topic
        self.partition = partition
        self.in_use = False
        # Reads started, failed ones too (a failed read ahead is not read twice).
        self.reads = 0
        # (range, its table to come) of a read ahead (ConsumerCache.read_ahead)
        self.ahead: tuple[OffsetRange, Future[pa.Table]] | None = None
        self.next_offset: int | None = None
        self._leftover: list[Any] = []
        # librdkafka driven from the compiled core where it can be (no Python object per
        # record, no GIL held while reading), else confluent_kafka's Consumer.
        self._native = (kafka_kernels.native_reader(settings, topic, partition)
                        if NATIVE_READS else None)
        self._consumer: confluent_kafka.Consumer | None = None
        if self._native is None:
            settings["logger"] = _kafka_log
            self._consumer = confluent_kafka.Consumer(settings)

    @property
    def native(self) -> bool:
        """Whether this consumer reads through the compiled core's librdkafka reader."""
        return self._native is not None

    def close(self) -> None:
        if self._native is not None:
            self._native.close()
        else:
            with contextlib.suppress(RuntimeError):  # already closed
                self._consumer.close()  # type: ignore[union-attr]

    def seek(self, offset: int) -> None:
        """Assign the consumer at ``offset``, dropping what it had fetched; it starts
        fetching from there in the client's threads."""
        self._leftover = []
        self.next_offset = None
        if self._native is not None:
            self._native.assign(offset)
        else:
            self._consumer.assign([confluent_kafka.TopicPartition(  # type: ignore[union-attr]
                self.topic, self.partition, offset)])
        self.next_offset = offset

    def read(self, source: OffsetRange, poll_timeout_s: float) -> pa.Table:
        self.reads += 1
        try:
            if self.next_offset != source.fromOffset:
                self.seek(source.fromOffset)
            if self._native is not None:
                table = read_offset_range_native(self._native, source, poll_timeout_s)
            else:
                table, self._leftover = read_offset_range(
                    self._consumer, source, poll_timeout_s, self._leftover)  # type: ignore[arg-type]
            self.next_offset = source.untilOffset
            return table
        except RuntimeError as exc:
            # The client was closed under the read (the executor stops).
            self.next_offset = None
            self._leftover = []
            raise KafkaReadError(f"reading {source}: {exc}") from exc
        except BaseException:
            # Where the consumer stands is not known: the next read seeks.
            self.next_offset = None
            self._leftover = []
            raise


def read_offset_range_native(reader: Any, source: OffsetRange, poll_timeout_s: float
                             ) -> pa.Table:
    """Read exactly ``source`` with a ``NativeRangeReader`` assigned at ``fromOffset`` (or
    holding the records that follow the previous range); what it fetched past
    ``untilOffset`` stays in it for the next range."""
    tables: list[pa.Table] = []
    next_offset = source.fromOffset
    last_progress = time.monotonic()
    while next_offset < source.untilOffset:
        status, buffers, error = reader.read(next_offset, source.untilOffset,
                                             NATIVE_WAIT_MS, _MAX_BINARY_BYTES)
        if buffers[0]:
            tables.append(kafka_kernels.native_chunk_to_arrow(buffers, source.topic))
            next_offset = int(buffers[5][-1]) + 1
            last_progress = time.monotonic()
        if status == _core.RANGE_ERROR:
            raise KafkaReadError(f"reading {source}: {error[1]} (at {source.topic}/"
                                 f"{source.partition}/offset {next_offset})")
        if status == _core.RANGE_DONE:
            break
        if status == _core.RANGE_FULL:
            continue
        # Nothing within the wait. Transaction markers occupy offsets no record has:
        # the position tells.
        if reader.position() >= source.untilOffset:
            break
        if time.monotonic() - last_progress > poll_timeout_s:
            raise _no_progress(source, next_offset, poll_timeout_s)
    return _concat(tables)


def _no_progress(source: OffsetRange, next_offset: int, poll_timeout_s: float
                 ) -> KafkaReadError:
    """The error of a read that got no record for the whole poll timeout (both readers)."""
    return KafkaReadError(
        f"reading {source}: no record after offset {next_offset} within "
        f"{poll_timeout_s:.0f} s (spark.streaming.kafka.consumer.poll.ms); "
        f"is the broker reachable?"
    )


# The cyclic GC would walk every Message object a consume() call allocates (they are
# tracked), gen-0 collection after collection; they die by reference count when their
# chunk is converted. Reads on several threads share one pause.
_gc_lock = threading.Lock()
_gc_pausers = 0
_gc_was_enabled = False


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    global _gc_pausers, _gc_was_enabled
    with _gc_lock:
        if _gc_pausers == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pausers += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0 and _gc_was_enabled:
                gc.enable()


def read_offset_range(consumer: confluent_kafka.Consumer, source: OffsetRange,
                      poll_timeout_s: float, leftover: list[Any] | None = None
                      ) -> tuple[pa.Table, list[Any]]:
    """Read exactly ``source`` (offsets ``[from, until)``) from a consumer assigned to its
    partition at ``fromOffset`` (or whose ``leftover`` messages start there).

    Returns the records as an Arrow table and the messages fetched past ``untilOffset``,
    which belong to the next range and never to this one.
    """
    tables: list[pa.Table] = []
    next_offset = source.fromOffset
    last_progress = time.monotonic()
    pending = leftover or []
    messages: list[Any] = []
    while next_offset < source.untilOffset:
        messages = []  # the last chunk's records die before the next chunk is consumed
        # Paused per chunk, not per read: a read that waits for the broker must not
        # keep the GC off for the user's other threads all that time.
        with _gc_paused():
            messages, table, stop = _next_chunk(consumer, source, next_offset, pending)
        pending = []
        if messages:
            if table.num_rows:
                tables.append(table)
                next_offset = int(table.column("offset")[-1].as_py()) + 1
                last_progress = time.monotonic()
            if stop < len(messages):
                error = messages[stop].error()
                if error is not None:
                    if error.code() == confluent_kafka.KafkaError._PARTITION_EOF:
                        pending = messages[stop + 1:]
                        continue
                    raise KafkaReadError(
                        f"reading {source}: {error.str()} (at {source.topic}/"
                        f"{source.partition}/offset {next_offset})"
                    )
                # Past the range's end: the next range's records.
                return _concat(tables), messages[stop:]
            if table.num_rows:
                continue
        # Transaction markers occupy offsets no record has: the position tells.
        position = consumer.position([confluent_kafka.TopicPartition(
            source.topic, source.partition)])[0].offset
        if position >= source.untilOffset:
            break
        if time.monotonic() - last_progress > poll_timeout_s:
            raise _no_progress(source, next_offset, poll_timeout_s)
    return _concat(tables), []


def _next_chunk(consumer: confluent_kafka.Consumer, source: OffsetRange, next_offset: int,
                pending: list[Any]) -> tuple[list[Any], pa.Table, int]:
    """The next messages (``pending`` first) and the records among them that are in the
    range; ``stop`` indexes the first message not converted."""
    if pending:
        messages = pending
    else:
        wanted = min(CONSUME_CHUNK, source.untilOffset - next_offset)
        messages = consumer.consume(num_messages=wanted, timeout=0.5)
    if not messages:
        return messages, _EMPTY, 0
    first = messages[0]
    if first.error() is None and (first.offset() or 0) < next_offset:
        # Records before the position (a compressed batch's head): not ours.
        messages = [m for m in messages if m.error() is not None or m.offset() >= next_offset]
    table, stop = kafka_kernels.messages_until(messages, source.untilOffset)
    return messages, table, stop


_EMPTY = kafka_kernels.messages_to_arrow([])


def _concat(tables: list[pa.Table]) -> pa.Table:
    if not tables:
        return kafka_kernels.messages_to_arrow([])
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)
