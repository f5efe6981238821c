# Hash partitioning: partition id = hash % num_partitions per row, and a stable
# counting sort that turns partition ids into one gather index for Table.take.

ctypedef fused offset_t:
    int32_t
    int64_t


cdef inline int32_t _reduce_hash(uint64_t h, uint64_t n, uint64_t mask) noexcept nogil:
    # Same result as h % n; the mask shortcut avoids a 64-bit division when n is a
    # power of two (the common case for partition counts).
    if mask:
        return <int32_t>(h & mask)
    return <int32_t>(h % n)


cdef uint64_t _pow2_mask(uint64_t n):
    if n > 1 and (n & (n - 1)) == 0:
        return n - 1
    return 0


def _check_partitions(int64_t num_partitions):
    if num_partitions < 1 or num_partitions > INT32_MAX:
        raise ValueError(
            f"num_partitions must be in [1, {INT32_MAX}], got {num_partitions}")


def hash_binary(const offset_t[::1] offsets not None, const uint8_t[::1] data,
                const uint8_t[::1] validity, int64_t offset, int64_t length):
    """uint64 hash per row of a string/binary array given its Arrow buffers."""
    out = np.empty(length, dtype=np.uint64)
    cdef uint64_t[::1] res = out
    cdef const uint8_t* d = _u8_ptr(data)
    cdef const uint8_t* v = _u8_ptr(validity)
    cdef const offset_t* o = &offsets[offset] if length > 0 else NULL
    cdef int64_t i
    with nogil:
        for i in range(length):
            if _is_valid(v, offset + i):
                res[i] = fds_hash_bytes(d + o[i], o[i + 1] - o[i])
            else:
                res[i] = FDS_NULL_HASH
    return out


def hash_int64_array(const int64_t[::1] values not None, const uint8_t[::1] validity,
                     int64_t offset, int64_t length):
    """uint64 hash per row of an int64 array given its Arrow buffers."""
    out = np.empty(length, dtype=np.uint64)
    cdef uint64_t[::1] res = out
    cdef const uint8_t* v = _u8_ptr(validity)
    cdef const int64_t* x = &values[offset] if length > 0 else NULL
    cdef int64_t i
    with nogil:
        for i in range(length):
            if _is_valid(v, offset + i):
                res[i] = fds_hash_int64(x[i])
            else:
                res[i] = FDS_NULL_HASH
    return out


def partition_ids_binary(const offset_t[::1] offsets not None, const uint8_t[::1] data,
                         const uint8_t[::1] validity, int64_t offset, int64_t length,
                         int64_t num_partitions, int32_t[::1] out not None):
    """Write hash(row) % num_partitions for a string/binary array into ``out``."""
    _check_partitions(num_partitions)
    if out.shape[0] < length:
        raise ValueError("output buffer too short")
    cdef const uint8_t* d = _u8_ptr(data)
    cdef const uint8_t* v = _u8_ptr(validity)
    cdef const offset_t* o = &offsets[offset] if length > 0 else NULL
    cdef uint64_t n = <uint64_t>num_partitions
    cdef uint64_t mask = _pow2_mask(n)
    cdef int64_t i
    cdef uint64_t h
    if n == 1:
        out[:length] = 0
        return
    with nogil:
        for i in range(length):
            if _is_valid(v, offset + i):
                h = fds_hash_bytes(d + o[i], o[i + 1] - o[i])
            else:
                h = FDS_NULL_HASH
            out[i] = _reduce_hash(h, n, mask)


def partition_ids_int64(const int64_t[::1] values not None, const uint8_t[::1] validity,
                        int64_t offset, int64_t length, int64_t num_partitions,
                        int32_t[::1] out not None):
    """Write hash(row) % num_partitions for an int64 array into ``out``."""
    _check_partitions(num_partitions)
    if out.shape[0] < length:
        raise ValueError("output buffer too short")
    cdef const uint8_t* v = _u8_ptr(validity)
    cdef const int64_t* x = &values[offset] if length > 0 else NULL
    cdef uint64_t n = <uint64_t>num_partitions
    cdef uint64_t mask = _pow2_mask(n)
    cdef int64_t i
    cdef uint64_t h
    if n == 1:
        out[:length] = 0
        return
    with nogil:
        for i in range(length):
            if _is_valid(v, offset + i):
                h = fds_hash_int64(x[i])
            else:
                h = FDS_NULL_HASH
            out[i] = _reduce_hash(h, n, mask)


