# Text bytes to the buffers of an Arrow string array: line splitting and strict UTF-8
# validation in one pass, without the GIL (for inputs large enough to be worth it).
#
# The input is ``head + data[:end]`` where ``head`` is the unterminated line a source
# kept from earlier chunks (it holds no newline) and ``data[:end]`` ends with a newline;
# taking the two parts spares the caller a join of the whole chunk. Lines end at
# ``\n``; one ``\r`` right before it is dropped. Each line is copied once into the
# values buffer (the only copy: Arrow's offsets cannot skip the separators) and
# validated there, so a line spanning ``head`` and ``data`` needs no special case.
# Newlines are ASCII and never part of a multi-byte sequence, so validating line by
# line accepts exactly the bytes that ``bytes.decode("utf-8")`` accepts.
#
# Work is linear in the input: one counting pass (sizes the offsets exactly), then one
# pass that finds each newline with memchr, copies and validates the line.

from libc.string cimport memchr

cdef extern from "Python.h":
    const Py_ssize_t PY_SSIZE_T_MAX
    ctypedef struct PyThreadState
    PyThreadState* PyEval_SaveThread()
    void PyEval_RestoreThread(PyThreadState*)

# The GIL is given up only around passes long enough to be worth it. Beside threads
# running Python (the lambda path's tasks), a thread that gives it up waits up to a
# switch interval (5 ms) per such thread to get it back: a 64 KiB split (~30 us) that
# gave it up twice cost up to 20 ms. Below these sizes a pass is shorter than ~0.2 ms.
cdef Py_ssize_t _COUNT_NOGIL_MIN_BYTES = 8 << 20  # the newline count runs at GB/s
cdef Py_ssize_t _SPLIT_NOGIL_MIN_BYTES = 256 << 10


cdef inline bint _utf8_valid(const uint8_t* p, Py_ssize_t n) noexcept nogil:
    # The rules of CPython's decoder (RFC 3629): no overlong forms, no surrogates
    # (U+D800..U+DFFF), nothing above U+10FFFF, no truncated sequence.
    cdef Py_ssize_t i = 0
    cdef uint64_t word
    cdef uint8_t c, c1
    while i < n:
        # Text is mostly ASCII: eight bytes at a time until a high bit shows.
        while i + 8 <= n:
            memcpy(&word, p + i, 8)
            if word & 0x8080808080808080ULL:
                break
            i += 8
        if i >= n:
            break
        c = p[i]
        if c < 0x80:
            i += 1
        elif c < 0xC2:  # a continuation byte first, or an overlong 2-byte form
            return False
        elif c < 0xE0:
            if i + 1 >= n or (p[i + 1] & 0xC0) != 0x80:
                return False
            i += 2
        elif c < 0xF0:
            if i + 2 >= n:
                return False
            c1 = p[i + 1]
            if c == 0xE0:
                if c1 < 0xA0 or c1 > 0xBF:  # overlong
                    return False
            elif c == 0xED:
                if c1 < 0x80 or c1 > 0x9F:  # surrogate
                    return False
            elif (c1 & 0xC0) != 0x80:
                return False
            if (p[i + 2] & 0xC0) != 0x80:
                return False
            i += 3
        elif c < 0xF5:
            if i + 3 >= n:
                return False
            c1 = p[i + 1]
            if c == 0xF0:
                if c1 < 0x90 or c1 > 0xBF:  # overlong
                    return False
            elif c == 0xF4:
                if c1 < 0x80 or c1 > 0x8F:  # above U+10FFFF
                    return False
            elif (c1 & 0xC0) != 0x80:
                return False
            if (p[i + 2] & 0xC0) != 0x80 or (p[i + 3] & 0xC0) != 0x80:
                return False
            i += 4
        else:
            return False
    return True


