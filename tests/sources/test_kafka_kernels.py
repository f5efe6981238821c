"""The Kafka kernels agree with the pure-Python reference, on edge cases and at random."""

from __future__ import annotations

import gc
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from confluent_kafka import (
    TIMESTAMP_CREATE_TIME,
    TIMESTAMP_LOG_APPEND_TIME,
    TIMESTAMP_NOT_AVAILABLE,
    KafkaError,
    Message,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastdstream import _reference as ref
from fastdstream.sources.kafka import kafka_kernels

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
INT64_MAX = 2**63 - 1

# Small offsets make equal/adjacent values (the boundaries) likely; the big ones sit at
# the int64 edge, where from + cap would overflow a naive sum.
offsets = st.integers(0, 5) | st.integers(0, INT64_MAX) | st.integers(INT64_MAX - 5, INT64_MAX)
caps = st.integers(0, 5) | st.integers(0, INT64_MAX) | st.just(INT64_MAX)


def msg(
    offset: int = 0,
    key: bytes | None = None,
    value: bytes | None = b"v",
    topic: str = "t",
    partition: int = 0,
    timestamp: tuple[int, int] = (TIMESTAMP_CREATE_TIME, 1_700_000_000_000),
) -> Message:
    return Message(
        topic=topic,
        partition=partition,
        offset=offset,
        key=key,
        value=value,
        timestamp=timestamp,
    )


class DuckMessage:
    """Plain data with confluent_kafka.Message's accessors (for bytes-like payloads)."""

    def __init__(self, key: Any, value: Any, topic: Any = "t", error: Any = None) -> None:
        self._key, self._value, self._topic, self._error = key, value, topic, error

    def error(self) -> Any:
        return self._error

    def key(self) -> Any:
        return self._key

    def value(self) -> Any:
        return self._value

    def topic(self) -> Any:
        return self._topic

    def partition(self) -> int:
        return 3

    def offset(self) -> int:
        return 42

    def timestamp(self) -> tuple[int, int]:
        return (TIMESTAMP_NOT_AVAILABLE, -1)


def rows(table: pa.Table) -> dict[str, list[Any]]:
    """The table as Python lists, timestamps as ms, dictionary topics decoded."""
    out = table.to_pydict()
    out["timestamp"] = table.column("timestamp").cast(pa.int64()).to_pylist()
    return out


# -- plan_offset_ranges ------------------------------------------------------------------


@st.composite
def plans(draw: st.DrawFn) -> tuple[list[int], list[int], Any, list[int] | None]:
    n = draw(st.integers(0, 30))
    frm = draw(st.lists(offsets, min_size=n, max_size=n))
    latest = draw(st.lists(offsets, min_size=n, max_size=n))
    mode = draw(st.sampled_from(["none", "int", "array"]))
    cap: Any = None
    if mode == "int":
        cap = draw(caps)
    elif mode == "array":
        cap = draw(st.lists(caps, min_size=n, max_size=n))
    earliest = None
    if draw(st.booleans()):
        earliest = [draw(st.integers(0, lt)) for lt in latest]
    return frm, latest, cap, earliest


@SETTINGS
@given(plan=plans())
def test_plan_offset_ranges_matches_reference(plan: Any) -> None:
    frm, latest, cap, earliest = plan
    cap_arg = np.array(cap, dtype=np.int64) if isinstance(cap, list) else cap
    until, out_of_range = kafka_kernels.plan_offset_ranges(
        np.array(frm, dtype=np.int64), latest, cap_arg, earliest_offsets=earliest
    )
    assert until.dtype == np.int64 and out_of_range.dtype == np.bool_
    exp_until, exp_oor = ref.plan_offset_ranges(frm, latest, cap, earliest)
    assert until.tolist() == exp_until
    assert out_of_range.tolist() == exp_oor
    ok = ~out_of_range
    assert (until[ok] >= np.array(frm, dtype=np.int64)[ok]).all()
    assert (until[ok] <= np.array(latest, dtype=np.int64)[ok]).all()


@SETTINGS
@given(
    rows=st.lists(st.tuples(st.integers(0, 10**9), st.floats(0.5, 1e6)), max_size=20),
    budget=st.integers(1, 10**12),
)
def test_byte_budget_caps_matches_reference(rows: list[tuple[int, float]], budget: int) -> None:
    lag = [k for k, _ in rows]
    sizes = [b for _, b in rows]
    caps = kafka_kernels.byte_budget_caps(lag, sizes, budget)
    exp_caps, binds = ref.byte_budget_caps(lag, sizes, budget)
    if not binds:
        assert caps is None
        return
    assert caps is not None and caps.tolist() == exp_caps
    # within the budget, but for the one record a partition always gets
    within = sum(c * b for c, b in zip(exp_caps, sizes, strict=True) if c > 1)
    assert within <= budget * (1 + 1e-9)
    assert all(0 <= c <= k and (c >= 1 or k == 0) for c, k in zip(caps, lag, strict=True))


def test_byte_budget_caps_refuses_what_it_cannot_plan() -> None:
    with pytest.raises(ValueError, match="partition index 1: lag -1"):
        kafka_kernels.byte_budget_caps([5, -1], [1.0, 1.0], 10)
    with pytest.raises(ValueError, match=r"partition index 0: .*bytes per record nan"):
        kafka_kernels.byte_budget_caps([5], [float("nan")], 10)
    with pytest.raises(ValueError, match="budget must be > 0"):
        kafka_kernels.byte_budget_caps([5], [1.0], 0)
    with pytest.raises(ValueError, match="bytes_per_record has 1 entries but lag has 2"):
        kafka_kernels.byte_budget_caps([5, 6], [1.0], 10)


def test_plan_offset_ranges_edges() -> None:
    until, oor = kafka_kernels.plan_offset_ranges([], [], 10)
    assert until.tolist() == [] and oor.tolist() == []
    # Near int64 max: from + cap would overflow; the range still ends at latest.
    until, oor = kafka_kernels.plan_offset_ranges([INT64_MAX - 1], [INT64_MAX], INT64_MAX)
    assert until.tolist() == [INT64_MAX] and oor.tolist() == [False]
    until, _ = kafka_kernels.plan_offset_ranges([0, 0, 5], [0, 10, 10], 0)
    assert until.tolist() == [0, 0, 5]
    until, _ = kafka_kernels.plan_offset_ranges([0, 3], [10, 10], [4, 100])
    assert until.tolist() == [4, 10]
    # uint64 and int32 inputs are accepted as long as the values fit int64.
    until, _ = kafka_kernels.plan_offset_ranges(
        np.array([1], dtype=np.uint64), np.array([9], dtype=np.int32), np.int64(2)
    )
    assert until.tolist() == [3]


def test_plan_offset_ranges_flags_out_of_range_without_clamping() -> None:
    # Partition 1 was truncated (latest 5 < from 20), partition 2 lost its head to
    # retention (from 3 < earliest 8): flagged, empty range, not moved to latest/earliest.
    until, oor = kafka_kernels.plan_offset_ranges(
        [10, 20, 3], [30, 5, 50], 100, earliest_offsets=[0, 0, 8]
    )
    assert oor.tolist() == [False, True, True]
    assert until.tolist() == [30, 20, 3]


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (([0, 1, -1], [5, 5, 5]), {}, r"partition index 2: from offset -1 is negative"),
        (([0, 1], [5, -3]), {}, r"partition index 1: latest offset -3 is negative"),
        (([0, 1], [5, 5], -1), {}, r"max_messages must be >= 0, got -1"),
        (([0, 1], [5, 5], [3, -2]), {}, r"partition index 1: max_messages -2 is negative"),
        (([0], [5]), {"earliest_offsets": [-1]}, r"partition index 0: earliest offset -1"),
        (([0], [5]), {"earliest_offsets": [6]}, r"earliest offset 6 is after latest offset 5"),
        (([0, 1], [5]), {}, r"latest_offsets has 1 entries but from_offsets has 2"),
        (([0, 1], [5, 5], [1]), {}, r"max_messages has 1 entries"),
        (([2**64 - 1], [5]), {}, r"from_offsets\[0\] = 18446744073709551615 is outside"),
    ],
)
def test_plan_offset_ranges_errors_name_the_partition(
    args: tuple[Any, ...], kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        kafka_kernels.plan_offset_ranges(*args, **kwargs)


@pytest.mark.parametrize("cap", [1.5, True, [1.0]])
def test_plan_offset_ranges_rejects_non_integer_caps(cap: Any) -> None:
    with pytest.raises(TypeError, match="max_messages"):
        kafka_kernels.plan_offset_ranges([0], [5], cap)


def test_plan_offset_ranges_rejects_float_offsets() -> None:
    with pytest.raises(TypeError, match="from_offsets must hold integers"):
        kafka_kernels.plan_offset_ranges([0.5], [5])


# -- check_contiguous --------------------------------------------------------------------


@SETTINGS
@given(pairs=st.lists(st.tuples(offsets, offsets) | offsets.map(lambda x: (x, x)), max_size=40))
def test_check_contiguous_matches_reference(pairs: list[tuple[int, int]]) -> None:
    expected = [e for e, _ in pairs]
    frm = [f for _, f in pairs]
    got = kafka_kernels.check_contiguous(np.array(expected, dtype=np.int64), frm)
    assert got.dtype == np.bool_
    assert got.tolist() == ref.check_contiguous(expected, frm)


def test_check_contiguous_errors() -> None:
    with pytest.raises(ValueError, match=r"partition index 1: negative offset"):
        kafka_kernels.check_contiguous([1, -1], [1, 2])
    with pytest.raises(ValueError, match="expected_next has 1 entries"):
        kafka_kernels.check_contiguous([1], [1, 2])


# -- merge_commits -----------------------------------------------------------------------


commit_lists = st.lists(st.tuples(st.integers(-3, 6) | st.integers(-(2**63), INT64_MAX), offsets))


@SETTINGS
@given(a=commit_lists, b=commit_lists)
def test_merge_commits_matches_reference(
    a: list[tuple[int, int]], b: list[tuple[int, int]]
) -> None:
    pa_, oa = [p for p, _ in a], [o for _, o in a]
    pb, ob = [p for p, _ in b], [o for _, o in b]
    parts, offs = kafka_kernels.merge_commits(np.array(pa_, dtype=np.int64), oa, pb, ob)
    assert parts.dtype == np.int64 and offs.dtype == np.int64
    assert (parts.tolist(), offs.tolist()) == ref.merge_commits(pa_, oa, pb, ob)


def test_merge_commits_errors_and_empty() -> None:
    parts, offs = kafka_kernels.merge_commits([], [], [], [])
    assert parts.tolist() == [] and offs.tolist() == []
    with pytest.raises(ValueError, match="partition 7: offset -5 is negative"):
        kafka_kernels.merge_commits([1], [2], [7], [-5])
    with pytest.raises(ValueError, match="differ in length"):
        kafka_kernels.merge_commits([1, 2], [2], [], [])


# -- messages_to_arrow -------------------------------------------------------------------


payloads = st.none() | st.binary(max_size=20)
topics = st.sampled_from(["t", "events", "\u00e9v\u00e9nements", "\u4e3b\u9898-\U0001f600"])
timestamps = st.tuples(
    st.sampled_from([TIMESTAMP_NOT_AVAILABLE, TIMESTAMP_CREATE_TIME, TIMESTAMP_LOG_APPEND_TIME]),
    st.integers(0, 2**45),
)
messages = st.builds(
    msg,
    offset=offsets,
    key=payloads,
    value=payloads,
    topic=topics,
    partition=st.integers(0, 2**31 - 1),
    timestamp=timestamps,
)


@SETTINGS
@given(msgs=st.lists(messages, max_size=40), chunk=st.sampled_from([2**31 - 1, 20, 33, 60]))
def test_messages_to_arrow_matches_reference(msgs: list[Message], chunk: int) -> None:
    table = kafka_kernels.messages_to_arrow(msgs, max_chunk_bytes=chunk)
    assert table.schema == kafka_kernels.KAFKA_SCHEMA
    table.validate(full=True)
    assert rows(table) == ref.messages_to_rows(msgs)


def test_messages_to_arrow_empty() -> None:
    table = kafka_kernels.messages_to_arrow([])
    assert table.num_rows == 0 and table.schema == kafka_kernels.KAFKA_SCHEMA
    assert kafka_kernels.messages_to_arrow(iter([])).num_rows == 0


def test_messages_to_arrow_null_and_empty_payloads() -> None:
    msgs = [
        msg(0, key=None, value=None),  # tombstone without key
        msg(1, key=b"", value=b""),  # empty, not null
        msg(2, key=b"k", value=None),  # tombstone
        msg(3, key=None, value=b"x"),
    ]
    table = kafka_kernels.messages_to_arrow(msgs)
    assert table.column("key").to_pylist() == [None, b"", b"k", None]
    assert table.column("value").to_pylist() == [None, b"", None, b"x"]
    assert table.column("key").null_count == 2
    assert table.column("value").null_count == 2


def test_messages_to_arrow_timestamps() -> None:
    msgs = [
        msg(0, timestamp=(TIMESTAMP_CREATE_TIME, 1_700_000_000_123)),
        msg(1, timestamp=(TIMESTAMP_NOT_AVAILABLE, -1)),
        msg(2, timestamp=(TIMESTAMP_LOG_APPEND_TIME, 0)),
    ]
    ts = kafka_kernels.messages_to_arrow(msgs).column("timestamp")
    assert ts.type == pa.timestamp("ms")
    assert ts.cast(pa.int64()).to_pylist() == [1_700_000_000_123, None, 0]


def test_messages_to_arrow_long_values() -> None:
    big = bytes(range(256)) * 4096  # 1 MiB
    msgs = [msg(i, key=b"k%d" % i, value=big if i % 2 else b"small") for i in range(6)]
    table = kafka_kernels.messages_to_arrow(msgs)
    values = table.column("value").to_pylist()
    assert values[1] == big and values[5] == big and values[0] == b"small"
    # With a 1.5 MiB chunk limit each chunk holds one big value; the rows are the same.
    chunked = kafka_kernels.messages_to_arrow(msgs, max_chunk_bytes=3 << 19)
    assert chunked.column("value").num_chunks > 1
    assert rows(chunked) == rows(table)


def test_messages_to_arrow_single_message_over_the_chunk_limit() -> None:
    with pytest.raises(OverflowError, match=r"offset 1\b.*more than 4 key or value bytes"):
        kafka_kernels.messages_to_arrow(
            [msg(0, value=b"ab"), msg(1, value=b"abcdef")], max_chunk_bytes=4
        )


def test_messages_to_arrow_unicode_topics_share_one_dictionary() -> None:
    names = ["\u00e9v\u00e9nements", "\u4e3b\u9898", "t\U0001f600", "plain"]
    msgs = [msg(i, topic=names[i % 4], value=b"x" * 10) for i in range(40)]
    table = kafka_kernels.messages_to_arrow(msgs, max_chunk_bytes=50)
    topic = table.column("topic")
    assert topic.type == pa.dictionary(pa.int32(), pa.string())
    assert topic.num_chunks > 1
    assert topic.to_pylist() == [names[i % 4] for i in range(40)]
    assert {c.dictionary.to_pylist() == names for c in topic.chunks} == {True}


def test_messages_to_arrow_many_partitions() -> None:
    msgs = [msg(i, partition=i % 1000, topic=f"topic{i % 3}") for i in range(5000)]
    table = kafka_kernels.messages_to_arrow(msgs)
    assert table.column("partition").to_pylist() == [i % 1000 for i in range(5000)]
    assert table.column("offset").to_pylist() == list(range(5000))
    assert table.column("topic").to_pylist() == [f"topic{i % 3}" for i in range(5000)]


def test_messages_to_arrow_raises_on_error_events() -> None:
    eof = Message(
        topic="events",
        partition=4,
        offset=17,
        error=KafkaError(KafkaError._PARTITION_EOF, "Broker: No more messages"),
    )
    with pytest.raises(ValueError) as info:
        kafka_kernels.messages_to_arrow([msg(0), eof, msg(2)])
    text = str(info.value)
    assert "Kafka message 1" in text
    assert "topic 'events', partition 4, offset 17" in text
    assert "_PARTITION_EOF" in text and "No more messages" in text


@SETTINGS
@given(
    values=st.lists(payloads, max_size=40),
    until=st.integers(0, 45),
    error_at=st.none() | st.integers(0, 40),
    chunk=st.sampled_from([2**31 - 1, 20, 33]),
)
def test_messages_until_stops_at_the_range_end_or_an_error(
    values: list[bytes | None], until: int, error_at: int | None, chunk: int
) -> None:
    msgs = [msg(i, value=v) for i, v in enumerate(values)]
    if error_at is not None and error_at < len(msgs):
        msgs[error_at] = Message(topic="t", partition=0, offset=error_at,
                                 error=KafkaError(KafkaError._PARTITION_EOF, "eof"))
    stop = min(until, len(msgs), len(msgs) if error_at is None else error_at)
    table, got_stop = kafka_kernels.messages_until(msgs, until, max_chunk_bytes=chunk)
    table.validate(full=True)
    assert got_stop == stop
    assert rows(table) == ref.messages_to_rows(msgs[:stop])


def test_messages_until_refuses_a_negative_end() -> None:
    with pytest.raises(ValueError, match="until_offset must be >= 0"):
        kafka_kernels.messages_until([msg(0)], -1)


def test_messages_to_arrow_accepts_bytes_like_payloads() -> None:
    msgs = [DuckMessage(bytearray(b"ab"), memoryview(b"cde")), DuckMessage(None, b"")]
    table = kafka_kernels.messages_to_arrow(msgs)
    assert rows(table) == {
        "key": [b"ab", None],
        "value": [b"cde", b""],
        "topic": ["t", "t"],
        "partition": [3, 3],
        "offset": [42, 42],
        "timestamp": [None, None],
    }


@pytest.mark.parametrize(
    ("bad", "exc", "match"),
    [
        (DuckMessage(b"k", "text value"), TypeError, "Kafka message 1 .*offset 42"),
        (DuckMessage(b"k", b"v", topic=None), TypeError, "topic\\(\\) returned NoneType"),
        (DuckMessage(b"k", b"v", error="boom"), ValueError, "error event, not a record: boom"),
    ],
)
def test_messages_to_arrow_bad_messages_name_their_position(
    bad: DuckMessage, exc: type[Exception], match: str
) -> None:
    with pytest.raises(exc, match=match):
        kafka_kernels.messages_to_arrow([DuckMessage(b"k", b"v"), bad])


def test_messages_to_arrow_buffers_outlive_the_call() -> None:
    # The Arrow buffers wrap the core's own memory: they must stay valid after the
    # messages and every intermediate object are gone.
    table = kafka_kernels.messages_to_arrow(
        [msg(i, key=b"key%d" % i, value=b"v" * i) for i in range(100)]
    )
    gc.collect()
    assert table.column("key").to_pylist() == [b"key%d" % i for i in range(100)]
    assert table.column("value").to_pylist()[99] == b"v" * 99
