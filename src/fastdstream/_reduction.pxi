# Reduce-by-key: a Grouper assigns dense group ids in order of first appearance
# (pass 1), accumulate_* functions fold values into per-group slots (pass 2).
#
# The Grouper is an open-addressing table with linear probing and power-of-two
# capacity. A 16-byte slot holds the group id, the key length and the key's first 8
# bytes (zero padded) -- for int64 keys, the key itself. Most keys in word-count style
# data are at most 8 bytes, so a probe is decided inside the slot, one cache line,
# without chasing a pointer to the key bytes; longer keys compare their remaining bytes
# against the arena. The distinct key bytes live in one growing arena, which doubles as
# the output key column's data buffer. Slots are indexed with the TOP bits of the
# hash: partition ids use hash % n (the low bits), so inside one partition the low bits
# are correlated and would cluster. Hashes are not stored; growing recomputes them from
# the keys, which costs O(groups), not O(rows).
#
# Rows are processed in small batches: hash the batch and prefetch each row's home
# slot, then probe. With skewed (Zipf) keys and ~10^5 groups, the table outgrows L2,
# and overlapping those misses is what makes the probe cheap.
#
# The Grouper is stateful so that chunked arrays and partial results from many
# partitions/batches feed one table without concatenating their key buffers.

cdef extern from *:
    """
    #if defined(__GNUC__) || defined(__clang__)
    #define fds_prefetch(p) __builtin_prefetch((const void *)(p))
    #else
    #define fds_prefetch(p) ((void)(p))
    #endif
    """
    void fds_prefetch(const void* p) nogil
    void* fds_alloc_table(size_t nbytes) nogil


cdef extern from *:
    """
    #include <stdlib.h>
    #if defined(__linux__)
    #include <sys/mman.h>
    #endif
    /* Slot tables past 2 MiB are probed at random: on 4 KiB pages nearly every probe
       of a cold key also misses the TLB. Ask Linux for transparent huge pages (the
       common "madvise" THP mode gives them only on request). Freed with free(). */
    static void *fds_alloc_table(size_t nbytes) {
    #if defined(__linux__) && defined(MADV_HUGEPAGE)
        const size_t huge = (size_t)2 << 20;
        if (nbytes >= huge) {
            void *p = NULL;
            if (posix_memalign(&p, huge, nbytes) != 0) return NULL;
            madvise(p, nbytes, MADV_HUGEPAGE);
            return p;
        }
    #endif
        return malloc(nbytes);
    }
    """

ctypedef struct _Slot:
    uint64_t word        # first 8 key bytes (binary) or the key (int64)
    int32_t length       # key length in bytes (binary keys)
    int32_t gid          # -1 marks an empty slot



cdef enum:
    _INITIAL_SHIFT = 64 - 10   # 1024 slots
    _BATCH = 32
    _ERR_NOMEM = -2
    _ERR_TOO_MANY = -3
    _ERR_KEY_TOO_LONG = -4


