# Kafka messages to Arrow buffers.
#
# The input is a list of confluent_kafka.Message objects (or anything with the same
# methods). Reading a field is a Python method call -- unavoidable, the client hands
# out one object per record -- but everything else stays in C: key and value bytes
# are copied into growing byte buffers that become the Arrow data buffers, offsets,
# validity bitmaps and fixed-width columns are written through raw pointers, and the
# topic column is dictionary-encoded with a one-entry cache in front of a dict, since
# a consume() batch nearly always comes from one or a few topics.
#
# Binary columns have int32 offsets, so one call stops before the message that would
# push the key or value bytes past ``max_bytes``; the caller starts the next chunk
# there. The finished byte buffers are handed to pyarrow without a copy through the
# buffer protocol (_ByteBuffer below).

from cpython.buffer cimport PyBUF_WRITABLE
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE


@cython.final
cdef class _ByteBuffer:
    """A growable malloc'd byte buffer, exported read-only through the buffer protocol.

    It only grows before it is exported; pyarrow keeps it alive as the owner of the
    Arrow buffer that wraps it.
    """

    cdef char* data
    cdef Py_ssize_t length
    cdef Py_ssize_t capacity
    cdef Py_ssize_t shape[1]
    cdef Py_ssize_t strides[1]
    cdef int exports

    def __cinit__(self, Py_ssize_t capacity=4096):
        self.capacity = capacity if capacity > 64 else 64
        self.data = <char*>malloc(self.capacity)
        if self.data == NULL:
            raise MemoryError()
        self.length = 0
        self.exports = 0

    def __dealloc__(self):
        free(self.data)

    def __len__(self):
        return self.length

    cdef int append(self, const char* p, Py_ssize_t n) except -1:
        cdef Py_ssize_t need = self.length + n
        cdef Py_ssize_t cap = self.capacity
        cdef char* grown
        if need > cap:
            if self.exports:
                raise BufferError("cannot grow an exported buffer")
            while cap < need:
                cap *= 2
            grown = <char*>realloc(self.data, cap)
            if grown == NULL:
                raise MemoryError()
            self.data = grown
            self.capacity = cap
        if n:
            memcpy(self.data + self.length, p, n)
        self.length = need
        return 0

    cdef void trim(self) noexcept:
        # Give back the unused tail of the doubling growth once writing is done.
        cdef char* shrunk
        if self.exports == 0 and self.capacity > self.length + 4096:
            shrunk = <char*>realloc(self.data, self.length if self.length > 64 else 64)
            if shrunk != NULL:
                self.data = shrunk
                self.capacity = self.length if self.length > 64 else 64

    def __getbuffer__(self, Py_buffer* view, int flags):
        if flags & PyBUF_WRITABLE:
            raise BufferError("_ByteBuffer is read-only")
        self.shape[0] = self.length
        self.strides[0] = 1
        view.buf = self.data
        view.obj = self
        view.len = self.length
        view.readonly = 1
        view.itemsize = 1
        view.format = "B"
        view.ndim = 1
        view.shape = self.shape
        view.strides = self.strides
        view.suboffsets = NULL
        view.internal = NULL
        self.exports += 1

    def __releasebuffer__(self, Py_buffer* view):
        self.exports -= 1


cdef inline void _set_bit(uint8_t* bits, Py_ssize_t i) noexcept nogil:
    bits[i >> 3] |= <uint8_t>(1 << (i & 7))


cdef str _describe(object msg):
    # Where a message came from, for error messages; never raises itself.
    parts = []
    for name in ("topic", "partition", "offset"):
        try:
            parts.append(f"{name} {getattr(msg, name)()!r}")
        except Exception as exc:  # a broken duck-typed message
            parts.append(f"{name} <{type(exc).__name__}>")
    return ", ".join(parts)


cdef int _append_payload(_ByteBuffer buf, object payload, int32_t* offsets,
                         uint8_t* validity, Py_ssize_t j, bint* is_null) except -1:
    # bytes is the fast path (what confluent_kafka returns); any other bytes-like
    # object goes through a memoryview.
    cdef const uint8_t[::1] view
    if type(payload) is bytes:
        buf.append(PyBytes_AS_STRING(payload), PyBytes_GET_SIZE(payload))
    elif payload is None:
        is_null[0] = True
    else:
        view = payload
        buf.append(<const char*>&view[0] if view.shape[0] else NULL, view.shape[0])
    if not is_null[0]:
        _set_bit(validity, j)
    offsets[j + 1] = <int32_t>buf.length
    return 0


cdef inline Py_ssize_t _payload_size(object payload) except -1:
    if type(payload) is bytes:
        return PyBytes_GET_SIZE(payload)
    if payload is None:
        return 0
    return memoryview(payload).nbytes


