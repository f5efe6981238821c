"""DStream.explain / toDebugString: each batch's pipeline back to the input streams."""

from __future__ import annotations

import operator

import pyarrow as pa

from fastdstream.kafka import KafkaUtils
from fastdstream.testing import ManualStreaming

SPLIT = "flatMap(str.split) columnar when one string column, no nulls; else rows"
LOWER = "map(str.lower) columnar when one string column, no nulls, ASCII only; else rows"
COUNT = ("countByValue() columnar when one column of string, binary or integer values; "
         "else rows")


def test_columnar_word_count(manual: ManualStreaming) -> None:
    counts = manual.ssc.queueStream([["a b"]]).flatMap(str.split).map(str.lower).countByValue()
    assert counts.explain().splitlines() == [
        f"TransformedDStream[3] {COUNT}",
        f" |  TransformedDStream[2] {LOWER}",
        f" |  TransformedDStream[1] {SPLIT}",
        " |  QueueInputDStream[0] input",
    ]
    assert counts.toDebugString() == counts.explain().encode("utf-8")


def test_lambda_word_count_says_where_rows_begin(manual: ManualStreaming) -> None:
    counts = (manual.ssc.queueStream([["a b"]]).flatMap(str.split)
              .map(lambda w: (w, 1)).reduceByKey(operator.add))
    assert counts.explain().splitlines()[:2] == [
        "TransformedDStream[3] reduceByKey(operator.add) rows: its input is Python rows "
        "(from map(<lambda>))",
        " |  TransformedDStream[2] map(<lambda>) rows: not a registered function for map",
    ]


def test_several_inputs_branch(manual: ManualStreaming) -> None:
    ssc = manual.ssc
    left = ssc.queueStream([[("a", 1)]])
    right = ssc.queueStream([["a"]]).map(str.upper).countByValue()
    joined = left.join(right).mapValues(sum)
    assert joined.explain().splitlines() == [
        "TransformedDStream[5] mapValues rows: Python code over rows",
        " |  TransformedDStream[4] join rows: Python code over rows",
        " +- QueueInputDStream[0] input",
        f" +- TransformedDStream[3] {COUNT}",
        "     |  TransformedDStream[2] map(str.upper) columnar when one string column, no "
        "nulls, ASCII only; else rows",
        "     |  QueueInputDStream[1] input",
    ]
    union = ssc.union(left, ssc.queueStream([[1]])).count()
    assert union.explain().splitlines() == [
        "TransformedDStream[8] count rows: a count per partition, tables counted without rows",
        " |  UnionDStream[7] union",
        " +- QueueInputDStream[0] input",
        " +- QueueInputDStream[6] input",
    ]


def test_an_rdd_function_is_opaque_until_a_batch_runs(manual: ManualStreaming) -> None:
    def first_column(rdd):
        return rdd.map(operator.itemgetter(0))

    stream = manual.ssc.queueStream([["a"]]).transform(first_column).map(str.lower)
    assert stream.explain().splitlines()[:2] == [
        f"TransformedDStream[2] {LOWER}",
        " |  TransformedDStream[1] transform(first_column): an RDD function; each batch's "
        "RDD.explain() shows its steps",
    ]


def test_stream_explain_matches_its_batches_rdd_explain(manual: ManualStreaming) -> None:
    ssc = manual.ssc
    table = ssc.sparkContext.parallelize(pa.table({"value": ["A b", "c"]}), 2)
    counts = ssc.queueStream([table]).flatMap(str.split).map(str.lower).countByValue()
    batches: list = []
    counts.foreachRDD(lambda rdd: batches.append(rdd.explain()))
    manual.start()
    manual.run_batches(1)
    rdd_lines = batches[0]
    for line in counts.explain().splitlines()[:3]:
        step = line.split("] ", 1)[1]  # the stream's step, without the stream's name
        assert step in rdd_lines
    assert rdd_lines.splitlines()[-1].endswith("ParallelCollectionRDD[0] Arrow tables")


def test_kafka_direct_stream_says_how_it_decodes(manual: ManualStreaming) -> None:
    # Building the stream does not connect: the explain needs no broker.
    stream = KafkaUtils.createDirectStream(
        manual.ssc, ["lines"], {"bootstrap.servers": "127.0.0.1:1", "group.id": "g"},
        keyDecoder=None)
    values = stream.map(operator.itemgetter(1)).flatMap(str.split)
    lines = values.explain().splitlines()
    assert lines[-1] == (
        " |  DirectKafkaInputDStream[0] Kafka direct stream; key: raw bytes; value: "
        "decoder(utf8_decoder) columnar when a binary key or value column (bytes that are "
        "not UTF-8 raise DecodeError naming the record); else rows")
    assert lines[-2] == (" |  TransformedDStream[1] map(operator.itemgetter(1)) columnar when "
                         "a table of two or more columns (selects column i); else rows")