@cython.final
cdef class Grouper:
    """Dense group ids for string/binary or int64 keys, in order of first appearance.

    One Grouper handles one key kind (``"binary"`` or ``"int64"``); feed it any number of
    arrays with :meth:`add_binary` / :meth:`add_int64`, then read the distinct keys back
    with :meth:`binary_keys` / :meth:`int64_keys`. A null key forms its own group
    (:attr:`null_group`).
    """

    cdef _Slot* slots
    cdef int64_t mask
    cdef int shift
    cdef int64_t ngroups
    cdef int64_t null_gid
    cdef bint is_binary
    # binary keys: arena of key bytes, koff[g]..koff[g + 1] is group g's key
    cdef unsigned char* arena
    cdef int64_t arena_len
    cdef int64_t arena_cap
    cdef int64_t* koff
    # int64 keys: the key of each group (koff unused)
    cdef int64_t* ikeys
    cdef int64_t gcap

    def __cinit__(self, str kind="binary"):
        if kind not in ("binary", "int64"):
            raise ValueError(f"Grouper kind must be 'binary' or 'int64', got {kind!r}")
        self.is_binary = kind == "binary"
        self.shift = _INITIAL_SHIFT
        self.mask = (1 << (64 - self.shift)) - 1
        self.slots = <_Slot*>malloc((self.mask + 1) * sizeof(_Slot))
        self.gcap = 1024
        self.koff = <int64_t*>malloc((self.gcap + 1) * sizeof(int64_t))
        self.ikeys = <int64_t*>malloc(self.gcap * sizeof(int64_t))
        self.arena_cap = 16384
        self.arena = <unsigned char*>malloc(self.arena_cap)
        if not (self.slots and self.koff and self.ikeys and self.arena):
            raise MemoryError()
        memset(self.slots, 0xFF, (self.mask + 1) * sizeof(_Slot))
        self.koff[0] = 0
        self.ngroups = 0
        self.null_gid = -1
        self.arena_len = 0

    def __dealloc__(self):
        free(self.slots)
        free(self.koff)
        free(self.ikeys)
        free(self.arena)

    @property
    def num_groups(self) -> int:
        return self.ngroups

    @property
    def null_group(self) -> int:
        """Group id of the null key, or -1 if no null key was seen."""
        return self.null_gid

    # -- table maintenance (cold paths) ---------------------------------------

    cdef int _grow_slots(self) noexcept nogil:
        # Rebuilt from the groups in id order rather than from the old slots: key bytes
        # are then read sequentially from the arena instead of at random.
        cdef int new_shift = self.shift - 1
        cdef int64_t new_mask = (self.mask << 1) | 1
        cdef _Slot* ns = <_Slot*>fds_alloc_table((new_mask + 1) * sizeof(_Slot))
        cdef int64_t g, j, n
        cdef uint64_t h, w
        if ns == NULL:
            return _ERR_NOMEM
        memset(ns, 0xFF, (new_mask + 1) * sizeof(_Slot))
        for g in range(self.ngroups):
            if g == self.null_gid:
                continue
            if self.is_binary:
                n = self.koff[g + 1] - self.koff[g]
                h = fds_hash_bytes_w(self.arena + self.koff[g], n, &w)
            else:
                n = 8
                w = <uint64_t>self.ikeys[g]
                h = fds_hash_int64(self.ikeys[g])
            j = <int64_t>(h >> new_shift)
            while ns[j].gid >= 0:
                j = (j + 1) & new_mask
            ns[j].word = w
            ns[j].length = <int32_t>n
            ns[j].gid = <int32_t>g
        free(self.slots)
        self.slots = ns
        self.mask = new_mask
        self.shift = new_shift
        return 0

    cdef int _new_group(self) noexcept nogil:
        # Reserves room for one more group in the per-group arrays.
        cdef int64_t ncap
        cdef int64_t* nk
        cdef int64_t* ni
        if self.ngroups >= INT32_MAX:
            return _ERR_TOO_MANY
        if self.ngroups == self.gcap:
            ncap = self.gcap * 2
            nk = <int64_t*>realloc(self.koff, (ncap + 1) * sizeof(int64_t))
            if nk == NULL:
                return _ERR_NOMEM
            self.koff = nk
            ni = <int64_t*>realloc(self.ikeys, ncap * sizeof(int64_t))
            if ni == NULL:
                return _ERR_NOMEM
            self.ikeys = ni
            self.gcap = ncap
        return 0

    cdef int _append_bytes(self, const unsigned char* p, int64_t n) noexcept nogil:
        cdef int64_t ncap
        cdef unsigned char* na
        if self.arena_len + n > self.arena_cap:
            ncap = self.arena_cap * 2
            while ncap < self.arena_len + n:
                ncap *= 2
            na = <unsigned char*>realloc(self.arena, ncap)
            if na == NULL:
                return _ERR_NOMEM
            self.arena = na
            self.arena_cap = ncap
        if n > 0:
            memcpy(self.arena + self.arena_len, p, n)
        self.arena_len += n
        return 0

    cdef int64_t _fill_slot(self, int64_t j, uint64_t word, int64_t n) noexcept nogil:
        # Called with the new group's key already recorded; returns its id.
        cdef int64_t g = self.ngroups
        self.slots[j].word = word
        self.slots[j].length = <int32_t>n
        self.slots[j].gid = <int32_t>g
        self.ngroups += 1
        if self.ngroups * 2 > self.mask + 1:
            if self._grow_slots() < 0:
                return _ERR_NOMEM
        return g

    cdef int64_t _null_group(self) noexcept nogil:
        if self.null_gid < 0:
            if self._new_group() < 0:
                return _ERR_NOMEM
            self.null_gid = self.ngroups
            if self.is_binary:
                self.koff[self.ngroups + 1] = self.arena_len
            else:
                self.ikeys[self.ngroups] = 0
            self.ngroups += 1
        return self.null_gid

    # -- hot paths --------------------------------------------------------------

    cdef inline int64_t _find_binary(self, const unsigned char* p, int64_t n,
                                     uint64_t h, uint64_t w) noexcept nogil:
        cdef int64_t j = <int64_t>(h >> self.shift)
        cdef _Slot* s
        cdef int64_t g
        cdef int rc
        while True:
            s = &self.slots[j]
            g = s.gid
            if g < 0:
                if n > INT32_MAX:
                    return _ERR_KEY_TOO_LONG
                rc = self._new_group()
                if rc < 0:
                    return rc
                if self._append_bytes(p, n) < 0:
                    return _ERR_NOMEM
                self.koff[self.ngroups + 1] = self.arena_len
                return self._fill_slot(j, w, n)
            if s.word == w and s.length == n and (
                    n <= 8 or memcmp(self.arena + self.koff[g] + 8, p + 8, n - 8) == 0):
                return g
            j = (j + 1) & self.mask

    cdef inline int64_t _find_int64(self, int64_t v, uint64_t h) noexcept nogil:
        cdef int64_t j = <int64_t>(h >> self.shift)
        cdef int64_t g
        cdef int rc
        while True:
            g = self.slots[j].gid
            if g < 0:
                rc = self._new_group()
                if rc < 0:
                    return rc
                self.ikeys[self.ngroups] = v
                return self._fill_slot(j, <uint64_t>v, 8)
            if self.slots[j].word == <uint64_t>v:
                return g
            j = (j + 1) & self.mask

    cdef int64_t _add_binary(self, const offset_t* o, const unsigned char* d,
                             const uint8_t* v, int64_t offset, int64_t length,
                             int32_t* out) noexcept nogil:
        cdef uint64_t hs[_BATCH]
        cdef uint64_t ws[_BATCH]
        cdef int64_t base, i, k, m, g
        base = 0
        while base < length:
            m = min(<int64_t>_BATCH, length - base)
            for k in range(m):
                i = base + k
                hs[k] = fds_hash_bytes_w(d + o[i], o[i + 1] - o[i], &ws[k])
                fds_prefetch(&self.slots[hs[k] >> self.shift])
            for k in range(m):
                i = base + k
                if v == NULL or _is_valid(v, offset + i):
                    g = self._find_binary(d + o[i], o[i + 1] - o[i], hs[k], ws[k])
                else:
                    g = self._null_group()
                if g < 0:
                    return g
                out[i] = <int32_t>g
            base += m
        return 0

    cdef int64_t _add_int64(self, const int64_t* x, const uint8_t* v, int64_t offset,
                            int64_t length, int32_t* out) noexcept nogil:
        cdef uint64_t hs[_BATCH]
        cdef int64_t base, i, k, m, g
        base = 0
        while base < length:
            m = min(<int64_t>_BATCH, length - base)
            for k in range(m):
                hs[k] = fds_hash_int64(x[base + k])
                fds_prefetch(&self.slots[hs[k] >> self.shift])
            for k in range(m):
                i = base + k
                if v == NULL or _is_valid(v, offset + i):
                    g = self._find_int64(x[i], hs[k])
                else:
                    g = self._null_group()
                if g < 0:
                    return g
                out[i] = <int32_t>g
            base += m
        return 0

    def add_binary(self, const offset_t[::1] offsets not None, const uint8_t[::1] data,
                   const uint8_t[::1] validity, int64_t offset, int64_t length,
                   int32_t[::1] out not None):
        """Write the group id of each row of a string/binary array into ``out``."""
        if not self.is_binary:
            raise TypeError("this Grouper holds int64 keys")
        if out.shape[0] < length or offsets.shape[0] < offset + length + 1:
            raise ValueError("offsets or output buffer too short")
        if length == 0:
            return
        cdef const offset_t* o = &offsets[offset]
        cdef const uint8_t* d = _u8_ptr(data)
        cdef const uint8_t* v = _u8_ptr(validity)
        cdef int32_t* res = &out[0]
        cdef int64_t rc
        with nogil:
            rc = self._add_binary(o, d, v, offset, length, res)
        self._raise(rc)

    def add_int64(self, const int64_t[::1] values not None, const uint8_t[::1] validity,
                  int64_t offset, int64_t length, int32_t[::1] out not None):
        """Write the group id of each row of an int64 array into ``out``."""
        if self.is_binary:
            raise TypeError("this Grouper holds binary keys")
        if out.shape[0] < length or values.shape[0] < offset + length:
            raise ValueError("values or output buffer too short")
        if length == 0:
            return
        cdef const int64_t* x = &values[offset]
        cdef const uint8_t* v = _u8_ptr(validity)
        cdef int32_t* res = &out[0]
        cdef int64_t rc
        with nogil:
            rc = self._add_int64(x, v, offset, length, res)
        self._raise(rc)

    def _raise(self, int64_t rc):
        if rc == _ERR_NOMEM:
            raise MemoryError("out of memory growing the group table")
        if rc == _ERR_TOO_MANY:
            raise OverflowError(f"more than {INT32_MAX} distinct keys")
        if rc == _ERR_KEY_TOO_LONG:
            raise OverflowError(f"a key longer than {INT32_MAX} bytes")

    def binary_keys(self):
        """``(offsets int64[num_groups + 1], data bytes)`` of the distinct keys.

        The null group (if any) has an empty slot; mark it invalid with
        :attr:`null_group`.
        """
        if not self.is_binary:
            raise TypeError("this Grouper holds int64 keys")
        offs = np.empty(self.ngroups + 1, dtype=np.int64)
        cdef int64_t[::1] o = offs
        memcpy(&o[0], self.koff, (self.ngroups + 1) * sizeof(int64_t))
        data = PyBytes_FromStringAndSize(<char*>self.arena, self.arena_len)
        return offs, data

    def int64_keys(self):
        """int64[num_groups] of the distinct keys (0 in the null group's slot)."""
        if self.is_binary:
            raise TypeError("this Grouper holds binary keys")
        keys = np.empty(self.ngroups, dtype=np.int64)
        cdef int64_t[::1] k = keys
        if self.ngroups:
            memcpy(&k[0], self.ikeys, self.ngroups * sizeof(int64_t))
        return keys


