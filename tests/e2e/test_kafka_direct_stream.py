"""The direct Kafka stream against a real Apache Kafka broker (see conftest's kafka_broker)."""

from __future__ import annotations

import logging
import operator
import threading
import uuid

import confluent_kafka
import pytest
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic

from fastdstream import DecodeError, StreamingContext, StreamingJobError
from fastdstream.kafka import (
    ConsumerStrategies,
    KafkaError,
    KafkaUtils,
    OffsetRange,
    TopicAndPartition,
)
from fastdstream.sources.kafka.direct_stream import METADATA_REFRESH_INTERVAL, watermarks
from fastdstream.testing import ManualStreaming, wait_until
from fastdstream.testing.kafka_broker import KafkaBroker

pytestmark = pytest.mark.e2e


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def params(broker, group: str | None = None, **extra) -> dict:
    out = {"bootstrap.servers": broker.bootstrap_servers,
           "group.id": group or unique("group"), "auto.offset.reset": "earliest"}
    out.update(extra)
    return out


@pytest.fixture
def streaming(master):
    s = ManualStreaming(master=master)
    yield s
    s.stop()


def test_batches_read_exactly_the_planned_ranges(kafka_broker, streaming) -> None:
    topic = unique("exact")
    kafka_broker.create_topic(topic, partitions=3)
    for p in range(3):
        kafka_broker.produce(topic, [f"p{p}-{i}" for i in range(10)],
                             keys=[f"k{i}" for i in range(10)], partition=p)
    stream = KafkaUtils.createDirectStream(streaming.ssc, [topic], params(kafka_broker))
    batches: list = []
    stream.foreachRDD(lambda rdd: batches.append((rdd.offsetRanges(), sorted(rdd.collect()))))
    streaming.start()
    streaming.run_batches(1)
    ranges, records = batches[0]
    assert sorted(ranges, key=lambda r: r.partition) == [
        OffsetRange(topic, p, 0, 10) for p in range(3)
    ]
    assert records == sorted((f"k{i}", f"p{p}-{i}") for p in range(3) for i in range(10))
    kafka_broker.produce(topic, ["late"], keys=["k"], partition=1)
    streaming.run_batches(2)
    assert batches[1][1] == [("k", "late")]
    assert {(r.partition, r.fromOffset, r.untilOffset) for r in batches[1][0]} == {
        (0, 10, 10), (1, 10, 11), (2, 10, 10)}
    assert batches[2][1] == []
    assert [b.numRecords() for b in streaming.recorder.completed] == [30, 1, 0]


def by_partition(ranges) -> list:
    return sorted(ranges, key=lambda r: (r.topic, r.partition))


def test_each_batch_reports_its_ranges_and_the_checkpoint_keeps_them(
        kafka_broker, streaming, tmp_path) -> None:
    topic = unique("bookkeeping")
    kafka_broker.create_topic(topic, partitions=2)
    kafka_broker.produce(topic, [str(i) for i in range(5)], partition=0)
    stream = KafkaUtils.createDirectStream(streaming.ssc, [topic], params(kafka_broker))
    stream.foreachRDD(lambda rdd: rdd.count())
    streaming.ssc.checkpoint(str(tmp_path))
    streaming.start()
    streaming.run_batches(1)
    kafka_broker.produce(topic, ["x"], partition=1)
    streaming.run_batches(1)
    infos = [b.streamIdToInputInfo()[stream._id] for b in streaming.recorder.completed]
    assert [i.numRecords() for i in infos] == [5, 1]
    assert by_partition(infos[0].metadata()["offsets"]) == [OffsetRange(topic, 0, 0, 5),
                                                          OffsetRange(topic, 1, 0, 0)]
    assert infos[1].metadataDescription() == f"topic: {topic}\tpartition: 1\toffsets: 0 to 1"
    graph = streaming.ssc._graph
    # The stream remembers one batch: after batch 2 s, the checkpoint holds its ranges.
    wait_until(lambda: list(graph.checkpoint_data().get(stream._id, {})) == [2000],
               what="the checkpoint data of batch 2 s")
    assert sorted(graph.checkpoint_data()[stream._id][2000]) == [(topic, 0, 5, 5),
                                                                 (topic, 1, 0, 1)]


def test_restored_offset_ranges_are_read_again_and_the_stream_goes_on(
        master, kafka_broker, tmp_path) -> None:
    topic = unique("restore")
    kafka_broker.create_topic(topic, partitions=1)
    kafka_broker.produce(topic, ["a", "b"], partition=0)
    group = unique("group")  # nothing is committed: only the checkpoint knows the offsets

    def setup(streaming: ManualStreaming, out: list):
        stream = KafkaUtils.createDirectStream(streaming.ssc, [topic],
                                               params(kafka_broker, group))
        stream.foreachRDD(lambda rdd: out.append(sorted(v for _, v in rdd.collect())))
        streaming.ssc.checkpoint(str(tmp_path))
        return stream

    first = ManualStreaming(master=master)
    try:
        stream = setup(first, [])
        first.start()
        first.run_batches(1)
        wait_until(lambda: stream._id in first.ssc._graph.checkpoint_data(),
                   what="the checkpoint data of batch 1 s")
        saved = first.ssc._graph.checkpoint_data()
    finally:
        first.stop()
    assert saved == {stream._id: {1000: [(topic, 0, 0, 2)]}}
    kafka_broker.produce(topic, ["c"], partition=0)

    second = ManualStreaming(master=master)
    out: list = []
    try:
        setup(second, out)
        second.ssc._graph.restore_checkpoint_data(saved)
        second.start()
        second.run_batches(2)
    finally:
        second.stop()
    # Batch 1 s reads its range again; batch 2 s goes on from its end, not from the
    # group's (absent) commit, which would read a and b a second time.
    assert out == [["a", "b"], ["c"]]


