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


# --- Offset ranges read straight from librdkafka ------------------------------------------
#
# confluent_kafka hands out one Python Message per record (an allocation, a bytes object,
# a str topic, GC tracking), and reading its fields costs a method call each: most of a
# range read's time. NativeRangeReader drives the librdkafka that confluent_kafka ships
# (its public C API, the functions found at run time: the core still links nothing but
# CPython) and copies each record's key, value, offset and timestamp from the client's
# own message struct into the Arrow buffers, without the GIL, so executor threads read
# their partitions in parallel. kafka_kernels.native_reader() falls back to the
# confluent_kafka path when the library cannot be found or a setting is not a string.

ctypedef struct rd_kafka_message_t:
    int err
    void* rkt
    int32_t partition
    void* payload
    size_t len
    void* key
    size_t key_len
    int64_t offset
    void* _private

ctypedef struct rd_kafka_topic_partition_t:
    char* topic
    int32_t partition
    int64_t offset
    void* metadata
    size_t metadata_size
    void* opaque
    int err
    void* _private

ctypedef struct rd_kafka_topic_partition_list_t:
    int cnt
    int size
    rd_kafka_topic_partition_t* elems

cdef struct _RangeOut:
    # Where NativeRangeReader._read_nogil writes a chunk (arrays sized by the caller).
    int32_t* kofs
    int32_t* vofs
    uint8_t* kvalid
    uint8_t* vvalid
    uint8_t* tvalid
    int64_t* offs
    int64_t* tss
    Py_ssize_t rows
    Py_ssize_t knulls
    Py_ssize_t vnulls
    Py_ssize_t tnulls
    int err
    const char* errstr
    Py_ssize_t errlen

ctypedef void (*_rdk_log_cb_t)(const void*, int, const char*, const char*) noexcept nogil

cdef struct _RdKafka:
    void* (*conf_new)() noexcept nogil
    int (*conf_set)(void*, const char*, const char*, char*, size_t) noexcept nogil
    void (*conf_destroy)(void*) noexcept nogil
    void (*conf_set_log_cb)(void*, _rdk_log_cb_t) noexcept nogil
    void* (*kafka_new)(int, void*, char*, size_t) noexcept nogil
    int (*poll_set_consumer)(void*) noexcept nogil
    void* (*queue_get_consumer)(void*) noexcept nogil
    void (*queue_destroy)(void*) noexcept nogil
    Py_ssize_t (*consume_batch_queue)(void*, int, rd_kafka_message_t**, size_t) noexcept nogil
    void (*message_destroy)(rd_kafka_message_t*) noexcept nogil
    int64_t (*message_timestamp)(const rd_kafka_message_t*, int*) noexcept nogil
    rd_kafka_topic_partition_list_t* (*list_new)(int) noexcept nogil
    rd_kafka_topic_partition_t* (*list_add)(rd_kafka_topic_partition_list_t*, const char*,
                                             int32_t) noexcept nogil
    void (*list_destroy)(rd_kafka_topic_partition_list_t*) noexcept nogil
    int (*assign)(void*, const rd_kafka_topic_partition_list_t*) noexcept nogil
    int (*position)(void*, rd_kafka_topic_partition_list_t*) noexcept nogil
    int (*consumer_close)(void*) noexcept nogil
    void (*destroy)(void*) noexcept nogil
    const char* (*err2str)(int) noexcept nogil

cdef _RdKafka _rdk
cdef bint _rdk_ready = False
cdef bint _rdk_logging = True
_RDK_SYMBOLS = ("conf_new", "conf_set", "conf_destroy", "conf_set_log_cb", "new",
                "poll_set_consumer", "queue_get_consumer", "queue_destroy",
                "consume_batch_queue", "message_destroy", "message_timestamp",
                "topic_partition_list_new", "topic_partition_list_add",
                "topic_partition_list_destroy", "assign", "position", "consumer_close",
                "destroy", "err2str")