@cython.boundscheck(False)
@cython.wraparound(False)
def split_lines(const uint8_t[::1] head, const uint8_t[::1] data, Py_ssize_t end,
                Py_ssize_t max_line_bytes, bint stop_at_invalid):
    """Split ``head + data[:end]`` (ending with a newline) into Arrow string buffers.

    Returns ``(offsets, values, lines, invalid, too_long, stop)``: ``offsets`` (int32,
    or int64 when the values might pass 2**31 - 1 bytes) and ``values`` (uint8, with
    spare capacity: ``offsets[lines]`` bytes are used) hold the first ``lines``
    lines. ``invalid`` is the index of the first line that is not UTF-8 (-1 if none);
    ``too_long`` the index of a line longer than ``max_line_bytes`` (-1 if none), where
    the split stopped; with ``stop_at_invalid`` it also stops at the first invalid
    line. ``stop`` is the byte offset (in ``head + data``) where the line it stopped
    at starts, or the input's length.
    """
    cdef Py_ssize_t head_len = head.shape[0]
    cdef Py_ssize_t total, n_lines = 0, i
    cdef const uint8_t* src
    cdef const uint8_t* nl
    if end < 0 or end > data.shape[0]:
        raise ValueError(f"end {end} outside the data's {data.shape[0]} bytes")
    if end == 0 and head_len:
        raise ValueError("split_lines needs data that ends with a newline")
    if end and data[end - 1] != 10:
        raise ValueError("split_lines needs data that ends with a newline")
    if max_line_bytes < 0:
        max_line_bytes = PY_SSIZE_T_MAX
    total = head_len + end
    src = &data[0] if end else NULL
    # Without the GIL only for a large input (see _COUNT_NOGIL_MIN_BYTES); the passes
    # touch no Python object, so giving it up by hand around them is safe.
    cdef PyThreadState* released = PyEval_SaveThread() if end >= _COUNT_NOGIL_MIN_BYTES else NULL
    # Compilers vectorise this count; it sizes the offsets exactly.
    for i in range(end):
        n_lines += src[i] == 10
    if released != NULL:
        PyEval_RestoreThread(released)
    # Every line loses at least its newline, so ``total - n_lines`` bounds the values.
    cdef bint wide = total - n_lines > INT32_MAX
    offsets_arr = np.empty(n_lines + 1, dtype=np.int64 if wide else np.int32)
    values_arr = np.empty(total - n_lines, dtype=np.uint8)
    cdef int32_t[::1] off32
    cdef int64_t[::1] off64
    cdef int32_t* o32 = NULL
    cdef int64_t* o64 = NULL
    if wide:
        off64 = offsets_arr
        o64 = &off64[0]
    else:
        off32 = offsets_arr
        o32 = &off32[0]
    cdef uint8_t[::1] values_view = values_arr
    cdef uint8_t* out = &values_view[0] if total - n_lines else NULL
    cdef Py_ssize_t out_len = 0, line_start, length, pos = 0, line = 0, stop = total
    cdef Py_ssize_t invalid = -1, too_long = -1, nl_at
    cdef bint first = True
    released = PyEval_SaveThread() if total >= _SPLIT_NOGIL_MIN_BYTES else NULL
    if wide:
        o64[0] = 0
    else:
        o32[0] = 0
    while line < n_lines:
        nl = <const uint8_t*>memchr(src + pos, 10, end - pos)
        nl_at = nl - src
        line_start = out_len
        length = nl_at - pos
        if first and head_len:
            length += head_len
        if length and (src[nl_at - 1] == 13 if nl_at > pos else head[head_len - 1] == 13):
            length -= 1  # the \r of a \r\n
        if length > max_line_bytes:
            too_long = line
            stop = 0 if first else head_len + pos
            break
        if first and head_len:
            if length <= head_len:
                memcpy(out, &head[0], length)
            else:
                memcpy(out, &head[0], head_len)
                memcpy(out + head_len, src, length - head_len)
        elif length:
            memcpy(out + out_len, src + pos, length)
        out_len += length
        if invalid < 0 and not _utf8_valid(out + line_start, length):
            invalid = line
            if stop_at_invalid:
                out_len = line_start
                stop = 0 if first else head_len + pos
                break
        line += 1
        if wide:
            o64[line] = out_len
        else:
            o32[line] = out_len
        pos = nl_at + 1
        first = False
    if released != NULL:
        PyEval_RestoreThread(released)
    return offsets_arr, values_arr, line, invalid, too_long, stop


# Words: ``str.split()`` over a string column, the word count's flatMap. Whitespace is
# Python's (``str.isspace``): the ASCII bytes below, U+0085 and U+00A0 (two bytes),
# U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F and U+3000 (three bytes). The
# input is valid UTF-8 (an Arrow string column), so matching those byte sequences at
# each position is exact: a continuation byte never starts one. Each word is copied
# once; the offsets are sized from a bound and trimmed by one copy at the end.

cdef uint8_t _ASCII_SPACE[128]
for _b in range(128):
    _ASCII_SPACE[_b] = 1 if _b in (9, 10, 11, 12, 13, 28, 29, 30, 31, 32) else 0

# Per byte: 0 inside a word for sure, 1 ASCII whitespace, 2 a lead byte of a
# multi-byte whitespace character (U+0085, U+00A0, U+1680, U+2000.., U+3000).
cdef uint8_t _BYTE_CLASS[256]
for _b in range(256):
    _BYTE_CLASS[_b] = (_ASCII_SPACE[_b] if _b < 128
                       else 2 if _b == 0xC2 or 0xE1 <= _b <= 0xE3 else 0)


