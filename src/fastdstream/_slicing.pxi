# Batch slicing: cutting an arrival-ordered stream of records into blocks by block
# interval (time) or by count.


cdef inline int64_t _floor_div(int64_t a, int64_t b) noexcept nogil:
    # C division truncates toward zero; records before start_ms must land in
    # negative blocks, not in block 0.
    cdef int64_t q = a // b
    if (a % b != 0) and ((a < 0) != (b < 0)):
        q -= 1
    return q


def block_boundaries(const int64_t[::1] ts not None, int64_t start_ms, int64_t interval_ms):
    """Cut non-decreasing timestamps into blocks ``[start + k*interval, start + (k+1)*interval)``.

    Returns ``(block_index, bounds)`` (both int64): one entry per non-empty block, and
    row offsets of length ``nblocks + 1``; block ``j`` is rows ``bounds[j]:bounds[j+1]``.
    Raises ValueError naming the first row whose timestamp decreases.
    """
    if interval_ms <= 0:
        raise ValueError(f"interval_ms must be > 0, got {interval_ms}")
    cdef int64_t n = ts.shape[0]
    cdef int64_t i, k, prev_k = 0, nblocks = 0, bad = -1
    with nogil:
        for i in range(n):
            if i > 0 and ts[i] < ts[i - 1]:
                bad = i
                break
            k = _floor_div(ts[i] - start_ms, interval_ms)
            if i == 0 or k != prev_k:
                nblocks += 1
                prev_k = k
    if bad >= 0:
        raise ValueError(
            f"timestamps must be non-decreasing: row {bad} has {ts[bad]} ms after "
            f"{ts[bad - 1]} ms at row {bad - 1}")
    idx_arr = np.empty(nblocks, dtype=np.int64)
    bnd_arr = np.empty(nblocks + 1, dtype=np.int64)
    cdef int64_t[::1] idx = idx_arr
    cdef int64_t[::1] bnd = bnd_arr
    cdef int64_t j = 0
    with nogil:
        for i in range(n):
            k = _floor_div(ts[i] - start_ms, interval_ms)
            if i == 0 or k != prev_k:
                idx[j] = k
                bnd[j] = i
                j += 1
                prev_k = k
        bnd[nblocks] = n
    return idx_arr, bnd_arr


def count_boundaries(int64_t num_rows, int64_t max_rows):
    """Row offsets cutting ``num_rows`` rows into blocks of at most ``max_rows``."""
    if num_rows < 0:
        raise ValueError(f"num_rows must be >= 0, got {num_rows}")
    if max_rows < 1:
        raise ValueError(f"max_rows must be >= 1, got {max_rows}")
    cdef int64_t nblocks = (num_rows + max_rows - 1) // max_rows
    out_arr = np.empty(nblocks + 1, dtype=np.int64)
    cdef int64_t[::1] out = out_arr
    cdef int64_t j
    with nogil:
        for j in range(nblocks):
            out[j] = j * max_rows
        out[nblocks] = num_rows
    return out_arr