_rdk_logger = None

# Status of NativeRangeReader.read: why it returned.
cdef enum:
    _RANGE_DONE = 0   # every record before until_offset is in (or the next one is past it)
    _RANGE_IDLE = 1   # the client had nothing within the timeout: the caller checks
    _RANGE_FULL = 2   # the binary columns hit max_bytes: the caller reads on in a new chunk
    _RANGE_ERROR = 3  # the client reported an error (code and text returned)
RANGE_DONE = _RANGE_DONE
RANGE_IDLE = _RANGE_IDLE
RANGE_FULL = _RANGE_FULL
RANGE_ERROR = _RANGE_ERROR

cdef int _RD_KAFKA_CONSUMER = 1
cdef int _RD_KAFKA_PARTITION_EOF = -191
cdef Py_ssize_t _NATIVE_BATCH = 4096


def rdkafka_symbols():
    """The librdkafka functions :func:`init_rdkafka` needs, without the ``rd_kafka_`` prefix."""
    return _RDK_SYMBOLS


def init_rdkafka(addresses, logger):
    """Take the addresses of librdkafka's functions (``rdkafka_symbols()`` order, ints)
    and the logging.Logger its log lines go to."""
    global _rdk_ready, _rdk_logger
    cdef Py_ssize_t i
    cdef void** slots = <void**>&_rdk
    if len(addresses) != len(_RDK_SYMBOLS) or sizeof(_RdKafka) != len(_RDK_SYMBOLS) * sizeof(void*):
        raise ValueError(f"expected {len(_RDK_SYMBOLS)} function addresses")
    for i in range(len(_RDK_SYMBOLS)):
        if not addresses[i]:
            raise ValueError(f"rd_kafka_{_RDK_SYMBOLS[i]} has no address")
        slots[i] = <void*><size_t>addresses[i]
    _rdk_logger = logger
    _rdk_ready = True


def stop_rdkafka_logging():
    """Drop librdkafka's log lines from now on (the interpreter is exiting)."""
    global _rdk_logging
    _rdk_logging = False


cdef void _rdk_log(const void* rk, int level, const char* fac, const char* buf) noexcept nogil:
    # Called on librdkafka's own threads: syslog levels to logging's, as confluent_kafka.
    if not _rdk_logging:
        return
    with gil:
        try:
            logger = _rdk_logger
            if logger is not None:
                py_level = (50 if level <= 2 else 40 if level == 3 else 30 if level == 4
                            else 20 if level <= 6 else 10)
                logger.log(py_level, "[%s] %s", fac.decode("utf-8", "replace"),
                           buf.decode("utf-8", "replace"))
        except BaseException:
            pass


cdef inline int _buf_append_nogil(_ByteBuffer buf, const char* p, Py_ssize_t n) noexcept nogil:
    # _ByteBuffer.append without the GIL: -1 when out of memory (never exported here).
    cdef Py_ssize_t need = buf.length + n
    cdef Py_ssize_t cap = buf.capacity
    cdef char* grown
    if need > cap:
        while cap < need:
            cap *= 2
        grown = <char*>realloc(buf.data, cap)
        if grown == NULL:
            return -1
        buf.data = grown
        buf.capacity = cap
    if n:
        memcpy(buf.data + buf.length, p, n)
    buf.length = need
    return 0