def test_max_rate_per_partition_caps_each_batch(master, kafka_broker) -> None:
    topic = unique("rate")
    kafka_broker.create_topic(topic, partitions=2)
    for p in range(2):
        kafka_broker.produce(topic, [str(i) for i in range(10)], partition=p)
    streaming = ManualStreaming(master=master,
                                conf={"spark.streaming.kafka.maxRatePerPartition": "4"})
    try:
        stream = KafkaUtils.createDirectStream(streaming.ssc, [topic], params(kafka_broker))
        sizes: list = []
        stream.foreachRDD(lambda rdd: sizes.append(sorted(r.count() for r in rdd.offsetRanges())))
        streaming.start()
        streaming.run_batches(4)
    finally:
        streaming.stop()
    assert sizes == [[4, 4], [4, 4], [2, 2], [0, 0]]


def test_commit_async_commits_and_a_new_stream_resumes_there(master, kafka_broker) -> None:
    topic, group = unique("commit"), unique("group")
    kafka_broker.create_topic(topic, partitions=2)
    kafka_broker.produce(topic, [str(i) for i in range(6)], partition=0)
    kafka_broker.produce(topic, [str(i) for i in range(4)], partition=1)
    outcomes: list = []
    done = threading.Event()

    def run(expect_batches: int) -> list:
        streaming = ManualStreaming(master=master)
        seen: list = []
        try:
            stream = KafkaUtils.createDirectStream(streaming.ssc, [topic],
                                                   params(kafka_broker, group))

            def output(rdd):
                seen.extend(v for _, v in rdd.collect())
                stream.commitAsync(rdd.offsetRanges(),
                                   lambda ranges, err: (outcomes.append(err), done.set()))

            stream.foreachRDD(output)
            streaming.start()
            streaming.run_batches(expect_batches)
        finally:
            streaming.stop()  # flushes queued commits before returning
        return seen

    first = run(1)
    assert sorted(first) == sorted([str(i) for i in range(6)] + [str(i) for i in range(4)])
    assert outcomes and all(err is None for err in outcomes)
    assert kafka_broker.committed(group, topic, 2) == [6, 4]
    kafka_broker.produce(topic, ["new"], partition=1)
    assert run(1) == ["new"]  # resumed from the committed offsets: nothing twice
    assert kafka_broker.committed(group, topic, 2) == [6, 5]


def test_stop_flushes_the_last_batch_commit(master, kafka_broker) -> None:
    """SPARK-20050: the commit queued by the last batch is not lost on stop."""
    topic, group = unique("flush"), unique("group")
    kafka_broker.create_topic(topic)
    kafka_broker.produce(topic, ["a", "b", "c"])
    streaming = ManualStreaming(master=master)
    stream = KafkaUtils.createDirectStream(streaming.ssc, [topic], params(kafka_broker, group))
    stream.foreachRDD(lambda rdd: stream.commitAsync(rdd.offsetRanges()))
    streaming.start()
    streaming.run_batches(1)
    streaming.stop()
    assert kafka_broker.committed(group, topic, 1) == [3]


def test_a_commit_callback_may_stop_the_streaming_context(master, kafka_broker) -> None:
    """The callback runs on the committer's thread, which the stop then stops."""
    topic, group = unique("stopcb"), unique("group")
    kafka_broker.create_topic(topic)
    kafka_broker.produce(topic, ["a"])
    streaming = ManualStreaming(master=master)
    ssc = streaming.ssc
    stream = KafkaUtils.createDirectStream(ssc, [topic], params(kafka_broker, group))
    stream.foreachRDD(lambda rdd: stream.commitAsync(
        rdd.offsetRanges(), lambda ranges, err: ssc.stop(stopSparkContext=False)))
    try:
        streaming.start()
        streaming.run_batches(1)
        assert ssc.awaitTerminationOrTimeout(10)
        assert StreamingContext.getActive() is None
        assert kafka_broker.committed(group, topic, 1) == [1]
    finally:
        streaming.stop()


def test_from_offsets_overrides_committed_and_reset(kafka_broker, streaming) -> None:
    topic = unique("from")
    kafka_broker.create_topic(topic)
    kafka_broker.produce(topic, [str(i) for i in range(10)])
    stream = KafkaUtils.createDirectStream(
        streaming.ssc, [topic], params(kafka_broker),
        fromOffsets={TopicAndPartition(topic, 0): 7})
    seen: list = []
    stream.foreachRDD(lambda rdd: seen.extend(v for _, v in rdd.collect()))
    streaming.start()
    streaming.run_batches(1)
    assert seen == ["7", "8", "9"]


