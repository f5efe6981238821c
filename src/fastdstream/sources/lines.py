"""Bytes to Arrow lines, with no Python object per line.

Used by the socket receiver and the text file stream: a chunk of bytes becomes a
``value`` string column; the bytes after the last newline wait for the next
chunk. Lines end at ``\\n`` (a ``\\r`` before it is dropped). Bytes that are not
UTF-8 never vanish: the ``strict`` policy raises :class:`DecodeError` naming the
source, line number and byte offset; ``replace`` substitutes U+FFFD, as
``bytes.decode(errors="replace")`` does, and logs a warning.
"""

from __future__ import annotations

import logging

import numpy as np
import pyarrow as pa

from fastdstream import _core
from fastdstream.conf import MAX_LINE_BYTES
from fastdstream.errors import DecodeError

log = logging.getLogger(__name__)

DECODE_POLICIES = ("strict", "replace")
DEFAULT_MAX_LINE_BYTES = 64 << 20
_CR = 13


class LineSplitter:
    """Incremental splitter for one source of text (a connection, a file).

    The unterminated line is kept as the chunks it arrived in and joined once, when
    its newline comes; only each new chunk is searched for a newline. So a line of
    any length costs time linear in its length (concatenating per chunk and
    searching the whole buffer was quadratic: 80 MB took 43 s).

    A line longer than ``max_line_bytes`` is an error (:class:`DecodeError`) naming
    the source, line and byte offset, as bytes that are not UTF-8 are. When ``feed``
    raises, the complete lines before the bad one are in the error's
    ``lines_before``, for the caller to store before it stops.

    Examples
    --------
    >>> splitter = LineSplitter("example")
    >>> splitter.feed(b"a b\\nc").column(0).to_pylist()
    ['a b']
    >>> splitter.flush().column(0).to_pylist()
    ['c']
    """

    def __init__(self, source: str, errors: str = "strict",
                 max_line_bytes: int = DEFAULT_MAX_LINE_BYTES):
        if errors not in DECODE_POLICIES:
            raise ValueError(f"decode error policy {errors!r}: expected one of {DECODE_POLICIES}")
        if max_line_bytes < 1:
            raise ValueError(f"{MAX_LINE_BYTES}={max_line_bytes}: must be positive")
        self.source = source
        self.errors = errors
        self.max_line_bytes = max_line_bytes
        self._pending: list[bytes] = []  # the unterminated line, as the chunks it came in
        self._pending_len = 0
        self.lines_seen = 0
        self.bytes_seen = 0  # offset of the first pending byte in the source

    def feed(self, chunk: bytes | bytearray, length: int | None = None) -> pa.Table | None:
        """The complete lines of what came so far and ``chunk[:length]`` (all of
        ``chunk`` by default), or None when no line ended in it.

        ``chunk`` may be a buffer its caller reuses (a receiver's read buffer): the
        lines are copied out of it, and so is the unterminated rest.
        """
        end = len(chunk) if length is None else length
        last_nl = chunk.rfind(b"\n", 0, end)
        if last_nl < 0:
            if end:
                # bytes are immutable: held as they came; a buffer is copied.
                held = (chunk if isinstance(chunk, bytes) and end == len(chunk)
                        else bytes(chunk[:end]))
                self._pending.append(held)
                self._pending_len += end
                self._check_pending(None)
            return None
        # The complete lines are head + chunk[:last_nl + 1]; the kernel reads the two
        # parts in place, so only a line spanning chunks is ever joined.
        head = self._take_pending()
        rest = bytes(chunk[last_nl + 1:end])
        self._pending = [rest] if rest else []
        self._pending_len = len(rest)
        table = self._emit(head, chunk, last_nl + 1, final=False)
        self._check_pending(table)
        return table

    def flush(self) -> pa.Table | None:
        """Emit what is left after the last newline as a final line (end of input)."""
        if not self._pending:
            return None
        head = self._take_pending()
        self._pending, self._pending_len = [], 0
        return self._emit(head, b"\n", 1, final=True)

    def _take_pending(self) -> bytes:
        pending = self._pending
        if not pending:
            return b""
        return pending[0] if len(pending) == 1 else b"".join(pending)

    def _check_pending(self, lines_before: pa.Table | None) -> None:
        if self._pending_len > self.max_line_bytes:
            raise DecodeError(
                f"{self.source}: line {self.lines_seen + 1} (byte offset {self.bytes_seen}) "
                f"is longer than {self.max_line_bytes} bytes ({self._pending_len} bytes "
                f"without a newline so far); raise {MAX_LINE_BYTES} if lines this long "
                "are expected", lines_before)

    def _emit(self, head: bytes, data: bytes | bytearray, end: int, final: bool
              ) -> pa.Table:
        array = _split(head, data, end, self.source, self.lines_seen, self.bytes_seen,
                       self.errors, self.max_line_bytes)
        self.lines_seen += len(array)
        self.bytes_seen += len(head) + end - (1 if final else 0)
        return pa.table({"value": array})


