"""Bytes to Arrow lines: LineSplitter and split_lines."""

from __future__ import annotations

import itertools
import logging

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastdstream import DecodeError, FastDStreamError
from fastdstream.sources.lines import LineSplitter, split_lines


def feed_all(chunks, errors="strict", source="test"):
    splitter = LineSplitter(source, errors)
    lines = []
    for chunk in chunks:
        out = splitter.feed(chunk)
        if out is not None:
            assert out.column_names == ["value"]
            assert out.schema.field("value").type == pa.string()
            lines.extend(out.column(0).to_pylist())
    out = splitter.flush()
    if out is not None:
        lines.extend(out.column(0).to_pylist())
    return lines


def reference(data: bytes, errors="strict"):
    """What the splitter must produce: split on \\n, drop one \\r before it, decode."""
    parts = data.split(b"\n")
    if parts[-1] == b"":
        parts.pop()
    return [(p[:-1] if p.endswith(b"\r") else p).decode("utf-8", errors) for p in parts]


def test_split_lines_basic():
    arr = split_lines(b"a b\n\nc\n")
    assert isinstance(arr, pa.Array)
    assert arr.type == pa.string()
    assert arr.to_pylist() == ["a b", "", "c"]
    assert split_lines(b"").to_pylist() == []
    assert split_lines(b"\n").to_pylist() == [""]
    assert split_lines(b"\n\n\n").to_pylist() == ["", "", ""]


def test_crlf():
    assert split_lines(b"a\r\nb\r\n\r\nc\n").to_pylist() == ["a", "b", "", "c"]
    # only the \r right before \n goes; others stay
    assert split_lines(b"a\rb\r\r\n\r\n").to_pylist() == ["a\rb\r", ""]
    # \r\n split across chunks
    assert feed_all([b"a\r", b"\nb\r", b"\n"]) == ["a", "b"]


def test_feed_holds_partial_line_and_flush_emits_it():
    splitter = LineSplitter("src")
    assert splitter.feed(b"no newline yet") is None
    assert splitter.feed(b" still") is None
    out = splitter.feed(b" done\nnext")
    assert out.column(0).to_pylist() == ["no newline yet still done"]
    assert splitter.flush().column(0).to_pylist() == ["next"]
    assert splitter.flush() is None  # nothing left
    assert splitter.feed(b"") is None
    assert splitter.lines_seen == 2


def test_missing_trailing_newline_keeps_last_line():
    assert feed_all([b"a\nb"]) == ["a", "b"]
    assert feed_all([b"a\nb\n"]) == ["a", "b"]
    assert feed_all([b"only"]) == ["only"]
    assert feed_all([]) == []
    assert feed_all([b""]) == []


def test_empty_lines_are_kept():
    assert feed_all([b"\n", b"\n", b"x\n\n"]) == ["", "", "x", ""]


def test_chunk_split_inside_a_line_and_a_multibyte_char():
    text = "héllo wörld 日本語 🙂\nsecond ✓\n"
    data = text.encode()
    expected = ["héllo wörld 日本語 🙂", "second ✓"]
    for cut in range(1, len(data)):
        assert feed_all([data[:cut], data[cut:]]) == expected, cut
    assert feed_all([bytes([b]) for b in data]) == expected  # one byte at a time


def test_invalid_utf8_strict_names_source_line_and_offset():
    splitter = LineSplitter("tcp://host:9999")
    splitter.feed(b"ok line\nsecond ")  # line 1 = bytes 0..7, line 2 starts at byte 8
    with pytest.raises(DecodeError) as info:
        splitter.feed(b"bad \xff here\n")
    message = str(info.value)
    assert "tcp://host:9999" in message
    assert "line 2" in message
    assert "byte offset 19" in message  # 8 + len(b"second bad ")
    assert "decodeErrors=replace" in message
    assert isinstance(info.value, FastDStreamError)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value.__cause__, UnicodeDecodeError)


def test_invalid_utf8_offset_counts_lines_after_flushless_feeds():
    splitter = LineSplitter("file.txt")
    splitter.feed(b"a\r\nbb\n")
    splitter.feed(b"ccc\n")
    with pytest.raises(DecodeError, match=r"file\.txt: line 4 \(byte offset 10\)"):
        splitter.feed(b"\xc3\n")  # truncated two-byte sequence at byte 3 + 3 + 4


def test_invalid_utf8_in_final_unterminated_line():
    splitter = LineSplitter("src")
    splitter.feed(b"fine\n\xe2\x82")
    with pytest.raises(DecodeError, match=r"line 2 \(byte offset 5\)"):
        splitter.flush()