def test_latest_reset_skips_what_was_there(kafka_broker, streaming) -> None:
    topic = unique("latest")
    kafka_broker.create_topic(topic)
    kafka_broker.produce(topic, ["old"])
    stream = KafkaUtils.createDirectStream(
        streaming.ssc, [topic], params(kafka_broker, **{"auto.offset.reset": "latest"}))
    seen: list = []
    stream.foreachRDD(lambda rdd: seen.extend(v for _, v in rdd.collect()))
    streaming.start()
    kafka_broker.produce(topic, ["new"])
    streaming.run_batches(1)
    assert seen == ["new"]


def test_offset_ranges_survive_transformations(kafka_broker, streaming) -> None:
    topic = unique("derived")
    kafka_broker.create_topic(topic, partitions=2)
    kafka_broker.produce(topic, ["a b", "b"], partition=0)
    kafka_broker.produce(topic, ["c"], partition=1)
    stream = KafkaUtils.createDirectStream(streaming.ssc, [topic], params(kafka_broker))
    counts = stream.map(operator.itemgetter(1)).flatMap(str.split).countByValue()
    got: list = []
    counts.foreachRDD(lambda rdd: got.append((sorted(rdd.collect()), rdd.offsetRanges())))
    streaming.start()
    streaming.run_batches(1)
    words, ranges = got[0]
    assert words == [("a", 1), ("b", 2), ("c", 1)]
    assert sorted((r.partition, r.fromOffset, r.untilOffset) for r in ranges) == [
        (0, 0, 2), (1, 0, 1)]


def test_columnar_word_count_equals_lambda_word_count(kafka_broker, streaming) -> None:
    topic = unique("words")
    kafka_broker.create_topic(topic, partitions=2)
    lines = ["to be or not to be", "that is the question", "", "ünïcode ü"]
    kafka_broker.produce(topic, lines, partition=0)
    kafka_broker.produce(topic, lines[::-1], partition=1)
    stream = KafkaUtils.createDirectStream(streaming.ssc, [topic], params(kafka_broker))
    columnar = stream.map(operator.itemgetter(1)).flatMap(str.split).countByValue()
    lambdas = (stream.flatMap(lambda kv: kv[1].split(" "))
               .filter(lambda w: w).map(lambda w: (w, 1)).reduceByKey(operator.add))
    kinds: list = []
    out: dict = {"c": [], "l": []}
    columnar.foreachRDD(lambda rdd: (out["c"].append(sorted(rdd.collect())),
                                     kinds.append(rdd._run(lambda _, d: type(d).__name__))))
    lambdas.foreachRDD(lambda rdd: out["l"].append(sorted(rdd.collect())))
    streaming.start()
    streaming.run_batches(1)
    assert out["c"] == out["l"]
    assert dict(out["c"][0])["be"] == 4
    assert set(kinds[0]) == {"Table"}


def test_message_handler_and_custom_decoders(kafka_broker, streaming) -> None:
    topic = unique("handler")
    kafka_broker.create_topic(topic)
    kafka_broker.produce(topic, ["x", "y"], keys=["1", "2"])
    handled = KafkaUtils.createDirectStream(
        streaming.ssc, [topic], params(kafka_broker),
        messageHandler=lambda m: (m.topic, m.partition, m.offset, m.key, m.message))
    raw = KafkaUtils.createDirectStream(streaming.ssc, [topic], params(kafka_broker),
                                        keyDecoder=None, valueDecoder=None)
    custom = KafkaUtils.createDirectStream(streaming.ssc, [topic], params(kafka_broker),
                                           keyDecoder=lambda b: int(b), valueDecoder=bytes.upper)
    got: dict = {}
    handled.foreachRDD(lambda rdd: got.setdefault("handled", rdd.collect()))
    raw.foreachRDD(lambda rdd: got.setdefault("raw", rdd.collect()))
    custom.foreachRDD(lambda rdd: got.setdefault("custom", rdd.collect()))
    streaming.start()
    streaming.run_batches(1)
    assert got["handled"] == [(topic, 0, 0, "1", "x"), (topic, 0, 1, "2", "y")]
    assert got["raw"] == [(b"1", b"x"), (b"2", b"y")]
    assert got["custom"] == [(1, b"X"), (2, b"Y")]


def test_consumer_strategies(kafka_broker, streaming) -> None:
    prefix = unique("pat")
    for suffix in ("a", "b"):
        kafka_broker.create_topic(f"{prefix}-{suffix}", partitions=2)
        kafka_broker.produce(f"{prefix}-{suffix}", [suffix], partition=1)
    pattern = KafkaUtils.createDirectStream(
        streaming.ssc, ConsumerStrategies.SubscribePattern(f"{prefix}-.*"), params(kafka_broker))
    assign = KafkaUtils.createDirectStream(
        streaming.ssc,
        ConsumerStrategies.Assign([(f"{prefix}-b", 1)], {(f"{prefix}-b", 1): 0}),
        params(kafka_broker))
    got: dict = {}
    pattern.foreachRDD(lambda rdd: got.setdefault("pattern", sorted(rdd.collect())))
    assign.foreachRDD(lambda rdd: got.setdefault("assign", (rdd.collect(), rdd.offsetRanges())))
    streaming.start()
    streaming.run_batches(1)
    assert got["pattern"] == [(None, "a"), (None, "b")]
    values, ranges = got["assign"]
    assert values == [(None, "b")] and ranges == [OffsetRange(f"{prefix}-b", 1, 0, 1)]


