"""KafkaRDD: one partition per OffsetRange, read on an executor, exactly that range.

The executor consumes ``[fromOffset, untilOffset)`` of its partition with a
consumer of its own (``auto.offset.reset=error``: a range that vanished is an
error naming topic/partition/offset, never a silent jump), turns the messages
into Arrow columns in the compiled core, and decodes them as the stream asked.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import confluent_kafka
import pyarrow as pa

from fastdstream.engine.columnar import registry
from fastdstream.engine.explain import EITHER, TABLES, Form, rows_from
from fastdstream.engine.rdd import RDD
from fastdstream.errors import DecodeError, FastDStreamError
from fastdstream.sources.kafka import kafka_kernels
from fastdstream.sources.kafka.offset_range import OffsetRange

if TYPE_CHECKING:
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
                 ranges: list[OffsetRange], decoding: Decoding, poll_timeout_s: float):
        super().__init__(ctx, len(ranges))
        self._ranges = tuple(ranges)
        self._executor_params = executor_params
        self._decoding = decoding
        self._poll_timeout_s = poll_timeout_s

    def offsetRanges(self) -> list[OffsetRange]:
        """The offset range of each partition, in partition order."""
        return list(self._ranges)

    def _build_partition_fn(self) -> Callable[[TaskContext, int], Any]:
        return partial(_read_partition, tuple(sorted(self._executor_params.items())),
                       self._ranges, self._decoding, self._poll_timeout_s)

    def _explain_source(self) -> tuple[str, Form]:
        text, form = self._decoding.explain()
        return f"Kafka offset ranges; {text}", form


def _read_partition(params: tuple[tuple[str, str], ...], ranges: tuple[OffsetRange, ...],
                    decoding: Decoding, poll_timeout_s: float, tc: TaskContext,
                    split: int) -> Any:
    consumer = executor_consumer(tc, params)
    records = read_offset_range(consumer, params, ranges[split], poll_timeout_s)
    return decoding.apply(records)


# --- executor-side consumers ---------------------------------------------------------------


def executor_consumer(tc: TaskContext, params: tuple[tuple[str, str], ...]
                      ) -> confluent_kafka.Consumer:
    """This executor's consumer for ``params`` on this task thread (Spark's cached
    KafkaDataConsumer): creating one costs a connection, and a consumer must not be
    shared by two threads reading at once. It closes when its executor stops."""
    key = (CONSUMER_STATE, threading.get_ident(), params)
    return tc.executor_state(key, partial(_new_consumer, params), _close_consumer)


CONSUMER_STATE = "kafka.consumer"


def _new_consumer(params: tuple[tuple[str, str], ...]) -> confluent_kafka.Consumer:
    settings: dict[str, Any] = dict(params)
    settings["logger"] = _kafka_log
    return confluent_kafka.Consumer(settings)


def _close_consumer(consumer: confluent_kafka.Consumer) -> None:
    with contextlib.suppress(RuntimeError):  # already closed
        consumer.close()


def read_offset_range(consumer: confluent_kafka.Consumer, params: tuple[tuple[str, str], ...],
                      source: OffsetRange, poll_timeout_s: float) -> pa.Table:
    """Read exactly ``source`` (offsets ``[from, until)``) as an Arrow table of records."""
    if source.count() == 0:
        return kafka_kernels.messages_to_arrow([])
    tp = confluent_kafka.TopicPartition(source.topic, source.partition, source.fromOffset)
    consumer.assign([tp])
    tables: list[pa.Table] = []
    next_offset = source.fromOffset
    last_progress = time.monotonic()
    try:
        while next_offset < source.untilOffset:
            wanted = min(10_000, source.untilOffset - next_offset)
            messages = consumer.consume(num_messages=wanted, timeout=0.5)
            batch = []
            last = next_offset - 1
            for message in messages:
                error = message.error()
                if error is not None:
                    if error.code() == confluent_kafka.KafkaError._PARTITION_EOF:
                        continue
                    raise KafkaReadError(
                        f"reading {source}: {error.str()} (at {source.topic}/"
                        f"{source.partition}/offset {next_offset})"
                    )
                offset = message.offset()
                if offset is None:  # librdkafka sets one on every message without error
                    raise KafkaReadError(f"reading {source}: a record without an offset")
                if offset >= source.untilOffset:
                    break
                batch.append(message)
                last = offset
            if batch:
                tables.append(kafka_kernels.messages_to_arrow(batch))
                next_offset = last + 1
                last_progress = time.monotonic()
                continue
            # Transaction markers occupy offsets no record has: the position tells.
            position = consumer.position([tp])[0].offset
            if position >= source.untilOffset:
                break
            if time.monotonic() - last_progress > poll_timeout_s:
                raise KafkaReadError(
                    f"reading {source}: no record after offset {next_offset} within "
                    f"{poll_timeout_s:.0f} s (spark.streaming.kafka.consumer.poll.ms); "
                    f"is the broker at {dict(params).get('bootstrap.servers')} reachable?"
                )
    finally:
        consumer.unassign()
    if not tables:
        return kafka_kernels.messages_to_arrow([])
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)