# -- pass 2: accumulation -------------------------------------------------------
#
# Each accumulate_* folds one values array (with its own validity and offset) into
# per-group outputs that the caller allocates and may reuse across chunks. ``counts``
# receives the number of non-null values per group: it is the "count" result and
# tells which groups stay null for sum/min/max.

ctypedef fused num_t:
    int64_t
    double


def _check_acc(gids, values_len, offset, length):
    if gids.shape[0] < length or values_len < offset + length:
        raise ValueError("group ids / values shorter than the requested length")


cdef extern from *:
    """
    /* Adds x to *acc with two's-complement wrap-around (as pyarrow's hash_sum) and
       reports whether the exact sum left the int64 range. */
    static inline int fds_add_i64(int64_t *acc, int64_t x) {
    #if defined(__GNUC__) || defined(__clang__)
        return __builtin_add_overflow(*acc, x, acc);
    #else
        int64_t r = (int64_t)((uint64_t)*acc + (uint64_t)x);
        int ovf = ((*acc ^ r) & (x ^ r)) < 0;
        *acc = r;
        return ovf;
    #endif
    }
    """
    bint fds_add_i64(int64_t* acc, int64_t x) nogil


def accumulate_sum(const int32_t[::1] gids not None, const num_t[::1] values not None,
                   const uint8_t[::1] validity, int64_t offset, int64_t length,
                   num_t[::1] sums not None, int64_t[::1] counts):
    """sums[g] += values[i], counts[g] += 1 for each non-null row i of group g.

    ``counts`` may be None when values have no nulls: every group then has a value, and
    skipping the second random-access update makes this pass about twice as fast.

    int64 sums wrap around on overflow, as pyarrow's hash_sum does; the return value
    is the id of the first group whose running sum overflowed, or -1, so callers that
    want exact (Python int) semantics can refuse the result. Float sums return -1.
    """
    _check_acc(gids, values.shape[0], offset, length)
    if length == 0:
        return -1
    cdef const num_t* x = &values[offset]
    cdef const uint8_t* v = _u8_ptr(validity)
    cdef const int32_t* gp = &gids[0]
    cdef num_t* s = &sums[0]
    cdef int64_t* c = &counts[0] if counts is not None and counts.shape[0] else NULL
    cdef int64_t i, g
    cdef int64_t overflowed = -1
    if v != NULL and c == NULL:
        raise ValueError("counts are required when values have nulls")
    with nogil:
        for i in range(length):
            if v != NULL and not _is_valid(v, offset + i):
                continue
            g = gp[i]
            if num_t is int64_t:
                # The branch is never taken on sane data, so it costs ~nothing.
                if fds_add_i64(&s[g], x[i]) and overflowed < 0:
                    overflowed = g
            else:
                s[g] += x[i]
            if c != NULL:
                c[g] += 1
    return overflowed