def test_new_partitions_of_a_subscribed_topic_are_picked_up(kafka_broker, streaming) -> None:
    topic = unique("grow")
    kafka_broker.create_topic(topic, partitions=1)
    stream = KafkaUtils.createDirectStream(streaming.ssc, [topic], params(kafka_broker))
    seen: list = []
    stream.foreachRDD(lambda rdd: seen.append(sorted(rdd.collect())))
    streaming.start()
    streaming.run_batches(1)
    admin = AdminClient({"bootstrap.servers": kafka_broker.bootstrap_servers})
    for future in admin.create_partitions([NewPartitions(topic, 2)]).values():
        future.result(timeout=30)
    kafka_broker.produce(topic, ["in the new partition"], partition=1)
    streaming.run_batches(1)
    assert seen == [[], [(None, "in the new partition")]]


def test_partitions_added_while_running_are_read_from_their_beginning(
        kafka_broker, streaming, reliability) -> None:
    # With auto.offset.reset=latest, Spark starts a new partition at its end: what was
    # written to it before the stream noticed it was skipped. Here it is read.
    topic = unique("grow-latest")
    kafka_broker.create_topic(topic, partitions=1)
    kafka_broker.produce(topic, ["before the start"], partition=0)
    stream = KafkaUtils.createDirectStream(
        streaming.ssc, [topic], params(kafka_broker, **{"auto.offset.reset": "latest"}))
    seen: list = []
    stream.foreachRDD(lambda rdd: seen.append(sorted(v for _, v in rdd.collect())))
    streaming.start()
    streaming.run_batches(1)
    admin = AdminClient({"bootstrap.servers": kafka_broker.bootstrap_servers})
    for future in admin.create_partitions([NewPartitions(topic, 3)]).values():
        future.result(timeout=30)
    for p in (1, 2):
        kafka_broker.produce(topic, [f"p{p}-{i}" for i in range(50)], partition=p)
    kafka_broker.produce(topic, ["after"], partition=0)
    streaming.run_batches(1)
    added = [f"p{p}-{i}" for p in (1, 2) for i in range(50)]
    reliability.record(
        "2 partitions added to the topic while the stream runs (auto.offset.reset=latest)",
        "the new partitions are read from their beginning", written_to_new_partitions=len(
            added), read=len(set(added) & set(seen[1])), skipped=len(set(added) - set(seen[1])))
    assert seen[0] == []  # latest: what was there at the start is skipped, as asked
    assert seen[1] == sorted(["after", *added])


def test_a_missing_topic_is_warned_about_and_read_once_created(
        kafka_broker, streaming, caplog) -> None:
    caplog.set_level(logging.INFO, logger="fastdstream.sources.kafka.direct_stream")
    topic = unique("missing")
    stream = KafkaUtils.createDirectStream(
        streaming.ssc, [topic], params(kafka_broker, **{"auto.offset.reset": "latest"}))
    seen: list = []
    stream.foreachRDD(lambda rdd: seen.append([v for _, v in rdd.collect()]))
    streaming.start()

    def warnings() -> list[str]:
        return [r.getMessage() for r in caplog.records
                if r.levelno == logging.WARNING and topic in r.getMessage()]

    assert len(warnings()) == 1
    assert f"topic {topic!r} does not exist on {kafka_broker.bootstrap_servers}" \
        in warnings()[0]
    assert "allow.auto.create.topics is false" in warnings()[0]
    streaming.run_batches(2)
    assert len(warnings()) == 1  # throttled: once a minute by default
    assert seen == [[], []]

    kafka_broker.create_topic(topic)
    kafka_broker.produce(topic, ["first"])  # before the stream sees the topic
    streaming.run_batches(1)
    assert seen[-1] == ["first"]  # a topic that appeared after the start: from its beginning
    assert any(f"topic {topic!r} now exists" in r.getMessage() for r in caplog.records)


def test_a_missing_topic_is_warned_about_at_each_interval(master, kafka_broker, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="fastdstream.sources.kafka.direct_stream")
    streaming = ManualStreaming(master=master,
                                conf={"fastdstream.kafka.missingTopicWarnInterval": "0ms"})
    try:
        topic, prefix = unique("missing"), unique("nomatch")
        KafkaUtils.createDirectStream(
            streaming.ssc, [topic],
            params(kafka_broker, **{"allow.auto.create.topics": "true"})
        ).foreachRDD(lambda rdd: None)
        KafkaUtils.createDirectStream(
            streaming.ssc, ConsumerStrategies.SubscribePattern(f"{prefix}-.*"),
            params(kafka_broker)).foreachRDD(lambda rdd: None)
        streaming.start()
        streaming.run_batches(2)
    finally:
        streaming.stop()
    messages = [r.getMessage() for r in caplog.records]
    named = [m for m in messages if f"topic {topic!r} does not exist" in m]
    assert len(named) == 3  # at the start and at each of the two batches
    # The session broker has auto.create.topics.enable=false: the request was refused.
    assert "although allow.auto.create.topics=true" in named[0]
    assert len([m for m in messages if f"any topic matching '{prefix}-.*'" in m]) == 3