def partition_order(const int32_t[::1] pids not None, int64_t num_partitions):
    """Stable counting sort of rows by partition id.

    Returns ``(order, bounds)``: ``order`` (int64) lists row indices partition by
    partition, original order kept inside each; partition ``p`` is
    ``order[bounds[p]:bounds[p + 1]]``.
    """
    _check_partitions(num_partitions)
    cdef int64_t n = pids.shape[0]
    order_arr = np.empty(n, dtype=np.int64)
    bounds_arr = np.zeros(num_partitions + 1, dtype=np.int64)
    cdef int64_t[::1] order = order_arr
    cdef int64_t[::1] bounds = bounds_arr
    cdef int64_t i, p, bad = -1
    cdef int64_t* cursor = <int64_t*>malloc(num_partitions * sizeof(int64_t))
    if cursor == NULL:
        raise MemoryError()
    try:
        with nogil:
            for i in range(n):
                p = pids[i]
                if p < 0 or p >= num_partitions:
                    bad = i
                    break
                bounds[p + 1] += 1
            if bad < 0:
                for p in range(num_partitions):
                    bounds[p + 1] += bounds[p]
                    cursor[p] = bounds[p]
                for i in range(n):
                    p = pids[i]
                    order[cursor[p]] = i
                    cursor[p] += 1
    finally:
        free(cursor)
    if bad >= 0:
        raise ValueError(f"partition id {pids[bad]} at row {bad} is outside "
                         f"[0, {num_partitions})")
    return order_arr, bounds_arr


# -- Python keys -----------------------------------------------------------------------

cdef extern from "Python.h":
    # Declared without Cython's error check: NULL (lone surrogates) is handled here.
    const char* _utf8_and_size "PyUnicode_AsUTF8AndSize" (object s, Py_ssize_t* size)

cdef inline bint _object_hash(object key, uint64_t* h) except -1:
    # The core's hash of a str (as UTF-8), bytes, int64 or None key -- what
    # portable_hash gives them -- or 0 when the caller must ask portable_hash.
    cdef const char* p
    cdef Py_ssize_t n
    cdef long long v
    cdef int overflow = 0
    if key is None:
        h[0] = FDS_NULL_HASH
        return 1
    if type(key) is str:
        # The UTF-8 form is cached in the str object (ASCII strings are their own).
        p = _utf8_and_size(key, &n)
        if p == NULL:  # lone surrogates: portable_hash encodes them with surrogatepass
            PyErr_Clear()
            return 0
        h[0] = fds_hash_bytes(<const unsigned char*>p, n)
        return 1
    if type(key) is bytes:
        h[0] = fds_hash_bytes(<const unsigned char*>PyBytes_AS_STRING(key),
                              PyBytes_GET_SIZE(key))
        return 1
    if type(key) is int or type(key) is bool:
        v = PyLong_AsLongLongAndOverflow(key, &overflow)
        if overflow:
            return 0
        h[0] = fds_hash_int64(<int64_t>v)
        return 1
    return 0


def partition_items(combiners, int64_t num_partitions, fallback):
    """Split a dict (or subclass) into ``num_partitions`` lists of ``(key, value)`` pairs.

    Key ``k`` goes to list ``hash(k) % num_partitions``: the core's hash for str, bytes,
    int64 and None keys, ``fallback(k)`` (portable_hash) for any other key. Pairs keep
    the dict's order within each list.
    """
    _check_partitions(num_partitions)
    cdef uint64_t n = <uint64_t>num_partitions
    cdef uint64_t h
    cdef list buckets = [[] for _ in range(num_partitions)]
    cdef Py_ssize_t p
    for k, c in combiners.items():
        if _object_hash(k, &h):
            p = <Py_ssize_t>(h % n)
        else:
            p = fallback(k) % num_partitions
        (<list>buckets[p]).append((k, c))
    return buckets