def test_split_lines_strict_reports_first_line_and_offset_arguments():
    with pytest.raises(DecodeError, match=r"^s: line 11 \(byte offset 102\)"):
        split_lines(b"ab\n\xfe\n", "s", first_line=9, first_offset=99)


@pytest.mark.parametrize("bad", [b"\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xc0\xaf",
                                 b"\xf8\x88\x80\x80\x80", b"\xf4\x90\x80\x80"])
def test_invalid_sequences_rejected_like_python(bad):
    data = b"x" + bad + b"y\n"
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    with pytest.raises(DecodeError):
        split_lines(data)
    assert split_lines(data, errors="replace").to_pylist() == [
        data[:-1].decode("utf-8", "replace")
    ]


def test_replace_policy_substitutes_fffd_and_warns(caplog):
    with caplog.at_level(logging.WARNING, logger="fastdstream.sources.lines"):
        lines = feed_all([b"a\xe2\x82\nb\xff\r\n", b"ok\n"], errors="replace", source="sock")
    assert lines == ["a\ufffd", "b\ufffd", "ok"]
    assert any("sock" in r.getMessage() and "2 line(s)" in r.getMessage()
               for r in caplog.records)


def test_bad_policy():
    with pytest.raises(ValueError, match="decode error policy"):
        LineSplitter("x", errors="ignore")


def test_very_long_line():
    long_line = "é" * 1_000_000 + "x"
    data = long_line.encode() + b"\nshort\n"
    chunks = [data[i:i + 65_537] for i in range(0, len(data), 65_537)]
    lines = feed_all(chunks)
    assert len(lines) == 2
    assert lines[0] == long_line
    assert lines[1] == "short"


def test_many_lines_one_chunk():
    data = b"".join(b"line %d\n" % i for i in range(100_000))
    arr = split_lines(data)
    assert len(arr) == 100_000
    assert arr[99_999].as_py() == "line 99999"


def _chunked(data, cuts):
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


_line_bytes = st.lists(
    st.one_of(
        st.text().map(lambda s: s.encode("utf-8", "surrogatepass")),
        st.sampled_from([b"\r", b"\n", b"\r\n", b"\n\n", b"", b" "]),
    ),
    max_size=20,
).map(b"".join)


@settings(max_examples=200, deadline=None)
@given(data=_line_bytes, cuts=st.lists(st.integers(0, 10_000), max_size=8))
def test_chunked_text_equals_bytes_split(data, cuts):
    try:
        expected = reference(data)
    except UnicodeDecodeError:  # lone surrogates from st.text()
        with pytest.raises(DecodeError):
            feed_all(_chunked(data, cuts))
        return
    assert feed_all(_chunked(data, cuts)) == expected


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=200), cuts=st.lists(st.integers(0, 10_000), max_size=8))
def test_random_bytes_replace_equals_bytes_split(data, cuts):
    assert feed_all(_chunked(data, cuts), errors="replace") == reference(data, "replace")


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=200), cuts=st.lists(st.integers(0, 10_000), max_size=8))
def test_random_bytes_strict_raises_exactly_when_python_does(data, cuts):
    try:
        expected = reference(data)
    except UnicodeDecodeError:
        with pytest.raises(DecodeError):
            feed_all(_chunked(data, cuts))
    else:
        assert feed_all(_chunked(data, cuts)) == expected


def feed_through_one_buffer(chunks, errors="strict"):
    """As the socket receiver feeds: every chunk read into the same buffer, which is
    overwritten (with junk past the chunk) before the next read."""
    splitter = LineSplitter("test", errors)
    buffer = bytearray(max([len(c) for c in chunks] + [1]) + 3)
    lines = []
    for chunk in chunks:
        buffer[:] = b"\n\xff" * (len(buffer) // 2) + b"\n" * (len(buffer) % 2)
        buffer[:len(chunk)] = chunk
        out = splitter.feed(buffer, len(chunk))
        if out is not None:
            lines.extend(out.column(0).to_pylist())
    out = splitter.flush()
    if out is not None:
        lines.extend(out.column(0).to_pylist())
    return lines


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=200), cuts=st.lists(st.integers(0, 10_000), max_size=8))
def test_a_reused_read_buffer_gives_the_lines_of_its_bytes(data, cuts):
    # The lines and the unterminated rest are copied out of the buffer, and only its
    # first ``length`` bytes are read: overwriting it never changes a line.
    assert (feed_through_one_buffer(_chunked(data, cuts), errors="replace")
            == reference(data, "replace"))