def test_allow_auto_create_topics_creates_a_missing_topic(master) -> None:
    with KafkaBroker({"auto.create.topics.enable": "true"}) as broker:
        streaming = ManualStreaming(master=master)
        try:
            topic = unique("autocreated")
            stream = KafkaUtils.createDirectStream(
                streaming.ssc, [topic],
                params(broker, **{"allow.auto.create.topics": "true"}))
            seen: list = []
            stream.foreachRDD(lambda rdd: seen.extend(v for _, v in rdd.collect()))
            streaming.start()
            wait_until(lambda: topic in broker.topics(), timeout=20,
                       what="the broker to create the topic the stream asked for")
            broker.produce(topic, ["x"])
            streaming.run_batches(1)
        finally:
            streaming.stop()
    assert seen == ["x"]


def test_undecodable_value_names_topic_partition_offset(kafka_broker, streaming) -> None:
    topic = unique("badutf8")
    kafka_broker.create_topic(topic)
    kafka_broker.produce(topic, [b"fine", b"bad \xff"])
    stream = KafkaUtils.createDirectStream(streaming.ssc, [topic], params(kafka_broker))
    stream.foreachRDD(lambda rdd: rdd.collect())
    streaming.start()
    streaming.run_batches(1)
    with pytest.raises(StreamingJobError) as info:
        streaming.ssc.awaitTerminationOrTimeout(1)
    assert isinstance(info.value.__cause__, DecodeError)
    assert f"{topic}/0/offset 1" in str(info.value)


def test_deleted_records_honour_auto_offset_reset(master, kafka_broker) -> None:
    """Retention removed what the stream was about to read: reset, or a clear error."""
    from confluent_kafka.admin import AdminClient as Admin

    topic = unique("retention")
    kafka_broker.create_topic(topic)
    kafka_broker.produce(topic, [str(i) for i in range(10)])
    admin = Admin({"bootstrap.servers": kafka_broker.bootstrap_servers})
    delete = admin.delete_records([confluent_kafka.TopicPartition(topic, 0, 6)])
    for future in delete.values():
        future.result(timeout=30)
    start = {TopicAndPartition(topic, 0): 2}

    earliest = ManualStreaming(master=master)
    try:
        stream = KafkaUtils.createDirectStream(earliest.ssc, [topic], params(kafka_broker),
                                               fromOffsets=start)
        seen: list = []
        stream.foreachRDD(lambda rdd: seen.extend(v for _, v in rdd.collect()))
        earliest.start()
        earliest.run_batches(1)
        assert seen == ["6", "7", "8", "9"]
    finally:
        earliest.stop()

    strict = ManualStreaming(master=master)
    try:
        stream = KafkaUtils.createDirectStream(
            strict.ssc, [topic], params(kafka_broker, **{"auto.offset.reset": "none"}),
            fromOffsets=start)
        stream.foreachRDD(lambda rdd: rdd.count())
        strict.start()
        strict.clock.advance(strict.batch_ms)
        # Planning the batch fails its output's job: reported with the batch time.
        with pytest.raises(StreamingJobError,
                           match=rf"offset 2 of {topic}-0 is out of range \[6, 10\]") as info:
            strict.ssc.awaitTerminationOrTimeout(10)
        assert isinstance(info.value.__cause__, KafkaError)
        assert info.value.batch_time_ms == strict.batch_ms
    finally:
        strict.stop()


def test_offsets_of_all_partitions_are_asked_at_once(kafka_broker) -> None:
    """Each partition gets its own earliest and latest offset, in the order asked, from
    one request per kind for all partitions (issue 8: two requests per partition and
    batch were most of a 10 ms batch)."""
    topic = unique("watermarks")
    kafka_broker.create_topic(topic, partitions=3)
    kafka_broker.produce(topic, ["a", "b", "c"], partition=0)
    kafka_broker.produce(topic, ["d"], partition=2)
    admin = AdminClient({"bootstrap.servers": kafka_broker.bootstrap_servers})
    for future in admin.delete_records([confluent_kafka.TopicPartition(topic, 0, 2)]).values():
        future.result(timeout=30)
    consumer = confluent_kafka.Consumer({"bootstrap.servers": kafka_broker.bootstrap_servers,
                                         "group.id": unique("group")})
    try:
        low, high = watermarks(consumer, [TopicAndPartition(topic, p) for p in (2, 0, 1)],
                               kafka_broker.bootstrap_servers)
    finally:
        consumer.close()
    assert (low.tolist(), high.tolist()) == ([0, 2, 0], [1, 3, 0])