def messages_to_buffers(list messages not None, Py_ssize_t start, int64_t max_bytes,
                        dict topic_ids not None, list topics not None,
                        int64_t until_offset=-1, bint stop_at_error=False):
    """Arrow buffers for ``messages[start:stop]``; see ``kernels.messages_to_arrow``.

    Stops before the first message that would take the key or value bytes past
    ``max_bytes`` (at least one message is always taken). New topics are appended to
    ``topics`` and indexed in ``topic_ids``, so consecutive calls share one dictionary.

    With ``until_offset >= 0`` it also stops before the first message whose offset is
    ``>= until_offset`` (the end of an offset range: what follows stays with the caller),
    and with ``stop_at_error`` before an error event instead of raising; ``stop`` then
    indexes that message (possibly ``start``: nothing taken).

    Returns ``(stop, key, value, topic, partition, offset, timestamp)``: ``key`` and
    ``value`` are ``(offsets int32, data, validity uint8, null_count)``, ``topic`` the
    int32 dictionary indices, ``partition`` int32, ``offset`` int64 and ``timestamp``
    ``(ms int64, validity uint8, null_count)``. A message whose ``error()`` is not None
    raises ValueError naming it.
    """
    cdef Py_ssize_t n = len(messages)
    if start < 0 or start > n:
        raise ValueError(f"start {start} is outside [0, {n}]")
    if max_bytes < 0 or max_bytes > INT32_MAX:
        raise ValueError(f"max_bytes must be in [0, {INT32_MAX}], got {max_bytes}")
    cdef Py_ssize_t cap = n - start
    cdef Py_ssize_t nbits = (cap + 7) // 8
    key_offsets_arr = np.empty(cap + 1, dtype=np.int32)
    value_offsets_arr = np.empty(cap + 1, dtype=np.int32)
    key_valid_arr = np.zeros(nbits, dtype=np.uint8)
    value_valid_arr = np.zeros(nbits, dtype=np.uint8)
    ts_valid_arr = np.zeros(nbits, dtype=np.uint8)
    topic_arr = np.empty(cap, dtype=np.int32)
    partition_arr = np.empty(cap, dtype=np.int32)
    offset_arr = np.empty(cap, dtype=np.int64)
    ts_arr = np.empty(cap, dtype=np.int64)
    cdef int32_t[::1] kofs = key_offsets_arr
    cdef int32_t[::1] vofs = value_offsets_arr
    cdef uint8_t[::1] kvalid = key_valid_arr
    cdef uint8_t[::1] vvalid = value_valid_arr
    cdef uint8_t[::1] tvalid = ts_valid_arr
    cdef int32_t[::1] tids = topic_arr
    cdef int32_t[::1] parts = partition_arr
    cdef int64_t[::1] offs = offset_arr
    cdef int64_t[::1] tss = ts_arr
    cdef _ByteBuffer kbuf = _ByteBuffer(max(4096, cap * 8))
    cdef _ByteBuffer vbuf = _ByteBuffer(max(4096, cap * 32))
    cdef Py_ssize_t i = start, j = 0
    cdef Py_ssize_t knulls = 0, vnulls = 0, tnulls = 0
    cdef bint knull, vnull
    cdef int64_t offset
    cdef int32_t last_tid = -1
    cdef object last_topic = None
    cdef object msg = None, err = None, key, value, topic, ts
    cdef object tid
    kofs[0] = 0
    vofs[0] = 0
    try:
        while i < n:
            msg = messages[i]
            err = msg.error()
            if err is not None:
                break
            offset = msg.offset()
            if until_offset >= 0 and offset >= until_offset:
                break
            key = msg.key()
            value = msg.value()
            if j and (kbuf.length + _payload_size(key) > max_bytes
                      or vbuf.length + _payload_size(value) > max_bytes):
                break
            knull = vnull = False
            _append_payload(kbuf, key, &kofs[0], &kvalid[0], j, &knull)
            _append_payload(vbuf, value, &vofs[0], &vvalid[0], j, &vnull)
            knulls += knull
            vnulls += vnull
            topic = msg.topic()
            if topic is last_topic or (last_tid >= 0 and topic == last_topic):
                tids[j] = last_tid
            else:
                tid = topic_ids.get(topic)
                if tid is None:
                    if type(topic) is not str:
                        raise TypeError(f"topic() returned {type(topic).__name__}, "
                                        "expected str")
                    tid = len(topics)
                    topic_ids[topic] = tid
                    topics.append(topic)
                last_topic = topic
                last_tid = tid
                tids[j] = last_tid
            parts[j] = msg.partition()
            offs[j] = offset
            # (timestamp type, ms); type 0 is TIMESTAMP_NOT_AVAILABLE.
            ts = msg.timestamp()
            if type(ts) is not tuple or PyTuple_GET_SIZE(ts) != 2:
                raise TypeError(f"timestamp() returned {ts!r}, expected a "
                                "(type, milliseconds) tuple")
            if <object>PyTuple_GET_ITEM(ts, 0) == 0:
                tss[j] = 0
                tnulls += 1
            else:
                tss[j] = <object>PyTuple_GET_ITEM(ts, 1)
                _set_bit(&tvalid[0], j)
            i += 1
            j += 1
    except (TypeError, ValueError, OverflowError, BufferError) as exc:
        kind = next(k for k in (TypeError, OverflowError, BufferError, ValueError)
                    if isinstance(exc, k))
        raise kind(f"Kafka message {i} ({_describe(msg)}): {exc}") from exc
    if err is not None and not stop_at_error:
        raise ValueError(f"Kafka message {i} ({_describe(msg)}) is an error event, not a "
                         f"record: {err}")
    if kbuf.length > max_bytes or vbuf.length > max_bytes:
        raise OverflowError(
            f"Kafka message {start} ({_describe(messages[start])}) alone holds more than "
            f"{max_bytes} key or value bytes, the limit of one Arrow binary array")
    kbuf.trim()
    vbuf.trim()
    return (
        i,
        (key_offsets_arr[:j + 1], kbuf, key_valid_arr[:(j + 7) // 8], knulls),
        (value_offsets_arr[:j + 1], vbuf, value_valid_arr[:(j + 7) // 8], vnulls),
        topic_arr[:j],
        partition_arr[:j],
        offset_arr[:j],
        (ts_arr[:j], ts_valid_arr[:(j + 7) // 8], tnulls),
    )