def accumulate_minmax(const int32_t[::1] gids not None, const num_t[::1] values not None,
                      const uint8_t[::1] validity, int64_t offset, int64_t length,
                      num_t[::1] out not None, int64_t[::1] counts not None, bint is_max):
    """Fold values into out[g] = min/max, counting non-null values in counts[g].

    out[g] is only meaningful where counts[g] > 0; its initial content is ignored for a
    group's first value. Floats follow pyarrow: NaN is skipped unless a group holds
    nothing but NaN, then the result is NaN.
    """
    _check_acc(gids, values.shape[0], offset, length)
    if length == 0:
        return
    cdef const num_t* x = &values[offset]
    cdef const uint8_t* v = _u8_ptr(validity)
    cdef const int32_t* gp = &gids[0]
    cdef num_t* o = &out[0]
    cdef int64_t* c = &counts[0]
    cdef int64_t i, g
    cdef num_t cur, val
    with nogil:
        for i in range(length):
            if v != NULL and not _is_valid(v, offset + i):
                continue
            g = gp[i]
            val = x[i]
            if c[g] == 0:
                o[g] = val
            else:
                cur = o[g]
                if num_t is double:
                    # cur != cur: the group holds only NaN so far; any value wins.
                    if cur != cur or (val > cur if is_max else val < cur):
                        o[g] = val
                else:
                    if (val > cur) if is_max else (val < cur):
                        o[g] = val
            c[g] += 1