def test_offsets_of_a_topic_created_a_moment_ago(kafka_broker) -> None:
    """Right after a topic is created its partitions may have no leader yet ("not
    leader"): the offsets query waits for one instead of failing the stream's start."""
    topic = unique("fresh")
    admin = AdminClient({"bootstrap.servers": kafka_broker.bootstrap_servers})
    for future in admin.create_topics([NewTopic(topic, 4, 1)]).values():
        future.result(timeout=30)
    consumer = confluent_kafka.Consumer({"bootstrap.servers": kafka_broker.bootstrap_servers,
                                         "group.id": unique("group")})
    try:
        low, high = watermarks(consumer, [TopicAndPartition(topic, p) for p in range(4)],
                               kafka_broker.bootstrap_servers)
    finally:
        consumer.close()
    assert (low.tolist(), high.tolist()) == ([0] * 4, [0] * 4)


def test_small_batches_look_partitions_up_once_per_refresh_interval(
        master, kafka_broker) -> None:
    """Below metadataRefreshInterval (of batch time) a batch asks only where the known
    partitions end; a new partition is read from the next lookup on, and a deleted
    topic fails a batch with its clear error (at once when the broker refuses the
    offsets query, else at the next lookup)."""
    streaming = ManualStreaming(batch_seconds=0.01, master=master,
                                conf={METADATA_REFRESH_INTERVAL: "50ms"})
    try:
        topic = unique("refresh")
        kafka_broker.create_topic(topic)
        stream = KafkaUtils.createDirectStream(streaming.ssc, [topic], params(kafka_broker))
        seen: list = []
        stream.foreachRDD(lambda rdd: seen.append(sorted(v for _, v in rdd.collect())))
        streaming.start()
        streaming.run_batches(1)  # batch 10 ms: partitions looked up
        admin = AdminClient({"bootstrap.servers": kafka_broker.bootstrap_servers})
        for future in admin.create_partitions([NewPartitions(topic, 2)]).values():
            future.result(timeout=30)
        kafka_broker.produce(topic, ["old"], partition=0)
        kafka_broker.produce(topic, ["new"], partition=1)
        streaming.run_batches(4)  # batches 20-50 ms: within 50 ms of the lookup
        assert [v for batch in seen for v in batch] == ["old"]
        streaming.run_batches(1)  # batch 60 ms: looked up again
        assert seen[-1] == ["new"]

        kafka_broker.delete_topic(topic)
        # A broker may still answer offsets of a partition being deleted: by the next
        # lookup (110 ms) at the latest, the batch fails with the clear error.
        streaming.clock.advance(streaming.batch_ms * 5)
        with pytest.raises(StreamingJobError, match=rf"topic {topic} partition 0 no longer "
                                                    "exists"):
            streaming.ssc.awaitTerminationOrTimeout(30)
    finally:
        streaming.stop()


def test_partitions_are_looked_up_after_a_batch_is_submitted_not_when_the_next_is_due(
        kafka_broker) -> None:
    """The lookup of which partitions there are (two requests more than the batch's
    own offsets request) is made once a batch is submitted, for the next batch whose
    time is due for one: the batch between its time and its jobs asks only where the
    partitions end (issue 8: one batch in ten at 10 ms batches waited for the lookup)."""
    streaming = ManualStreaming(batch_seconds=0.01, conf={METADATA_REFRESH_INTERVAL: "50ms"})
    try:
        topic = unique("lookup")
        kafka_broker.create_topic(topic)
        stream = KafkaUtils.createDirectStream(streaming.ssc, [topic], params(kafka_broker))
        counts: list[int] = []
        stream.foreachRDD(lambda rdd: counts.append(rdd.count()))
        streaming.start()
        first = streaming.batch_ms
        streaming.run_batches(1)  # the first batch looks up itself
        assert stream._metadata_time == first
        streaming.run_batches(4)  # after the 4th of these the 6th batch is due for one
        wait_until(lambda: stream._metadata_time == first + 5 * streaming.batch_ms,
                   timeout=30)
        kafka_broker.produce(topic, ["x"])
        streaming.run_batches(1)  # the 6th batch: its lookup was made; only offsets
        assert stream._metadata_time == first + 5 * streaming.batch_ms
        assert counts == [0, 0, 0, 0, 0, 1]
    finally:
        streaming.stop()


def test_a_batch_is_planned_outside_the_stream_lock_from_offsets_asked_first(
        kafka_broker, streaming) -> None:
    """The job thread holds a stream's lock to forget old batches: asking the brokers
    where the next batch ends must neither wait for it nor make it wait (issue 8: at
    10 ms batches the job queue never drained). The batch then reads up to where the
    partitions ended when they were asked."""
    topic = unique("prepared")
    kafka_broker.create_topic(topic)
    kafka_broker.produce(topic, ["before"])
    stream = KafkaUtils.createDirectStream(streaming.ssc, [topic], params(kafka_broker))
    stream.foreachRDD(lambda rdd: rdd.count())
    streaming.start()
    first = streaming.batch_ms
    asked = threading.Event()
    with stream._generated_lock:  # as the job thread holds it, forgetting old batches
        worker = threading.Thread(target=lambda: (stream.prepare_batch(first), asked.set()))
        worker.start()
        assert asked.wait(30), "asking the latest offsets waited for the stream's lock"
    worker.join()
    kafka_broker.produce(topic, ["after"])
    rdd = stream._get_or_compute(first)
    assert [(r.fromOffset, r.untilOffset) for r in rdd.offsetRanges()] == [(0, 1)]


