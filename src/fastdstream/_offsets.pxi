# Kafka offset-range bookkeeping for the direct stream: planning each batch's
# [from, until) range per Kafka partition, checking that consecutive batches neither
# skip nor re-read offsets, and merging queued commits.
#
# Arrays are aligned: entry i of every argument describes the same Kafka partition.
# Offsets are resolved, non-negative Kafka offsets; the client's logical offsets
# (OFFSET_END = -1, OFFSET_BEGINNING = -2, ...) must be resolved before planning, so a
# negative value is an error, never a sentinel. The loops record the first bad entry
# and the error is raised after the loop, with the GIL, naming it.

from libc.math cimport INFINITY


cdef enum:
    _OFS_NEG_FROM = 1
    _OFS_NEG_LATEST = 2
    _OFS_NEG_EARLIEST = 3
    _OFS_NEG_CAP = 4
    _OFS_EARLIEST_AFTER_LATEST = 5


def _check_aligned(str what, int64_t n, int64_t m):
    if n != m:
        raise ValueError(f"{what} has {m} entries but from_offsets has {n}: "
                         "arrays must hold one entry per Kafka partition")


def plan_offset_ranges(const int64_t[::1] from_offsets not None,
                       const int64_t[::1] latest_offsets not None,
                       const int64_t[::1] earliest_offsets,
                       const int64_t[::1] caps,
                       int64_t cap, bint capped,
                       int64_t[::1] until not None,
                       uint8_t[::1] out_of_range not None):
    """Write each partition's until offset and out-of-range flag.

    ``until[i] = min(latest[i], from[i] + cap_i)`` (no cap when ``capped`` is false;
    ``cap_i`` is ``caps[i]`` when ``caps`` is given, else ``cap``), computed without
    overflowing near the int64 maximum. A partition is out of range when
    ``from > latest`` or, with ``earliest_offsets``, ``from < earliest``; its until is
    ``from`` (an empty range) and its flag is 1.
    """
    cdef int64_t n = from_offsets.shape[0]
    _check_aligned("latest_offsets", n, latest_offsets.shape[0])
    if earliest_offsets is not None:
        _check_aligned("earliest_offsets", n, earliest_offsets.shape[0])
    if caps is not None:
        _check_aligned("max_messages", n, caps.shape[0])
    _check_aligned("until", n, until.shape[0])
    _check_aligned("out_of_range", n, out_of_range.shape[0])
    if capped and caps is None and cap < 0:
        raise ValueError(f"max_messages must be >= 0, got {cap}")
    cdef const int64_t* e = &earliest_offsets[0] if earliest_offsets is not None and n else NULL
    cdef const int64_t* c = &caps[0] if caps is not None and n else NULL
    cdef int64_t i, f, l, k, bad = -1
    cdef int err = 0
    with nogil:
        for i in range(n):
            f = from_offsets[i]
            l = latest_offsets[i]
            k = c[i] if c != NULL else cap
            if f < 0:
                err = _OFS_NEG_FROM
            elif l < 0:
                err = _OFS_NEG_LATEST
            elif e != NULL and e[i] < 0:
                err = _OFS_NEG_EARLIEST
            elif e != NULL and e[i] > l:
                err = _OFS_EARLIEST_AFTER_LATEST
            elif capped and k < 0:
                err = _OFS_NEG_CAP
            if err:
                bad = i
                break
            if f > l or (e != NULL and f < e[i]):
                out_of_range[i] = 1
                until[i] = f
            else:
                out_of_range[i] = 0
                # l - f >= 0 cannot overflow; f + k only runs when it stays <= l.
                until[i] = f + k if capped and k < l - f else l
    if bad >= 0:
        i = bad
        if err == _OFS_NEG_FROM:
            msg = f"from offset {from_offsets[i]} is negative"
        elif err == _OFS_NEG_LATEST:
            msg = f"latest offset {latest_offsets[i]} is negative"
        elif err == _OFS_NEG_EARLIEST:
            msg = f"earliest offset {earliest_offsets[i]} is negative"
        elif err == _OFS_EARLIEST_AFTER_LATEST:
            msg = (f"earliest offset {earliest_offsets[i]} is after latest offset "
                   f"{latest_offsets[i]}")
        else:
            msg = f"max_messages {caps[i]} is negative"
        raise ValueError(f"partition index {i}: {msg} (from {from_offsets[i]}, "
                         f"latest {latest_offsets[i]})")


