"""serde: every frame round-trips, says what it holds, and bad bytes are refused clearly."""

from __future__ import annotations

import sys
import threading
from functools import partial

import cloudpickle
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastdstream.engine.backend import serde
from fastdstream.errors import TaskNotSerializableError
from fastdstream.testing import child_process


def test_tables_round_trip_as_arrow() -> None:
    table = pa.table({
        "k": pa.array(["a", None, "é"], pa.string()),
        "v": pa.array([1, 2, None], pa.int64()),
        "d": pa.array(["x", "y", "x"]).dictionary_encode(),
    })
    frame = serde.encode_partition(table)
    assert serde.tag_of(frame) is serde.Tag.TABLE
    back = serde.decode_partition(frame)
    assert back.equals(table)
    assert serde.decode_partition(serde.encode_partition(table.slice(0, 0))).num_rows == 0


def test_record_batches_become_tables() -> None:
    batch = pa.record_batch({"v": [1, 2]})
    assert serde.decode_partition(serde.encode_partition(batch)).equals(pa.table({"v": [1, 2]}))


@given(st.lists(st.one_of(st.integers(), st.text(), st.binary(), st.none(),
                          st.tuples(st.text(), st.integers()))))
def test_object_partitions_round_trip(rows: list) -> None:
    frame = serde.encode_partition(iter(rows))
    assert serde.tag_of(frame) is serde.Tag.OBJECTS
    assert serde.decode_partition(frame) == rows


def test_numpy_buffers_travel_out_of_band() -> None:
    big = np.arange(100_000, dtype=np.int64)
    frame = serde.encode_partition([("k", big)])
    (key, back), = serde.decode_partition(frame)
    assert key == "k" and np.array_equal(back, big)
    # the buffer is in the frame once, not copied into the pickle stream as well
    assert len(frame) < big.nbytes + 1024


def test_values_that_plain_pickle_refuses_go_through_cloudpickle() -> None:
    value = {"f": lambda x: x + 1}
    back = serde.loads(serde.dumps(value))
    assert back["f"](1) == 2


def test_functions_round_trip_and_closures_that_cannot_ship_are_the_users_error() -> None:
    offset = 10
    assert serde.loads_function(serde.dumps_function(lambda x: x + offset))(1) == 11
    lock = threading.Lock()
    with pytest.raises(TaskNotSerializableError, match=r"my stage.*capture locks"):
        serde.dumps_function(lambda: lock, "my stage")


_RECORDED: list[int] = []


def _record(into: list[int], x: int) -> int:
    into.append(x)
    _RECORDED.append(x)
    return x


def test_a_copied_closure_holds_copies_of_what_it_captured() -> None:
    # An importable function: the C pickler's fast path; its arguments are copied.
    captured: list[int] = []
    copy = serde.copy_function(partial(_record, captured))
    assert copy is not None and copy(1) == 1
    assert captured == []
    # The function itself is the module's, as cloudpickle ships it: its globals are shared.
    assert _RECORDED[-1] == 1
    # Closures go through cloudpickle and are copied with what they capture.
    held: list[int] = []
    serde.copy_function(lambda x: held.append(x))(2)
    assert held == []


def test_a_module_pickled_by_value_is_copied_with_its_globals() -> None:
    module = sys.modules[__name__]
    cloudpickle.register_pickle_by_value(module)
    try:
        before = list(_RECORDED)
        serde.copy_function(partial(_record, []))(3)
        assert before == _RECORDED  # the copy's own globals, as a worker would have
    finally:
        cloudpickle.unregister_pickle_by_value(module)


_MAIN_PROGRAM = """
from fastdstream import Context
counted = []
def count(x):
    counted.append(x)
    return x
with Context("local[2]") as sc:
    assert sc.parallelize(range(10), 2).map(count).count() == 10
print(len(counted))
"""


def test_functions_of_the_main_program_are_copied_with_their_globals() -> None:
    # cloudpickle ships __main__'s functions by value: a task's appends go to its copy
    # of the global, not the driver's, on local[N] too.
    done = child_process.run([sys.executable, "-c", _MAIN_PROGRAM], timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0"]


@pytest.mark.parametrize("bad, message", [
    (b"", "too short"),
    (b"XY\x01\x03abc", "not a fastdstream frame"),
    (b"FD\x09\x03abc", "frame version 9"),
    (b"FD\x01\x63abc", "unknown format tag 99"),
])
def test_bad_frames_are_refused_with_what_is_wrong(bad: bytes, message: str) -> None:
    with pytest.raises(serde.SerdeError, match=message):
        serde.decode_partition(bad)


def test_a_frame_of_the_wrong_kind_is_refused() -> None:
    with pytest.raises(serde.SerdeError, match="holds FUNCTION, expected TABLE or OBJECTS"):
        serde.decode_partition(serde.dumps_function(len))
    with pytest.raises(serde.SerdeError, match="expected FUNCTION"):
        serde.loads_function(serde.dumps(1))


def test_a_truncated_object_frame_is_an_error_not_a_short_partition() -> None:
    frame = serde.encode_partition([np.arange(1000)])
    with pytest.raises(serde.SerdeError):
        serde.decode_partition(frame[: len(frame) // 2])


def test_decoded_strings_split_as_python_does() -> None:
    # Found by the columnar property tests: Arrow's utf8_split_whitespace looks past a
    # string's end, and in a zero-copy IPC read the end-of-stream marker lies there.
    table = pa.table({"value": pa.array(["000", "00\u2028"], pa.string())})
    back = serde.decode_partition(serde.encode_partition(table))
    words = pc.utf8_split_whitespace(back.column(0)).to_pylist()
    assert [[w for w in ws if w] for ws in words] == [s.split() for s in ["000", "00\u2028"]]
    dictionary = pa.table({"d": pa.array(["a\u2028"]).dictionary_encode()})
    assert serde.decode_partition(serde.encode_partition(dictionary)).equals(dictionary)
