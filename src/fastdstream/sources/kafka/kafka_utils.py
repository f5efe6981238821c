"""KafkaUtils: PySpark 2.x's entry points for Kafka streams and RDDs."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

import confluent_kafka

from fastdstream.engine import closure_check
from fastdstream.sources.kafka.consumer_strategy import ConsumerStrategies, ConsumerStrategy
from fastdstream.sources.kafka.direct_stream import (
    POLL_TIMEOUT,
    DirectKafkaInputDStream,
    KafkaError,
    client_params,
    executor_params,
    watermarks,
)
from fastdstream.sources.kafka.kafka_rdd import (
    Decoder,
    Decoding,
    KafkaMessageAndMetadata,
    KafkaRDD,
    utf8_decoder,
)
from fastdstream.sources.kafka.location_strategy import LocationStrategy
from fastdstream.sources.kafka.offset_range import OffsetRange, TopicAndPartition
from fastdstream.sources.kafka.receiver import KafkaReceiver

if TYPE_CHECKING:
    from fastdstream.engine.context import Context
    from fastdstream.streaming.dstream.dstream import DStream
    from fastdstream.streaming.streaming_context import StreamingContext


def _job_identity(ssc_ref: weakref.ref[StreamingContext]) -> tuple[str, str | None]:
    """(app name, checkpoint directory) of the job a receiver belongs to, at its start."""
    ssc = ssc_ref()
    if ssc is None:
        return "fastdstream", None
    return ssc.sparkContext.appName, ssc._checkpoint_dir


class KafkaUtils:
    """Create Kafka streams and RDDs, with PySpark 2.x's signatures."""

    @staticmethod
    def createDirectStream(
        ssc: StreamingContext,
        topics: Iterable[str] | ConsumerStrategy,
        kafkaParams: Mapping[str, Any],
        fromOffsets: Mapping[TopicAndPartition, int] | None = None,
        keyDecoder: Decoder | None = utf8_decoder,
        valueDecoder: Decoder | None = utf8_decoder,
        messageHandler: Callable[[KafkaMessageAndMetadata], Any] | None = None,
        locationStrategy: LocationStrategy | None = None,
    ) -> DirectKafkaInputDStream:
        """A stream that reads each batch's offset ranges directly from the brokers.

        Parameters
        ----------
        ssc : StreamingContext
        topics : list of str, or a consumer strategy
            Topics to subscribe to, or ``ConsumerStrategies.Subscribe/SubscribePattern/
            Assign(...)`` (kafka-0-10's strategies).
        kafkaParams : dict
            confluent-kafka (librdkafka) settings; ``bootstrap.servers`` (or
            ``metadata.broker.list``) and ``group.id`` are required.
        fromOffsets : dict of TopicAndPartition to int, optional
            Where to start; else the group's committed offsets; else ``auto.offset.reset``.
        keyDecoder, valueDecoder : callable or None
            ``utf8_decoder`` (the default) keeps the batch columnar: string ``key`` and
            ``value`` columns, seen by Python functions as ``(key, value)`` tuples.
            ``None`` keeps bytes. Any other function is applied record by record.
        messageHandler : callable, optional
            ``f(KafkaMessageAndMetadata)`` -> the stream's elements.

        Returns
        -------
        DirectKafkaInputDStream
            Its RDDs answer ``offsetRanges()``; the stream has ``commitAsync``.

        Examples
        --------
        >>> # stream = KafkaUtils.createDirectStream(
        >>> #     ssc, ["events"], {"bootstrap.servers": "127.0.0.1:9092", "group.id": "g"})
        >>> # stream.map(lambda kv: kv[1]).flatMap(str.split).countByValue().pprint()
        """
        _check_decoders(ssc.sparkContext, "createDirectStream", keyDecoder, valueDecoder,
                        messageHandler)
        if isinstance(topics, ConsumerStrategy):
            strategy = topics
            if fromOffsets:
                strategy.offsets.update(ConsumerStrategies.Subscribe([], fromOffsets).offsets)
        else:
            strategy = ConsumerStrategies.Subscribe(list(topics), fromOffsets)
        decoding = Decoding(keyDecoder, valueDecoder, messageHandler)
        return DirectKafkaInputDStream(ssc, strategy, kafkaParams, decoding)

    @staticmethod
    def createStream(
        ssc: StreamingContext,
        zkQuorum: str,
        groupId: str,
        topics: Mapping[str, int],
        kafkaParams: Mapping[str, Any] | None = None,
        storageLevel: Any = None,
        keyDecoder: Decoder | None = utf8_decoder,
        valueDecoder: Decoder | None = utf8_decoder,
    ) -> DStream:
        """A receiver-based stream: a consumer-group subscriber running as a receiver.

        Parameters
        ----------
        zkQuorum : str
            The Kafka bootstrap servers (PySpark took the ZooKeeper quorum here; Kafka
            no longer has one), e.g. ``"127.0.0.1:9092"``.
        groupId : str
            The consumer group.
        topics : dict of str to int
            Topics to subscribe to. The thread counts are accepted for compatibility;
            one consumer reads all of the receiver's partitions.
        kafkaParams : dict, optional
            More confluent-kafka (librdkafka) settings.

        Notes
        -----
        A block's offsets are committed once the block is stored. With
        ``spark.streaming.receiver.writeAheadLog.enable`` and ``ssc.checkpoint(dir)``
        blocks are written to the write-ahead log first and replayed after a crash:
        zero data loss, at-least-once (a record may be delivered twice). For
        exactly-once use :meth:`createDirectStream`.

        The receiver is a static member of the group (``group.instance.id`` derived
        from the checkpoint directory, else the app name, and the stream's id): a
        job restarted after a crash gets its partitions back at once instead of
        after ``session.timeout.ms``. Set ``group.instance.id`` in ``kafkaParams``
        to choose it, or to ``""`` for a dynamic member.
        """
        _check_decoders(ssc.sparkContext, "createStream", keyDecoder, valueDecoder)
        params = dict(kafkaParams or {})
        params.setdefault("bootstrap.servers", zkQuorum)
        params["group.id"] = groupId
        receiver = KafkaReceiver(params, dict(topics), Decoding(keyDecoder, valueDecoder),
                                 job=partial(_job_identity, weakref.ref(ssc)))
        return ssc.receiverStream(receiver)

    @staticmethod
    def createRDD(
        sc: Context,
        kafkaParams: Mapping[str, Any],
        offsetRanges: list[OffsetRange],
        leaders: Any = None,
        keyDecoder: Decoder | None = utf8_decoder,
        valueDecoder: Decoder | None = utf8_decoder,
        messageHandler: Callable[[KafkaMessageAndMetadata], Any] | None = None,
    ) -> KafkaRDD:
        """An RDD of exactly ``offsetRanges`` (a batch read); ranges are checked up front."""
        _check_decoders(sc, "createRDD", keyDecoder, valueDecoder, messageHandler)
        params = client_params(kafkaParams)
        params.setdefault("group.id", "fastdstream-rdd")
        consumer = confluent_kafka.Consumer(params)
        try:
            tps = [r.topicAndPartition() for r in offsetRanges]
            low, high = watermarks(consumer, tps, str(params["bootstrap.servers"]))
        finally:
            consumer.close()
        for r, lo, hi in zip(offsetRanges, low, high, strict=True):
            if r.fromOffset < lo or r.untilOffset > hi:
                raise KafkaError(f"{r} is not available on the broker: {r.topic} partition "
                                 f"{r.partition} holds offsets [{lo}, {hi})")
        poll_s = sc.getConf().get_duration_ms(POLL_TIMEOUT, 120_000) / 1000.0
        return KafkaRDD(sc, executor_params(params), list(offsetRanges),
                        Decoding(keyDecoder, valueDecoder, messageHandler), poll_s)


def _check_decoders(sc: Context, operation: str, *functions: Any) -> None:
    """Decoders and the message handler run on the executors: one that cannot be
    shipped fails here, at the user's call (engine/closure_check.py)."""
    if sc._backend.ships_closures:
        for fn in functions:
            closure_check.check(f"KafkaUtils.{operation}", fn)