def split_lines(data: bytes, source: str = "<bytes>", first_line: int = 0,
                first_offset: int = 0, errors: str = "strict",
                max_line_bytes: int | None = None) -> pa.Array:
    """Split ``data`` (which ends with a newline) into a string array of its lines.

    A line longer than ``max_line_bytes``, or (policy ``strict``) not UTF-8, raises
    :class:`DecodeError` whose ``lines_before`` holds the lines before it.

    Examples
    --------
    >>> split_lines(b"a b\\r\\n\\nc\\n").to_pylist()
    ['a b', '', 'c']
    """
    if data and not data.endswith(b"\n"):
        # The caller keeps an unterminated tail for the next chunk (LineSplitter does);
        # splitting it here would silently lose it.
        raise ValueError(f"{source}: split_lines needs data that ends with a newline")
    return _split(b"", data, len(data), source, first_line, first_offset, errors,
                  max_line_bytes)


def _split(head: bytes, data: bytes | bytearray, end: int, source: str, first_line: int,
           first_offset: int, errors: str, max_line_bytes: int | None) -> pa.Array:
    """The lines of ``head + data[:end]``: the compiled kernel splits and validates
    them without the GIL in one pass; errors take the slow paths below."""
    offsets, values, lines, invalid, too_long, stop = _core.split_lines(
        head, data, end, -1 if max_line_bytes is None else max_line_bytes,
        errors == "strict")
    array = _string_array(offsets, values, lines)
    if invalid < 0 and too_long < 0:
        return array
    text = head + bytes(data[:end])  # error paths only: one join is fine here
    line_end = text.find(b"\n", stop)
    raw = text[stop:line_end - (1 if line_end > stop and text[line_end - 1] == _CR else 0)]
    if too_long >= 0:
        if invalid >= 0:  # policy replace: the lines before it, bad bytes replaced
            array = _decode_replacing(text[:stop], source)
        raise DecodeError(
            f"{source}: line {first_line + too_long + 1} (byte offset {first_offset + stop}) "
            f"is longer than {max_line_bytes} bytes ({len(raw)} bytes); raise "
            f"{MAX_LINE_BYTES} if lines this long are expected",
            pa.table({"value": array}))
    if errors == "strict":
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError(
                f"{source}: line {first_line + invalid + 1} (byte offset "
                f"{first_offset + stop + exc.start}) is not valid UTF-8: {exc.reason} "
                f"in {raw[max(0, exc.start - 8): exc.end + 8]!r}; set "
                "fastdstream.text.decodeErrors=replace to substitute U+FFFD instead",
                pa.table({"value": array}),
            ) from exc
        raise AssertionError(f"{source}: the kernel and Python disagree on UTF-8 of {raw!r}")
    return _decode_replacing(text, source)


def _string_array(offsets: np.ndarray, values: np.ndarray, lines: int) -> pa.Array:
    """Arrow strings over the kernel's buffers, without a copy."""
    used = int(offsets[lines])
    large = used >= 2**31
    if not large and offsets.dtype != np.int32:
        offsets = offsets[: lines + 1].astype(np.int32)
    return pa.Array.from_buffers(
        pa.large_string() if large else pa.string(), lines,
        [None, pa.py_buffer(offsets[: lines + 1]), pa.py_buffer(values[:used])],
    )


def _decode_replacing(text: bytes, source: str) -> pa.Array:
    """Policy ``replace``: bad bytes become U+FFFD, as ``bytes.decode`` does; one
    Python object per line is fine on this path, taken only for bad input."""
    lines = []
    bad = 0
    for raw_line in text.split(b"\n")[:-1]:
        raw = raw_line[:-1] if raw_line.endswith(b"\r") else raw_line
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            bad += 1
            lines.append(raw.decode("utf-8", errors="replace"))
    if bad:
        log.warning("%s: %d line(s) were not valid UTF-8; bad bytes replaced by U+FFFD",
                    source, bad)
    return pa.array(lines, type=pa.string())
