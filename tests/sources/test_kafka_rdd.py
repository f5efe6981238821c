"""Decoding Kafka records (the registry's "decoder" entries) and the KafkaRDD's explain,
without a broker: the records are the Arrow table a read produces."""

from __future__ import annotations

import pickle

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastdstream import DecodeError, register_kernel
from fastdstream.engine.columnar import registry
from fastdstream.kafka import OffsetRange, utf8_decoder
from fastdstream.sources.kafka.kafka_rdd import Decoding, KafkaRDD


def records(values, keys=None, offset=10):
    n = len(values)
    return pa.table({
        "key": pa.array(keys if keys is not None else [None] * n, pa.binary()),
        "value": pa.array(values, pa.binary()),
        "topic": pa.array(["events"] * n).dictionary_encode(),
        "partition": pa.array([3] * n, pa.int32()),
        "offset": pa.array(range(offset, offset + n), pa.int64()),
        "timestamp": pa.array([0] * n, pa.timestamp("ms")),
    })


def test_utf8_decoder_entry_keeps_records_columnar():
    assert registry.lookup("decoder", utf8_decoder).owner == "fastdstream.sources.kafka.kafka_rdd"
    out = Decoding().apply(records([b"h\xc3\xa9", b"", None], keys=[b"k", None, b"x"]))
    assert isinstance(out, pa.Table)
    assert out.schema.types == [pa.string(), pa.string()]
    assert out.to_pydict() == {"key": ["k", None, "x"], "value": ["hé", "", None]}


def test_each_column_is_decided_on_its_own():
    # Raw keys and UTF-8 values: still one Arrow table (before, any mix went to objects).
    out = Decoding(key_decoder=None).apply(records([b"v"], keys=[b"\xff"]))
    assert isinstance(out, pa.Table)
    assert out.to_pydict() == {"key": [b"\xff"], "value": ["v"]}
    raw = Decoding(None, None).apply(records([b"v"]))
    assert raw.schema.types == [pa.binary(), pa.binary()]


def test_a_decoder_of_ones_own_runs_on_rows():
    def upper(b):
        return None if b is None else b.decode().upper()

    out = Decoding(value_decoder=upper).apply(records([b"a", b"b"], keys=[b"k", b"l"]))
    assert out == [("k", "A"), ("l", "B")]


@pytest.mark.parametrize("column", ["key", "value"])
def test_bytes_that_are_not_utf8_name_the_record(column):
    data = [b"fine", b"bad \xff"]
    batch = records(data, keys=data) if column == "key" else records(data, keys=[b"a", b"b"])
    with pytest.raises(DecodeError, match=rf"events/3/offset 11: {column} is not valid UTF-8 "
                                          r"\(invalid start byte at byte 4\)") as info:
        Decoding().apply(batch)
    assert isinstance(info.value.__cause__, UnicodeDecodeError)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=8),
                          st.text(max_size=4).map(lambda s: s.encode("utf-8", "surrogatepass"))),
                max_size=8))
def test_utf8_kernel_accepts_exactly_what_python_decodes(values):
    table = pa.table({"value": pa.array(values, pa.binary())})
    plan = registry.plan("decoder", utf8_decoder)
    assert plan.accepts(table)
    try:
        expected = [v.decode("utf-8") for v in values]
    except UnicodeDecodeError:
        with pytest.raises(pa.ArrowInvalid):
            plan.run(table)
        return
    assert plan.run(table).column(0).to_pylist() == expected


def shout_decoder(b):
    return None if b is None else b.decode("ascii").upper()


def shout_kernel(table):
    return pa.table({table.column_names[0]: pc.ascii_upper(table.column(0).cast(pa.string()))})


def test_users_register_decoders_and_the_plan_travels_with_the_decoding():
    register_kernel("decoder", shout_decoder, shout_kernel, description="ASCII bytes")
    try:
        decoding = Decoding(value_decoder=shout_decoder)
    finally:
        registry.unregister("decoder", shout_decoder)
    # chosen on the driver when the stream was made; executors get it pickled
    shipped = pickle.loads(pickle.dumps(decoding))
    out = shipped.apply(records([b"hi"], keys=[b"k"]))
    assert isinstance(out, pa.Table) and out.to_pydict() == {"key": ["k"], "value": ["HI"]}


def test_kafka_rdd_explains_its_decoding(sc):
    ranges = [OffsetRange("events", 0, 0, 5), OffsetRange("events", 1, 0, 5)]
    rdd = KafkaRDD(sc, {"bootstrap.servers": "127.0.0.1:1"}, ranges, Decoding(), 1.0)
    decoder = ("decoder(utf8_decoder) columnar when a binary key or value column (bytes "
               "that are not UTF-8 raise DecodeError naming the record); else rows")
    assert rdd.map(lambda kv: kv[1]).explain().splitlines() == [
        "(2) PipelinedRDD[1] 1 step",
        " |    map(<lambda>) rows: not a registered function for map",
        f" |  KafkaRDD[0] Kafka offset ranges; key and value: {decoder}",
    ]
    raw = KafkaRDD(sc, {}, ranges, Decoding(None, None), 1.0).map(len)
    assert raw.explain().splitlines()[-1].endswith("key and value: raw bytes")
    mixed = KafkaRDD(sc, {}, ranges, Decoding(None, utf8_decoder), 1.0)
    assert mixed.explain().endswith(f"key: raw bytes; value: {decoder}")
    custom = KafkaRDD(sc, {}, ranges, Decoding(utf8_decoder, bytes.hex), 1.0)
    assert custom.explain().endswith(
        "rows; key: decoder(utf8_decoder) columnar when a binary key or value column (bytes "
        "that are not UTF-8 raise DecodeError naming the record); else rows; value: "
        "decoder(bytes.hex) rows: not a registered function for decoder")
    assert "map(len) columnar when" in raw.explain()
    handled = KafkaRDD(sc, {}, ranges, Decoding(message_handler=repr), 1.0)
    assert handled.map(str.upper).explain().splitlines()[1:] == [
        " |    map(str.upper) rows: its input is Python rows (from messageHandler)",
        " |  KafkaRDD[6] Kafka offset ranges; rows: messageHandler repr gets a "
        "KafkaMessageAndMetadata per record",
    ]