def test_topic_deleted_while_running_is_a_clear_error(kafka_broker, streaming) -> None:
    topic = unique("deleted")
    kafka_broker.create_topic(topic)
    kafka_broker.produce(topic, ["x"])
    stream = KafkaUtils.createDirectStream(streaming.ssc, [topic], params(kafka_broker))
    stream.foreachRDD(lambda rdd: rdd.count())
    streaming.start()
    streaming.run_batches(1)
    kafka_broker.delete_topic(topic)
    streaming.clock.advance(streaming.batch_ms)
    with pytest.raises(StreamingJobError,
                       match=rf"topic {topic} partition 0 no longer exists") as info:
        streaming.ssc.awaitTerminationOrTimeout(30)
    assert isinstance(info.value.__cause__, KafkaError)


def test_unreachable_bootstrap_servers_fail_at_start(streaming) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    stream = KafkaUtils.createDirectStream(
        streaming.ssc, ["t"], {"bootstrap.servers": f"127.0.0.1:{port}", "group.id": "g"})
    stream.foreachRDD(lambda rdd: None)
    with pytest.raises(KafkaError, match=rf"cannot reach Kafka at 127.0.0.1:{port}"):
        streaming.start()


def test_create_rdd_reads_given_ranges(kafka_broker, sc) -> None:
    topic = unique("rdd")
    kafka_broker.create_topic(topic)
    kafka_broker.produce(topic, [str(i) for i in range(5)])
    rdd = KafkaUtils.createRDD(sc, {"bootstrap.servers": kafka_broker.bootstrap_servers},
                               [OffsetRange(topic, 0, 1, 4)])
    assert rdd.collect() == [(None, "1"), (None, "2"), (None, "3")]
    assert rdd.offsetRanges() == [OffsetRange(topic, 0, 1, 4)]
    with pytest.raises(KafkaError, match="holds offsets \\[0, 5\\)"):
        KafkaUtils.createRDD(sc, {"bootstrap.servers": kafka_broker.bootstrap_servers},
                             [OffsetRange(topic, 0, 3, 9)])


def test_missing_group_id_is_refused(kafka_broker, streaming) -> None:
    with pytest.raises(ValueError, match=r"group\.id"):
        KafkaUtils.createDirectStream(streaming.ssc, ["t"],
                                      {"bootstrap.servers": kafka_broker.bootstrap_servers})


def test_backpressure_shares_the_rate_out_by_lag(master, kafka_broker) -> None:
    topic = unique("backpressure")
    kafka_broker.create_topic(topic, partitions=2)
    kafka_broker.produce(topic, [str(i) for i in range(30)], partition=0)
    kafka_broker.produce(topic, [str(i) for i in range(10)], partition=1)
    streaming = ManualStreaming(master=master, conf={"spark.streaming.backpressure.enabled": "true",
                                      "spark.streaming.backpressure.initialRate": "20"})
    try:
        stream = KafkaUtils.createDirectStream(streaming.ssc, [topic], params(kafka_broker))
        sizes: list = []
        stream.foreachRDD(lambda rdd: sizes.append(
            sorted((r.partition, r.count()) for r in rdd.offsetRanges())))
        streaming.start()
        streaming.run_batches(1)
    finally:
        streaming.stop()
    # 20 records/s for a 1 s batch, shared 30:10 by lag (the manual clock measures no
    # processing time, so the initial rate is what holds)
    assert sizes == [[(0, 15), (1, 5)]]


def test_executor_consumers_are_executor_state_and_close_with_it(kafka_broker) -> None:
    from fastdstream import Context
    from fastdstream.sources.kafka import kafka_rdd

    topic = unique("close")
    kafka_broker.create_topic(topic)
    kafka_broker.produce(topic, ["x"])
    sc = Context("local[2]")
    executor = sc._backend.executor
    KafkaUtils.createRDD(sc, {"bootstrap.servers": kafka_broker.bootstrap_servers},
                         [OffsetRange(topic, 0, 0, 1)]).collect()
    (key,) = [k for k in executor.state_keys() if k[0] == kafka_rdd.CONSUMER_STATE]
    cache = executor.state(key, lambda: None)
    assert cache.partitions() == [(topic, 0)]
    sc.stop()
    assert executor.state_keys() == []
    assert len(cache) == 0  # closed by the executor's stop
    with pytest.raises(kafka_rdd.KafkaReadError, match="closed"):
        cache.read(OffsetRange(topic, 0, 0, 1), 1.0)


def _consumer_of_this_partition(split: int, rows: object) -> object:
    """(executor, Kafka partition, id of the consumer that read it) -- run right after
    the read, in the same task."""
    from fastdstream.engine.backend.task_context import TaskContext
    from fastdstream.sources.kafka import kafka_rdd

    tc = TaskContext.get()
    assert tc is not None
    (key,) = [k for k in tc.executor.state_keys() if k[0] == kafka_rdd.CONSUMER_STATE]
    cache = tc.executor_state(key, list)
    partition = split  # the ranges below are in partition order
    yield (tc.executor.executor_id, partition,
           id(cache._consumers[(next(iter(cache.partitions()))[0], partition)]))


