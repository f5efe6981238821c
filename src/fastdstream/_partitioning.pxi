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
