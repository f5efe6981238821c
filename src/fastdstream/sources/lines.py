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

from fastdstream.conf import MAX_LINE_BYTES
from fastdstream.errors import DecodeError

log = logging.getLogger(__name__)

DECODE_POLICIES = ("strict", "replace")
DEFAULT_MAX_LINE_BYTES = 64 << 20
_NL, _CR = 10, 13


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

    def feed(self, chunk: bytes) -> pa.Table | None:
        last_nl = chunk.rfind(b"\n")
        if last_nl < 0:
            if chunk:
                self._pending.append(chunk)
                self._pending_len += len(chunk)
                self._check_pending(None)
            return None
        head = chunk if last_nl + 1 == len(chunk) else chunk[: last_nl + 1]
        complete = b"".join([*self._pending, head]) if self._pending else head
        rest = chunk[last_nl + 1:]
        self._pending = [rest] if rest else []
        self._pending_len = len(rest)
        table = self._emit(complete, final=False)
        self._check_pending(table)
        return table

    def flush(self) -> pa.Table | None:
        """Emit what is left after the last newline as a final line (end of input)."""
        if not self._pending:
            return None
        data = b"".join([*self._pending, b"\n"])
        self._pending, self._pending_len = [], 0
        return self._emit(data, final=True)

    def _check_pending(self, lines_before: pa.Table | None) -> None:
        if self._pending_len > self.max_line_bytes:
            raise DecodeError(
                f"{self.source}: line {self.lines_seen + 1} (byte offset {self.bytes_seen}) "
                f"is longer than {self.max_line_bytes} bytes ({self._pending_len} bytes "
                f"without a newline so far); raise {MAX_LINE_BYTES} if lines this long "
                "are expected", lines_before)

    def _emit(self, complete: bytes, final: bool) -> pa.Table:
        array = split_lines(complete, self.source, self.lines_seen, self.bytes_seen,
                            self.errors, self.max_line_bytes)
        self.lines_seen += len(array)
        self.bytes_seen += len(complete) - (1 if final else 0)
        return pa.table({"value": array})


def split_lines(data: bytes, source: str = "<bytes>", first_line: int = 0,
                first_offset: int = 0, errors: str = "strict",
                max_line_bytes: int | None = None) -> pa.Array:
    """Split ``data`` (which ends with a newline) into a string array of its lines.

    A line longer than ``max_line_bytes``, or (policy ``strict``) not UTF-8, raises
    :class:`DecodeError` whose ``lines_before`` holds the lines before it.
    """
    if data and not data.endswith(b"\n"):
        # The caller keeps an unterminated tail for the next chunk (LineSplitter does);
        # splitting it here would silently lose it.
        raise ValueError(f"{source}: split_lines needs data that ends with a newline")
    buf = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(buf == _NL)
    starts = np.empty_like(ends)
    starts[:1] = 0
    starts[1:] = ends[:-1] + 1
    has_cr = (ends > starts) & (buf[np.maximum(ends - 1, 0)] == _CR)
    lengths = ends - starts - has_cr
    if max_line_bytes is not None and len(lengths) and lengths.max() > max_line_bytes:
        i = int(np.argmax(lengths > max_line_bytes))
        start = int(starts[i])
        before = split_lines(data[:start], source, first_line, first_offset, errors)
        raise DecodeError(
            f"{source}: line {first_line + i + 1} (byte offset {first_offset + start}) is "
            f"longer than {max_line_bytes} bytes ({int(lengths[i])} bytes); raise "
            f"{MAX_LINE_BYTES} if lines this long are expected",
            pa.table({"value": before}))
    keep = buf != _NL
    keep[ends[has_cr] - 1] = False
    values = buf[keep]
    large = values.size >= 2**31
    offsets = np.zeros(len(ends) + 1, dtype=np.int64 if large else np.int32)
    np.cumsum(lengths, out=offsets[1:])
    array = pa.Array.from_buffers(
        pa.large_string() if large else pa.string(), len(ends),
        [None, pa.py_buffer(offsets), pa.py_buffer(values)],
    )
    try:
        array.validate(full=True)
        return array
    except pa.ArrowInvalid:
        pass
    # Error path only: find the offending line(s), one Python object per line is fine here.
    lines = []
    bad = 0
    for i, (start, end) in enumerate(zip(starts.tolist(), (ends - has_cr).tolist(),
                                         strict=True)):
        raw = data[start:end]
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            if errors == "strict":
                raise DecodeError(
                    f"{source}: line {first_line + i + 1} (byte offset "
                    f"{first_offset + start + exc.start}) is not valid UTF-8: {exc.reason} "
                    f"in {raw[max(0, exc.start - 8): exc.end + 8]!r}; set "
                    "fastdstream.text.decodeErrors=replace to substitute U+FFFD instead",
                    pa.table({"value": pa.array(lines, type=pa.string())}),
                ) from exc
            bad += 1
            lines.append(raw.decode("utf-8", errors="replace"))
    log.warning("%s: %d line(s) were not valid UTF-8; bad bytes replaced by U+FFFD", source, bad)
    return pa.array(lines, type=pa.string())