cdef inline Py_ssize_t _space_len(const uint8_t* p, Py_ssize_t j, Py_ssize_t e) noexcept nogil:
    # Length of the whitespace character at p[j] (0: not whitespace).
    cdef uint8_t c = p[j], c1, c2
    if c < 0x80:
        return _ASCII_SPACE[c]
    if c == 0xC2:
        if j + 1 < e and (p[j + 1] == 0x85 or p[j + 1] == 0xA0):
            return 2
        return 0
    if c < 0xE1 or c > 0xE3 or j + 2 >= e:
        return 0
    c1 = p[j + 1]
    c2 = p[j + 2]
    if c == 0xE1:
        return 3 if c1 == 0x9A and c2 == 0x80 else 0
    if c == 0xE3:
        return 3 if c1 == 0x80 and c2 == 0x80 else 0
    if c1 == 0x80:  # 0xE2
        return 3 if (0x80 <= c2 <= 0x8A or c2 == 0xA8 or c2 == 0xA9 or c2 == 0xAF) else 0
    return 3 if c1 == 0x81 and c2 == 0x9F else 0


@cython.boundscheck(False)
@cython.wraparound(False)
def split_words(offsets, const uint8_t[::1] data, Py_ssize_t offset, Py_ssize_t length):
    """``str.split()`` of every string of a string column (no nulls), flattened.

    ``offsets`` (int32 or int64) and ``data`` are the column's buffers, ``offset`` and
    ``length`` its slice. Returns ``(word_offsets, values, words)``: offsets of the same
    width, exactly ``words + 1`` long, and the values (uint8, with spare capacity).
    """
    cdef bint wide = offsets.dtype == np.int64
    cdef const int32_t[::1] in32
    cdef const int64_t[::1] in64
    if wide:
        in64 = offsets
        if offset < 0 or length < 0 or offset + length + 1 > in64.shape[0]:
            raise ValueError("offset/length outside the offsets buffer")
    else:
        in32 = offsets
        if offset < 0 or length < 0 or offset + length + 1 > in32.shape[0]:
            raise ValueError("offset/length outside the offsets buffer")
    cdef Py_ssize_t first = (in64[offset] if wide else in32[offset]) if length else 0
    cdef Py_ssize_t last = (in64[offset + length] if wide else in32[offset + length]) if length else 0
    if first < 0 or last < first or last > data.shape[0]:
        raise ValueError("offsets outside the data buffer")
    # A word and the whitespace after it take at least two bytes, and each string adds
    # at most one word more than that: the bound sizes the scratch offsets.
    cdef Py_ssize_t bound = (last - first) // 2 + length + 1
    scratch = np.empty(bound, dtype=np.int64 if wide else np.int32)
    values_arr = np.empty(last - first, dtype=np.uint8)
    cdef int32_t[::1] o32
    cdef int64_t[::1] o64
    cdef int32_t* po32 = NULL
    cdef int64_t* po64 = NULL
    cdef const int32_t* pi32 = NULL
    cdef const int64_t* pi64 = NULL
    if wide:
        o64 = scratch
        po64 = &o64[0]
        if length:
            pi64 = &in64[0]
    else:
        o32 = scratch
        po32 = &o32[0]
        if length:
            pi32 = &in32[0]
    cdef uint8_t[::1] values_view = values_arr
    cdef uint8_t* out = &values_view[0] if last > first else NULL
    cdef const uint8_t* src = &data[0] if data.shape[0] else NULL
    cdef Py_ssize_t i, j, s, e, k, out_len = 0, words = 0
    with nogil:
        if wide:
            po64[0] = 0
        else:
            po32[0] = 0
        for i in range(offset, offset + length):
            if wide:
                j = pi64[i]
                e = pi64[i + 1]
            else:
                j = pi32[i]
                e = pi32[i + 1]
            while j < e:
                k = _space_len(src, j, e)
                if k:
                    j += k
                    continue
                # Most bytes are neither ASCII whitespace nor a byte that may start a
                # Unicode space: one table load each, _space_len for the rest. Words
                # are short: copied as scanned, not by a memcpy call each.
                out[out_len] = src[j]
                out_len += 1
                j += 1
                while j < e and (_BYTE_CLASS[src[j]] == 0
                                 or (_BYTE_CLASS[src[j]] == 2
                                     and _space_len(src, j, e) == 0)):
                    out[out_len] = src[j]
                    out_len += 1
                    j += 1
                words += 1
                if wide:
                    po64[words] = out_len
                else:
                    po32[words] = out_len
    return scratch[: words + 1].copy(), values_arr, words