def accumulate_count(const int32_t[::1] gids not None, const uint8_t[::1] validity,
                     int64_t offset, int64_t length, int64_t[::1] counts not None):
    """counts[g] += 1 for each row of group g that is valid (every row if no bitmap)."""
    if gids.shape[0] < length:
        raise ValueError("group ids shorter than the requested length")
    if length == 0:
        return
    cdef const uint8_t* v = _u8_ptr(validity)
    cdef const int32_t* gp = &gids[0]
    cdef int64_t* c = &counts[0]
    cdef int64_t i
    with nogil:
        for i in range(length):
            if v == NULL or _is_valid(v, offset + i):
                c[gp[i]] += 1


# -- Python rows: the map-side combine of the lambda path ---------------------------
#
# combineByKey / reduceByKey over Python objects: one dict of partial values, filled by
# a loop that does nothing else. Compiled, the loop costs a dict probe and one call of
# the user's function per row, with no bytecode around them; it holds the GIL, as
# anything calling user functions must.

import operator as _operator

cdef object _ADD = _operator.add


def combine_rows(rows, create, merge_value, dict combiners not None):
    """Fold (key, value) rows into ``combiners``, a dict of key -> combiner.

    A key not yet in the dict gets ``create(value)`` (the value itself when ``create``
    is None); a key already there gets ``merge_value(combiner, value)``. Each row makes
    exactly one of the two calls, once. ``operator.add`` as ``merge_value`` is applied
    as ``combiner + value`` without the call; with ``create`` None too and an empty
    dict (reduceByKey(add)'s map side), int values are summed in int64 slots as long
    as that gives Python's result (see ``_sum_rows``). Returns the number of rows.
    """
    cdef PyObject* found
    cdef Py_ssize_t n = 0
    cdef bint first_is_value = create is None
    cdef bint add = merge_value is _ADD
    if first_is_value and add and not combiners:
        return _sum_rows(rows, combiners)
    for row in rows:
        k, v = row
        found = PyDict_GetItemWithError(combiners, k)
        if found is NULL:
            combiners[k] = v if first_is_value else create(v)
        elif add:
            combiners[k] = <object>found + v
        else:
            combiners[k] = merge_value(<object>found, v)
        n += 1
    return n


