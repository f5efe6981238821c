"""The compiled line splitter (``_core.split_lines``) against its Python reference."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastdstream import _core, _reference


def kernel(head: bytes, data: bytes, end: int, max_line_bytes: int = -1,
           stop_at_invalid: bool = False) -> tuple[list[bytes], int, int, int]:
    offsets, values, lines, invalid, too_long, stop = _core.split_lines(
        head, data, end, max_line_bytes, stop_at_invalid)
    assert offsets[0] == 0
    assert np.all(np.diff(offsets[: lines + 1]) >= 0)
    raw = values.tobytes()
    return ([raw[offsets[i]:offsets[i + 1]] for i in range(lines)],
            invalid, too_long, stop)


# Text that is mostly valid, with the bytes that matter to a splitter and a validator:
# newlines, \r, multi-byte characters, and bytes Python rejects (truncated, overlong,
# surrogates, above U+10FFFF, stray continuation bytes).
_pieces = st.one_of(
    st.text(max_size=12).map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.sampled_from([b"\n", b"\r", b"\r\n", b"\n\n", b"", b" ", b"abcdefghijklmnop",
                     b"\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xc0\xaf", b"\x80",
                     b"\xe0\x80\x80", b"\xf0\x80\x80\x80", b"\xf4\x90\x80\x80",
                     b"\xf5\x80\x80\x80", b"\xef\xbf\xbf", b"\xf4\x8f\xbf\xbf", b"\xed\x9f\xbf"]),
    st.binary(max_size=6),
)
_text = st.lists(_pieces, max_size=24).map(b"".join)


def _cases(draw: st.DrawFn) -> tuple[bytes, bytes, int]:
    text = draw(_text) + b"\n"
    first_nl = text.index(b"\n")
    cut = draw(st.integers(0, first_nl))  # the head holds no newline
    head, data = text[:cut], text[cut:]
    # Bytes after ``end`` are not the kernel's to read.
    data += draw(st.binary(max_size=4))
    return head, data, len(text) - cut


cases = st.composite(_cases)()


@settings(max_examples=500, deadline=None)
@given(case=cases, limit=st.integers(-1, 12), stop_at_invalid=st.booleans())
def test_kernel_equals_reference(case: tuple[bytes, bytes, int], limit: int,
                                 stop_at_invalid: bool) -> None:
    head, data, end = case
    assert kernel(head, data, end, limit, stop_at_invalid) == _reference.split_lines(
        head, data, end, limit, stop_at_invalid)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=64).map(lambda b: b.replace(b"\n", b"")))
def test_kernel_validates_utf8_exactly_as_python_decodes(data: bytes) -> None:
    _, invalid, _, _ = kernel(b"", data + b"\n", len(data) + 1)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        assert invalid == 0
    else:
        assert invalid == -1


def test_every_code_point_boundary() -> None:
    # The edges of each UTF-8 length and of the surrogate range, one per line.
    points = [0, 0x7F, 0x80, 0x7FF, 0x800, 0xD7FF, 0xE000, 0xFFFF, 0x10000, 0x10FFFF]
    text = b"".join(chr(p).encode() + b"\n" for p in points)
    lines, invalid, too_long, stop = kernel(b"", text, len(text))
    assert [line.decode() for line in lines] == [chr(p) for p in points]
    assert (invalid, too_long, stop) == (-1, -1, len(text))


def test_a_line_spanning_head_and_data_keeps_crlf_rules() -> None:
    assert kernel(b"ab\r", b"\ncd\r\n", 5)[0] == [b"ab", b"cd"]
    assert kernel(b"ab", b"\r\n", 2)[0] == [b"ab"]
    # A multi-byte character cut between head and data is one valid character.
    assert kernel("é".encode()[:1], "é".encode()[1:] + b"\n", 2)[0] == ["é".encode()]


def test_stops_at_the_first_line_over_the_limit_with_its_start() -> None:
    assert kernel(b"", b"ab\nabcd\nx\n", 10, 3) == ([b"ab"], -1, 1, 3)
    assert kernel(b"abcd", b"\n", 1, 3) == ([], -1, 0, 0)
    assert kernel(b"abc", b"\r\n", 2, 3) == ([b"abc"], -1, -1, 5)  # \r is not counted


def test_offsets_are_int32_and_values_need_no_copy() -> None:
    offsets, values, lines, *_ = _core.split_lines(b"", b"x\n" * 5, 10, -1, True)
    assert offsets.dtype == np.int32 and lines == 5
    assert values.dtype == np.uint8 and offsets[lines] == 5


@pytest.mark.parametrize(("head", "data", "end"), [(b"", b"abc", 3), (b"x", b"", 0),
                                                    (b"", b"a\n", 3), (b"", b"a\n", -1)])
def test_input_that_does_not_end_a_line_is_refused(head: bytes, data: bytes, end: int) -> None:
    with pytest.raises(ValueError):
        _core.split_lines(head, data, end, -1, True)
    if 0 <= end <= len(data):
        with pytest.raises(ValueError):
            _reference.split_lines(head, data, end, -1, True)



# --- split_words: str.split() over a string column ---------------------------------

_SPACES = [chr(c) for c in range(0x110000) if chr(c).isspace()]
_NEAR_SPACES = ["\u0084", "\u0086", "\u009f", "\u00a1", "\u1681", "\u167f", "\u1fff", "\u200b",
                "\u2027", "\u202a", "\u202e", "\u2030", "\u205e", "\u2060", "\u2fff", "\u3001",
                "\u0081", "\u00c2", "é", "日", "🙂", "\x1b", "\x7f"]
_words_text = st.lists(st.one_of(st.sampled_from(_SPACES), st.sampled_from(_NEAR_SPACES),
                                 st.text(max_size=5)), max_size=12).map("".join)


def words_kernel(array: pa.Array) -> list[str]:
    large = pa.types.is_large_string(array.type)
    _, offsets_buf, data_buf = array.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64 if large else np.int32)
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else b""
    word_offsets, values, n = _core.split_words(offsets, data, array.offset, len(array))
    assert len(word_offsets) == n + 1 and word_offsets.dtype == offsets.dtype
    raw = values.tobytes()
    return [raw[word_offsets[i]:word_offsets[i + 1]].decode() for i in range(n)]


@settings(max_examples=400, deadline=None)
@given(strings=st.lists(_words_text, max_size=8), large=st.booleans(),
       cut=st.tuples(st.integers(0, 8), st.integers(0, 8)))
def test_split_words_equals_str_split(strings: list[str], large: bool,
                                      cut: tuple[int, int]) -> None:
    array = pa.array(strings, pa.large_string() if large else pa.string())
    start = min(cut[0], len(strings))
    stop = max(start, min(cut[1], len(strings)))
    assert words_kernel(array.slice(start, stop - start)) == _reference.split_words(
        strings[start:stop])


def test_split_words_at_every_python_space() -> None:
    text = "a" + "b".join(_SPACES) + "c"
    assert words_kernel(pa.array([text])) == text.split() == _reference.split_words([text])
    assert len(text.split()) == len(_SPACES) + 1
    joined = "x".join(_NEAR_SPACES)  # none of them is whitespace: one word
    assert words_kernel(pa.array([joined])) == [joined]


def test_split_words_of_empty_and_blank_strings() -> None:
    assert words_kernel(pa.array(["", " ", "\t\n", "\u3000"])) == []
    assert words_kernel(pa.array([], pa.string())) == []


@pytest.mark.parametrize("size", [64 << 10, 300 << 10, 9 << 20],
                         ids=["gil-held", "split-without-gil", "count-and-split-without-gil"])
def test_large_inputs_split_as_the_reference_on_both_sides_of_the_gil_thresholds(
        size: int) -> None:
    """The passes give the GIL up only for inputs of 256 KiB (the split) and 8 MiB (the
    newline count) and more; below, they keep it. Either way the lines are the same."""
    unit = "héllo\r\nwörld  x\n\n".encode()
    body = unit * (size // len(unit))
    # Valid up to a bad line near the end (stop there, or go on); a head whose last
    # character ends in the data.
    for head, stop_at_invalid in ((b"", True), (b"spanning \xc3", False)):
        data = (b"\xa9 head\n" if head else b"first\n") + body + b"bad \xff line\nlast\ntail"
        end = len(data) - 4
        assert kernel(head, data, end, -1, stop_at_invalid) == _reference.split_lines(
            head, data, end, -1, stop_at_invalid)