def test_a_reused_read_buffer_keeps_a_line_spanning_reads():
    assert feed_through_one_buffer([b"ab", b"cd\nef", b"g", b"h\n"]) == ["abcd", "efgh"]


def test_split_lines_does_not_drop_unterminated_tail():
    try:
        result = split_lines(b"a\nb").to_pylist()
    except ValueError:
        return  # refusing is fine too
    assert result == ["a", "b"]


def test_decode_error_keeps_the_valid_lines_of_the_chunk_before_it():
    splitter = LineSplitter("src")
    assert splitter.feed(b"zero\nfir").column(0).to_pylist() == ["zero"]
    with pytest.raises(DecodeError, match=r"line 4 \(byte offset 18\)") as info:
        splitter.feed(b"st\nsecond\n\xffbad\nafter\n")
    assert info.value.lines_before.column(0).to_pylist() == ["first", "second"]
    assert info.value.lines_before.column_names == ["value"]


def test_decode_error_on_the_first_line_of_a_chunk_has_no_lines_before_it():
    with pytest.raises(DecodeError) as info:
        LineSplitter("src").feed(b"\xff\nok\n")
    assert info.value.lines_before.num_rows == 0


class CountingChunk(bytes):
    """A chunk that counts the bytes searched in it: the splitter may search each
    received byte once, never a buffer holding earlier chunks again."""

    searched = [0]

    def rfind(self, *args):  # type: ignore[override]
        CountingChunk.searched[0] += len(self)
        return super().rfind(*args)

    find = rfind  # type: ignore[assignment]


def test_a_line_without_newline_is_kept_as_its_chunks_and_searched_once(reliability):
    # Structural, not timed: quadratic work means re-searching or re-copying the
    # held bytes per chunk; here every chunk is held as received (no join) and
    # searched exactly once, so the work per chunk does not grow with the line.
    CountingChunk.searched[0] = 0
    splitter = LineSplitter("src", max_line_bytes=1 << 30)
    chunks = [CountingChunk(bytes([65 + i % 26]) * 4096) for i in range(300)]
    for chunk in chunks:
        assert splitter.feed(chunk) is None
    received = sum(len(chunk) for chunk in chunks)
    reliability.record(
        f"a line of {received / 2**20:.1f} MiB without newline, in {len(chunks)} chunks",
        "linear: each chunk held as received and searched once", bytes_received=received,
        bytes_searched=CountingChunk.searched[0], chunks_held=len(splitter._pending))
    assert CountingChunk.searched[0] == 300 * 4096
    assert len(splitter._pending) == 300
    assert all(held is fed for held, fed in zip(splitter._pending, chunks, strict=True))
    out = splitter.feed(CountingChunk(b"!\nnext"))
    assert out.column(0).to_pylist() == [b"".join(chunks).decode() + "!"]
    assert splitter._pending == [b"next"]
    assert splitter.flush().column(0).to_pylist() == ["next"]


def test_a_line_longer_than_the_limit_names_source_line_and_offset():
    splitter = LineSplitter("socket h:1", max_line_bytes=10)
    splitter.feed(b"ok\n0123")
    splitter.feed(b"456789")  # 10 bytes pending: at the limit, fine
    with pytest.raises(DecodeError, match=r"^socket h:1: line 2 \(byte offset 3\) is longer "
                                          r"than 10 bytes .*fastdstream\.text\.maxLineBytes"):
        splitter.feed(b"X")
    # Within one chunk (a file is fed whole): the lines before it come with the error.
    with pytest.raises(DecodeError, match=r"^f: line 3 \(byte offset 5\) is longer than 4 "
                                          r"bytes \(5 bytes\)") as info:
        LineSplitter("f", max_line_bytes=4).feed(b"a\nbb\nccccc\nd\n")
    assert info.value.lines_before.column(0).to_pylist() == ["a", "bb"]
    # An over-long tail after the chunk's last newline: the lines before it come too.
    with pytest.raises(DecodeError, match=r"line 2 \(byte offset 2\)") as info:
        LineSplitter("f", max_line_bytes=4).feed(b"a\nccccc")
    assert info.value.lines_before.column(0).to_pylist() == ["a"]
    # \r\n: the \r is not part of the line.
    assert feed_all([b"abcd\r\n"]) == ["abcd"]
    assert LineSplitter("f", max_line_bytes=4).feed(b"abcd\r\n").num_rows == 1
    with pytest.raises(ValueError, match="maxLineBytes"):
        LineSplitter("f", max_line_bytes=0)