# Marks a slot whose combiner is the int64 in ``sums`` (None is a value like any other).
cdef object _IN_SUMS = object()


cdef Py_ssize_t _sum_rows(rows, dict combiners) except -1:
    """combine_rows for reduceByKey(add) into an empty dict: a key's int values are
    summed in an int64 slot (one dict probe a row, no int object made per row); a key
    whose value is no int, or whose sum would leave int64, continues as Python's ``+``
    on objects, so every result is what ``combiner + value`` gives. Keys keep the order
    they were first seen in."""
    cdef dict slots = {}  # key -> its slot number
    cdef list objects = []  # slot -> _IN_SUMS while its sum is in ``sums``, else the combiner
    cdef int64_t* sums = NULL
    cdef int64_t* grown
    cdef Py_ssize_t capacity = 0, nslots = 0, n = 0, slot
    cdef PyObject* found
    cdef long long x
    cdef int64_t total
    cdef int overflow
    try:
        for row in rows:
            k, v = row
            found = PyDict_GetItemWithError(slots, k)
            if found is NULL:  # (an error from the key's __hash__/__eq__ is raised)
                if nslots == capacity:
                    capacity = max(64, 2 * capacity)
                    grown = <int64_t*>realloc(sums, capacity * sizeof(int64_t))
                    if grown is NULL:
                        raise MemoryError()
                    sums = grown
                slots[k] = nslots
                overflow = 1
                if PyLong_CheckExact(v):
                    x = PyLong_AsLongLongAndOverflow(v, &overflow)
                if overflow:
                    objects.append(v)
                else:
                    sums[nslots] = x
                    objects.append(_IN_SUMS)
                nslots += 1
            else:
                slot = PyLong_AsSsize_t(<object>found)
                if PyList_GET_ITEM(objects, slot) == <PyObject*>_IN_SUMS:
                    overflow = 1
                    if PyLong_CheckExact(v):
                        x = PyLong_AsLongLongAndOverflow(v, &overflow)
                    if not overflow:
                        total = sums[slot]
                        if not fds_add_i64(&total, x):
                            sums[slot] = total
                            n += 1
                            continue
                    objects[slot] = PyLong_FromLongLong(sums[slot]) + v
                else:
                    objects[slot] = objects[slot] + v
            n += 1
        for k, slot_obj in slots.items():
            slot = slot_obj
            combiner = objects[slot]
            combiners[k] = PyLong_FromLongLong(sums[slot]) if combiner is _IN_SUMS else combiner
        return n
    finally:
        free(sums)


# -- pass 1 + 2 in one call: sum -----------------------------------------------------
#
# reduceByKey(add)'s map and reduce sides (and countByValue's reduce side) are sums.
# Grouping and adding window by window in one call keeps each window's group ids in
# L2, as the two-call path does, and holds the GIL once per piece instead of twice per
# 64K rows -- with one task per core on local[2], that is the GIL the other task waits
# for. Sums/counts are sized by the caller for every group the piece could add.

cdef enum:
    _SUM_WINDOW = 1 << 16


cdef inline int64_t _sum_window(const int32_t* gp, const num_t* x, const uint8_t* v,
                                int64_t voffset, int64_t w, num_t* s, int64_t* c,
                                int64_t overflowed) noexcept nogil:
    cdef int64_t i, g
    for i in range(w):
        if v != NULL and not _is_valid(v, voffset + i):
            continue
        g = gp[i]
        if num_t is int64_t:
            if fds_add_i64(&s[g], x[i]) and overflowed < 0:
                overflowed = g
        else:
            s[g] += x[i]
        if c != NULL:
            c[g] += 1
    return overflowed