def test_executor_consumers_are_reused_batch_after_batch(master, kafka_broker) -> None:
    from fastdstream import Context

    topic = unique("reuse")
    kafka_broker.create_topic(topic, partitions=4)
    for p in range(4):
        kafka_broker.produce(topic, ["a", "b", "c"], partition=p)
    sc = Context(master)
    try:
        servers = {"bootstrap.servers": kafka_broker.bootstrap_servers}
        seen = []
        for start in (0, 1, 2):  # three "batches" over the same partitions
            ranges = [OffsetRange(topic, p, start, start + 1) for p in range(4)]
            rdd = KafkaUtils.createRDD(sc, servers, ranges)
            assert sorted(rdd.collect()) == [(None, "abc"[start])] * 4
            seen.append(sorted(rdd.mapPartitionsWithIndex(_consumer_of_this_partition)
                               .collect()))
        # the same executor reads a Kafka partition with the same consumer, batch after
        # batch (on local-cluster: each worker its own two partitions)
        assert seen[0] == seen[1] == seen[2]
        executors = {e for e, _, _ in seen[0]}
        if master.startswith("local-cluster"):
            assert len(executors) == 2
            assert sorted(sum(1 for e, _, _ in seen[0] if e == x) for x in executors) == [2, 2]
    finally:
        sc.stop()


def test_a_backlog_is_read_over_several_batches_within_the_byte_budget(
        master, kafka_broker) -> None:
    topic = unique("budget")
    kafka_broker.create_topic(topic, partitions=2)
    for p in range(2):  # 60 records of 1000+ value bytes per partition: ~125 kB
        kafka_broker.produce(topic, [f"{p}-{i:03d}-" + "x" * 994 for i in range(60)],
                             partition=p)
    budget = 32 * 1024
    streaming = ManualStreaming(master=master,
                                conf={"fastdstream.kafka.maxBytesPerBatch": str(budget)})
    try:
        stream = KafkaUtils.createDirectStream(streaming.ssc, [topic], params(kafka_broker))
        batches: list = []
        stream.map(operator.itemgetter(1)).foreachRDD(lambda rdd: batches.append(rdd.collect()))
        streaming.start()
        streaming.run_batches(8)
        estimates = dict(stream._bytes_per_record)
    finally:
        streaming.stop()
    sizes = [len(b) for b in batches]
    # each batch within the budget (a record is > 1000 bytes as Arrow), the backlog
    # spread over several batches, nothing lost, nothing twice, each partition in order
    assert all(n * 1000 <= budget for n in sizes), sizes
    assert sum(1 for n in sizes if n) >= 4, sizes
    everything = [v for b in batches for v in b]
    assert len(everything) == 120
    for p in range(2):
        assert [v[:6] for v in everything if v.startswith(f"{p}-")] == [
            f"{p}-{i:03d}-" for i in range(60)]
    # what the reads measured is what the next batches plan with
    assert set(estimates) == {TopicAndPartition(topic, 0), TopicAndPartition(topic, 1)}
    assert all(1000 < e < 1100 for e in estimates.values()), estimates


def test_a_zero_byte_budget_reads_the_whole_backlog_at_once(kafka_broker, streaming) -> None:
    topic = unique("nobudget")
    kafka_broker.create_topic(topic)
    kafka_broker.produce(topic, ["x" * 1000] * 50)
    streaming.ssc.sparkContext.getConf().set("fastdstream.kafka.maxBytesPerBatch", "0")
    stream = KafkaUtils.createDirectStream(streaming.ssc, [topic], params(kafka_broker))
    sizes: list = []
    stream.foreachRDD(lambda rdd: sizes.append(rdd.count()))
    streaming.start()
    streaming.run_batches(1)
    assert sizes == [50]


def test_the_byte_budget_learns_record_sizes_from_the_batches_read(
        kafka_broker, streaming) -> None:
    topic = unique("learn")
    kafka_broker.create_topic(topic)
    budget = 32 * 1024
    streaming.ssc.sparkContext.getConf().set("fastdstream.kafka.maxBytesPerBatch", str(budget))
    stream = KafkaUtils.createDirectStream(streaming.ssc, [topic], params(kafka_broker))
    sizes: list = []
    stream.foreachRDD(lambda rdd: sizes.append(rdd.count()))
    kafka_broker.produce(topic, ["s" * 100] * 40)
    streaming.start()
    streaming.run_batches(1)  # small records: all 40 fit
    kafka_broker.produce(topic, ["L" * 2000] * 100)
    # planned with the small records' size (the only one known), it reads them all and
    # learns theirs; from then on the batches keep within the budget
    streaming.run_batches(1)
    kafka_broker.produce(topic, ["L" * 2000] * 100)
    streaming.run_batches(8)
    assert sizes[:2] == [40, 100]
    assert sum(sizes[2:]) == 100
    assert all(n * 2000 <= budget for n in sizes[2:]), sizes
    assert sum(1 for n in sizes[2:] if n) >= 6, sizes
