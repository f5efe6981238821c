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

from fastdstream.errors import DecodeError

log = logging.getLogger(__name__)

DECODE_POLICIES = ("strict", "replace")
_NL, _CR = 10, 13


class LineSplitter:
    """Incremental splitter for one source of text (a connection, a file).

    Examples
    --------
    >>> splitter = LineSplitter("example")
    >>> splitter.feed(b"a b\\nc").column(0).to_pylist()
    ['a b']
    >>> splitter.flush().column(0).to_pylist()
    ['c']
    """

    def __init__(self, source: str, errors: str = "strict"):
        if errors not in DECODE_POLICIES:
            raise ValueError(f"decode error policy {errors!r}: expected one of {DECODE_POLICIES}")
        self.source = source
        self.errors = errors
        self._rest = b""
        self.lines_seen = 0
        self.bytes_seen = 0  # offset of the first byte of _rest in the source

    def feed(self, chunk: bytes) -> pa.Table | None:
        data = self._rest + chunk if self._rest else chunk
        last_nl = data.rfind(b"\n")
        if last_nl < 0:
            self._rest = data
            return None
        complete, self._rest = data[: last_nl + 1], data[last_nl + 1:]
        return self._emit(complete, final=False)

    def flush(self) -> pa.Table | None:
        """Emit what is left after the last newline as a final line (end of input)."""
        if not self._rest:
            return None
        data, self._rest = self._rest, b""
        return self._emit(data + b"\n", final=True)

    def _emit(self, complete: bytes, final: bool) -> pa.Table:
        array = split_lines(complete, self.source, self.lines_seen, self.bytes_seen, self.errors)
        self.lines_seen += len(array)
        self.bytes_seen += len(complete) - (1 if final else 0)
        return pa.table({"value": array})


def split_lines(data: bytes, source: str = "<bytes>", first_line: int = 0,
                first_offset: int = 0, errors: str = "strict") -> pa.Array:
    """Split ``data`` (which ends with a newline) into a string array of its lines."""
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
    keep = buf != _NL
    keep[ends[has_cr] - 1] = False
    values = buf[keep]
    lengths = ends - starts - has_cr
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
                    "fastdstream.text.decodeErrors=replace to substitute U+FFFD instead"
                ) from exc
            bad += 1
            lines.append(raw.decode("utf-8", errors="replace"))
    log.warning("%s: %d line(s) were not valid UTF-8; bad bytes replaced by U+FFFD", source, bad)
    return pa.array(lines, type=pa.string())