def offsets_differ(const int64_t[::1] expected_next not None,
                   const int64_t[::1] from_offsets not None,
                   uint8_t[::1] out not None):
    """``out[i] = expected_next[i] != from_offsets[i]``; raises on a negative offset."""
    cdef int64_t n = from_offsets.shape[0]
    _check_aligned("expected_next", n, expected_next.shape[0])
    _check_aligned("out", n, out.shape[0])
    cdef int64_t i, bad = -1
    with nogil:
        for i in range(n):
            if expected_next[i] < 0 or from_offsets[i] < 0:
                bad = i
                break
            out[i] = expected_next[i] != from_offsets[i]
    if bad >= 0:
        raise ValueError(f"partition index {bad}: negative offset (expected next "
                         f"{expected_next[bad]}, from {from_offsets[bad]})")


def max_per_sorted_key(const int64_t[::1] keys not None,
                       const int64_t[::1] values not None,
                       const int64_t[::1] order not None):
    """Distinct keys and the largest value of each.

    ``order`` lists the rows sorted by key (e.g. ``np.argsort(keys, kind="stable")``);
    returns ``(keys, maxima)`` (int64), keys ascending. Raises ValueError naming the
    first key with a negative value, or on an ``order`` entry outside the rows.
    """
    cdef int64_t n = keys.shape[0]
    _check_aligned("values", n, values.shape[0])
    _check_aligned("order", n, order.shape[0])
    out_k_arr = np.empty(n, dtype=np.int64)
    out_v_arr = np.empty(n, dtype=np.int64)
    cdef int64_t[::1] out_k = out_k_arr
    cdef int64_t[::1] out_v = out_v_arr
    cdef int64_t i, r, prev = 0, m = 0, bad = -1, bad_order = -1
    with nogil:
        for i in range(n):
            r = order[i]
            if r < 0 or r >= n:
                bad_order = i
                break
            if values[r] < 0:
                bad = r
                break
            if m and keys[r] < prev:
                bad_order = i
                break
            if m and keys[r] == prev:
                if values[r] > out_v[m - 1]:
                    out_v[m - 1] = values[r]
            else:
                out_k[m] = keys[r]
                out_v[m] = values[r]
                prev = keys[r]
                m += 1
    if bad_order >= 0:
        raise ValueError(f"order entry {bad_order} ({order[bad_order]}) does not sort "
                         f"the {n} keys")
    if bad >= 0:
        raise ValueError(f"partition {keys[bad]}: offset {values[bad]} is negative")
    return out_k_arr[:m], out_v_arr[:m]


def byte_budget_caps(const int64_t[::1] lag not None,
                     const double[::1] bytes_per_record not None,
                     int64_t budget, int64_t[::1] caps not None):
    """Per-partition record caps that keep a batch within ``budget`` bytes.

    With ``total = sum(lag[i] * bytes_per_record[i])`` within the budget every cap is
    the lag and the result is False. Otherwise each partition gets the same share
    ``budget / total`` of its lag (rounded down, at least one record where the lag is
    not zero, so a record larger than the budget still goes through) and the result
    is True.
    """
    cdef int64_t n = lag.shape[0]
    if bytes_per_record.shape[0] != n:
        raise ValueError(f"bytes_per_record has {bytes_per_record.shape[0]} entries but "
                         f"lag has {n}: arrays must hold one entry per Kafka partition")
    _check_aligned("caps", n, caps.shape[0])
    if budget <= 0:
        raise ValueError(f"budget must be > 0 bytes, got {budget}")
    cdef int64_t i, k, bad = -1
    cdef double total = 0.0, share, b
    with nogil:
        for i in range(n):
            b = bytes_per_record[i]
            if lag[i] < 0 or not (b > 0.0) or b == INFINITY:
                bad = i
                break
            total += <double>lag[i] * b
    if bad >= 0:
        raise ValueError(f"partition index {bad}: lag {lag[bad]} and bytes per record "
                         f"{bytes_per_record[bad]} (need lag >= 0 and a finite size > 0)")
    if total <= <double>budget:
        caps[:] = lag
        return False
    share = <double>budget / total
    with nogil:
        for i in range(n):
            k = <int64_t>(<double>lag[i] * share)
            if k < 1 and lag[i] > 0:
                k = 1
            if k > lag[i]:
                k = lag[i]
            caps[i] = k
    return True