def _check_sum_args(Grouper grouper, int64_t values_len, int64_t value_offset,
                    int64_t length, int64_t sums_len, counts, bint has_value_nulls):
    if values_len < value_offset + length:
        raise ValueError("values shorter than the requested length")
    if sums_len < grouper.ngroups + length or (
            counts is not None and counts.shape[0] < grouper.ngroups + length):
        raise ValueError("sums/counts need room for num_groups + length groups")
    if has_value_nulls and counts is None:
        raise ValueError("counts are required when values have nulls")


def group_sum_binary(Grouper grouper, const offset_t[::1] offsets not None,
                     const uint8_t[::1] data, const uint8_t[::1] validity, int64_t offset,
                     const num_t[::1] values not None, const uint8_t[::1] value_validity,
                     int64_t value_offset, int64_t length, num_t[::1] sums not None,
                     int64_t[::1] counts):
    """Group string/binary keys and add their values into ``sums`` in one call.

    As :meth:`Grouper.add_binary` then :func:`accumulate_sum`, window by window with
    the GIL released. ``sums`` (and ``counts``, which may be None when values have no
    nulls) need room for ``grouper.num_groups + length`` groups. Returns the id of the
    first group whose int64 sum overflowed (wrapping around), or -1.
    """
    if not grouper.is_binary:
        raise TypeError("this Grouper holds int64 keys")
    if offsets.shape[0] < offset + length + 1:
        raise ValueError("offsets too short")
    _check_sum_args(grouper, values.shape[0], value_offset, length, sums.shape[0], counts,
                    value_validity is not None and value_validity.shape[0] > 0)
    if length == 0:
        return -1
    cdef const offset_t* o = &offsets[offset]
    cdef const uint8_t* d = _u8_ptr(data)
    cdef const uint8_t* kv = _u8_ptr(validity)
    cdef const num_t* x = &values[value_offset]
    cdef const uint8_t* vv = _u8_ptr(value_validity)
    cdef num_t* s = &sums[0]
    cdef int64_t* c = &counts[0] if counts is not None else NULL
    cdef int64_t start = 0, w, rc = 0, overflowed = -1
    cdef int32_t* gids = <int32_t*>malloc(_SUM_WINDOW * sizeof(int32_t))
    if gids == NULL:
        raise MemoryError()
    with nogil:
        while start < length:
            w = min(<int64_t>_SUM_WINDOW, length - start)
            rc = grouper._add_binary(o + start, d, kv, offset + start, w, gids)
            if rc < 0:
                break
            overflowed = _sum_window(gids, x + start, vv, value_offset + start, w, s, c,
                                     overflowed)
            start += w
    free(gids)
    grouper._raise(rc)
    return overflowed


def group_sum_int64(Grouper grouper, const int64_t[::1] keys not None,
                    const uint8_t[::1] validity, int64_t offset,
                    const num_t[::1] values not None, const uint8_t[::1] value_validity,
                    int64_t value_offset, int64_t length, num_t[::1] sums not None,
                    int64_t[::1] counts):
    """:func:`group_sum_binary` for int64 keys."""
    if grouper.is_binary:
        raise TypeError("this Grouper holds binary keys")
    if keys.shape[0] < offset + length:
        raise ValueError("keys too short")
    _check_sum_args(grouper, values.shape[0], value_offset, length, sums.shape[0], counts,
                    value_validity is not None and value_validity.shape[0] > 0)
    if length == 0:
        return -1
    cdef const int64_t* k = &keys[offset]
    cdef const uint8_t* kv = _u8_ptr(validity)
    cdef const num_t* x = &values[value_offset]
    cdef const uint8_t* vv = _u8_ptr(value_validity)
    cdef num_t* s = &sums[0]
    cdef int64_t* c = &counts[0] if counts is not None else NULL
    cdef int64_t start = 0, w, rc = 0, overflowed = -1
    cdef int32_t* gids = <int32_t*>malloc(_SUM_WINDOW * sizeof(int32_t))
    if gids == NULL:
        raise MemoryError()
    with nogil:
        while start < length:
            w = min(<int64_t>_SUM_WINDOW, length - start)
            rc = grouper._add_int64(k + start, kv, offset + start, w, gids)
            if rc < 0:
                break
            overflowed = _sum_window(gids, x + start, vv, value_offset + start, w, s, c,
                                     overflowed)
            start += w
    free(gids)
    grouper._raise(rc)
    return overflowed