@cython.final
cdef class NativeRangeReader:
    """A librdkafka consumer of one partition that reads offset ranges into Arrow buffers.

    Records the client hands out past a range's end stay here, in order, for the next
    range; ``assign`` drops them.
    """

    cdef void* rk
    cdef void* rkqu
    cdef bytes topic_b
    cdef int32_t partition
    cdef rd_kafka_message_t** batch
    cdef rd_kafka_message_t** pending
    cdef Py_ssize_t npending
    cdef Py_ssize_t pending_head
    # A close() while a read, assign or position runs without the GIL is done by that
    # call when it ends: destroying the client under it would crash or hang the process.
    cdef bint reading
    cdef bint close_after_read
    cdef rd_kafka_message_t* errmsg

    def __cinit__(self, settings, str topic, int32_t partition):
        cdef char errstr[512]
        cdef void* conf
        cdef void* rk = NULL
        cdef void* rkqu = NULL
        cdef bytes k, v
        if not _rdk_ready:
            raise RuntimeError("librdkafka was not located (init_rdkafka)")
        self.batch = <rd_kafka_message_t**>malloc(_NATIVE_BATCH * sizeof(void*))
        self.pending = <rd_kafka_message_t**>malloc(_NATIVE_BATCH * sizeof(void*))
        if self.batch == NULL or self.pending == NULL:
            raise MemoryError()
        self.topic_b = topic.encode("utf-8")
        self.partition = partition
        conf = _rdk.conf_new()
        for name, value in settings:
            k = name.encode("utf-8")
            v = value.encode("utf-8")
            if _rdk.conf_set(conf, k, v, errstr, sizeof(errstr)) != 0:
                _rdk.conf_destroy(conf)
                raise ValueError(errstr.decode("utf-8", "replace"))
        _rdk.conf_set_log_cb(conf, _rdk_log)
        # Without the GIL: the client's threads start here and may log (which takes it).
        with nogil:
            rk = _rdk.kafka_new(_RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr))
            if rk != NULL:
                _rdk.poll_set_consumer(rk)
                rkqu = _rdk.queue_get_consumer(rk)
        if rk == NULL:  # conf is still ours
            _rdk.conf_destroy(conf)
            raise ValueError(errstr.decode("utf-8", "replace"))
        self.rk = rk
        self.rkqu = rkqu

    def __dealloc__(self):
        self._drop_pending()
        self._close()
        free(self.batch)
        free(self.pending)

    cdef void _drop_pending(self) noexcept:
        cdef Py_ssize_t i
        for i in range(self.pending_head, self.npending):
            _rdk.message_destroy(self.pending[i])
        self.npending = 0
        self.pending_head = 0

    cdef void _close(self) noexcept:
        cdef void* rk = self.rk
        cdef void* rkqu = self.rkqu
        self.rk = NULL
        self.rkqu = NULL
        with nogil:
            if rkqu != NULL:
                _rdk.queue_destroy(rkqu)
            if rk != NULL:
                _rdk.consumer_close(rk)
                _rdk.destroy(rk)

    def close(self):
        """Close the consumer (idempotent); during a read, when the read ends."""
        if self.reading:
            self.close_after_read = True
            return
        self._drop_pending()
        self._close()

    cdef void _end_call(self) noexcept:
        """The end of a call that ran without the GIL: a close() asked meanwhile is done."""
        self.reading = False
        if self.close_after_read:
            self._drop_pending()
            self._close()

    cdef void* _handle(self) except NULL:
        if self.rk == NULL:
            raise RuntimeError("the consumer is closed")
        return self.rk

    def assign(self, int64_t offset):
        """Assign the consumer to its partition at ``offset``, dropping what it had fetched."""
        cdef void* rk = self._handle()
        cdef rd_kafka_topic_partition_list_t* parts
        cdef int err
        self._drop_pending()
        parts = _rdk.list_new(1)
        _rdk.list_add(parts, self.topic_b, self.partition).offset = offset
        self.reading = True
        try:
            with nogil:
                err = _rdk.assign(rk, parts)
        finally:
            self._end_call()
        _rdk.list_destroy(parts)
        if err:
            raise RuntimeError(f"assign: {_rdk.err2str(err).decode('utf-8', 'replace')}")

    def position(self):
        """The consumer's position (the offset after the last record fetched), -1001 if none."""
        cdef void* rk = self._handle()
        cdef rd_kafka_topic_partition_list_t* parts
        cdef int err
        cdef int64_t offset
        parts = _rdk.list_new(1)
        _rdk.list_add(parts, self.topic_b, self.partition)
        self.reading = True
        try:
            with nogil:
                err = _rdk.position(rk, parts)
        finally:
            self._end_call()
        offset = parts.elems[0].offset
        _rdk.list_destroy(parts)
        if err:
            raise RuntimeError(f"position: {_rdk.err2str(err).decode('utf-8', 'replace')}")
        return offset

    def read(self, int64_t next_offset, int64_t until_offset, int timeout_ms,
             int64_t max_bytes):
        """Read records of ``[next_offset, until_offset)`` into Arrow buffers.

        Returns ``(status, buffers, error)``: ``status`` one of ``RANGE_*``; ``buffers``
        as :func:`messages_to_buffers` returns them (all records of one topic: its
        dictionary index 0); ``error`` ``(code, text)`` with ``RANGE_ERROR``, else None.
        """
        self._handle()
        if until_offset <= next_offset:
            raise ValueError(f"empty range [{next_offset}, {until_offset})")
        if max_bytes < 0 or max_bytes > INT32_MAX:
            raise ValueError(f"max_bytes must be in [0, {INT32_MAX}], got {max_bytes}")
        cdef Py_ssize_t cap = until_offset - next_offset
        cdef Py_ssize_t nbits = (cap + 7) // 8
        key_offsets_arr = np.empty(cap + 1, dtype=np.int32)
        value_offsets_arr = np.empty(cap + 1, dtype=np.int32)
        key_valid_arr = np.zeros(nbits, dtype=np.uint8)
        value_valid_arr = np.zeros(nbits, dtype=np.uint8)
        ts_valid_arr = np.zeros(nbits, dtype=np.uint8)
        offset_arr = np.empty(cap, dtype=np.int64)
        ts_arr = np.empty(cap, dtype=np.int64)
        cdef _RangeOut out
        out.kofs = <int32_t*><size_t>key_offsets_arr.ctypes.data
        out.vofs = <int32_t*><size_t>value_offsets_arr.ctypes.data
        out.kvalid = <uint8_t*><size_t>key_valid_arr.ctypes.data
        out.vvalid = <uint8_t*><size_t>value_valid_arr.ctypes.data
        out.tvalid = <uint8_t*><size_t>ts_valid_arr.ctypes.data
        out.offs = <int64_t*><size_t>offset_arr.ctypes.data
        out.tss = <int64_t*><size_t>ts_arr.ctypes.data
        out.rows = out.knulls = out.vnulls = out.tnulls = 0
        out.err = 0
        out.errstr = NULL
        out.errlen = 0
        out.kofs[0] = 0
        out.vofs[0] = 0
        cdef _ByteBuffer kbuf = _ByteBuffer(4096)
        cdef _ByteBuffer vbuf = _ByteBuffer(max(4096, min(cap, 1 << 20) * 64))
        cdef int status
        cdef bytes errtext = None
        self.reading = True
        try:
            with nogil:
                status = self._read_nogil(next_offset, until_offset, timeout_ms, max_bytes,
                                          kbuf, vbuf, &out)
            if out.errstr != NULL:
                errtext = out.errstr[:out.errlen]
                _rdk.message_destroy(self.errmsg)
                self.errmsg = NULL
        finally:
            self._end_call()
        if status < 0:
            raise MemoryError("reading a Kafka offset range")
        cdef Py_ssize_t j = out.rows
        if kbuf.length > max_bytes or vbuf.length > max_bytes:
            raise OverflowError(
                f"Kafka record {self.topic_b.decode()}/{self.partition}/offset "
                f"{out.offs[0]} alone holds more than {max_bytes} key or value bytes, the "
                "limit of one Arrow binary array")
        kbuf.trim()
        vbuf.trim()
        buffers = (
            j,
            (key_offsets_arr[:j + 1], kbuf, key_valid_arr[:(j + 7) // 8], out.knulls),
            (value_offsets_arr[:j + 1], vbuf, value_valid_arr[:(j + 7) // 8], out.vnulls),
            np.zeros(j, dtype=np.int32),
            np.full(j, self.partition, dtype=np.int32),
            offset_arr[:j],
            (ts_arr[:j], ts_valid_arr[:(j + 7) // 8], out.tnulls),
        )
        return status, buffers, None if errtext is None else (out.err, errtext.decode(
            "utf-8", "replace"))

    cdef int _read_nogil(self, int64_t next_offset, int64_t until_offset, int timeout_ms,
                         int64_t max_bytes, _ByteBuffer kbuf, _ByteBuffer vbuf,
                         _RangeOut* out) noexcept nogil:
        # The loop of read(): -1 when out of memory, else a _RANGE_* status.
        cdef Py_ssize_t j = 0, i, got
        cdef int status = _RANGE_DONE, tstype = 0, oom = 0
        cdef bint stop = False
        cdef rd_kafka_message_t* m
        while not stop:
            if self.pending_head < self.npending:
                # Records fetched past the last range's end come first.
                got = self.npending - self.pending_head
                memcpy(self.batch, self.pending + self.pending_head, got * sizeof(void*))
                self.npending = 0
                self.pending_head = 0
            else:
                got = until_offset - next_offset
                if got > _NATIVE_BATCH:
                    got = _NATIVE_BATCH
                got = _rdk.consume_batch_queue(self.rkqu, timeout_ms, self.batch, got)
                if got <= 0:
                    status = _RANGE_IDLE
                    break
            i = 0
            while i < got:
                m = self.batch[i]
                if m.err:
                    if m.err == _RD_KAFKA_PARTITION_EOF:
                        _rdk.message_destroy(m)
                        i += 1
                        continue
                    # Its text is read with the GIL, then it is destroyed.
                    status = _RANGE_ERROR
                    out.err = m.err
                    self.errmsg = m
                    if m.payload != NULL:
                        out.errstr = <const char*>m.payload
                        out.errlen = m.len
                    else:
                        out.errstr = _rdk.err2str(m.err)
                        out.errlen = strlen(out.errstr)
                    i += 1
                    stop = True
                    break
                if m.offset < next_offset:
                    # Before the position (a compressed batch's head): not ours.
                    _rdk.message_destroy(m)
                    i += 1
                    continue
                if m.offset >= until_offset:
                    stop = True
                    break
                if j and (kbuf.length + <Py_ssize_t>m.key_len > max_bytes
                          or vbuf.length + <Py_ssize_t>m.len > max_bytes):
                    status = _RANGE_FULL
                    stop = True
                    break
                if m.key == NULL:
                    out.knulls += 1
                else:
                    oom |= _buf_append_nogil(kbuf, <const char*>m.key, m.key_len)
                    _set_bit(out.kvalid, j)
                if m.payload == NULL:
                    out.vnulls += 1
                else:
                    oom |= _buf_append_nogil(vbuf, <const char*>m.payload, m.len)
                    _set_bit(out.vvalid, j)
                out.kofs[j + 1] = <int32_t>kbuf.length
                out.vofs[j + 1] = <int32_t>vbuf.length
                out.offs[j] = m.offset
                out.tss[j] = _rdk.message_timestamp(m, &tstype)
                if tstype == 0:
                    out.tss[j] = 0
                    out.tnulls += 1
                else:
                    _set_bit(out.tvalid, j)
                next_offset = m.offset + 1
                j += 1
                _rdk.message_destroy(m)
                i += 1
            if i < got:
                # What is left (past the range, or the next chunk's) waits here.
                memcpy(self.pending, self.batch + i, (got - i) * sizeof(void*))
                self.pending_head = 0
                self.npending = got - i
            elif next_offset >= until_offset:
                stop = True
            if oom:
                status = -1
                break
        out.rows = j
        return status
