# cython: language_level=3
"""Compiled core of fastdstream: hashing, partitioning, reduction, slicing, Kafka offset
bookkeeping, Kafka-messages-to-Arrow and text-lines-to-Arrow kernels, one include file per concern.

The module links nothing but CPython. Arrow data arrives as plain buffers (offsets,
data, validity bitmaps) through the buffer protocol, so the wheel never depends on the
ABI of the installed pyarrow; ``fastdstream.engine.columnar.kernels`` (and ``sources.kafka.kafka_kernels``) does the Arrow-facing plumbing.

Every heavy loop over Arrow buffers runs without the GIL because the local executor
computes partitions on a thread pool; the loops over Python rows (combine_rows,
partition_items) call user functions and hold it.
"""

cimport cython
from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t, INT32_MAX
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcmp, memcpy, memset, strlen
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_GetItemWithError
from cpython.exc cimport PyErr_Clear
from cpython.list cimport PyList_GET_ITEM
from cpython.long cimport (
    PyLong_AsLongLongAndOverflow,
    PyLong_AsSsize_t,
    PyLong_CheckExact,
    PyLong_FromLongLong,
)
from cpython.object cimport PyObject

import numpy as np

include "_hashing.pxi"
include "_partitioning.pxi"
include "_reduction.pxi"
include "_slicing.pxi"
include "_offsets.pxi"
include "_kafka_arrow.pxi"
include "_lines.pxi"
