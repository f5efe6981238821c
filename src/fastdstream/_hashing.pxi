# Deterministic 64-bit hashing shared by partitioning and grouping.
#
# The hash must be identical in every process and on every machine, because the
# engine partitions Python objects with ``hash_value(k) % n`` and columnar data with
# these kernels, and both must send a key to the same partition. Python's hash() is
# salted per process, so it cannot be used. fastdstream._reference re-implements the
# same functions in pure Python; the tests pin both to hard-coded constants.
#
# Bytes (str as UTF-8, binary): a murmur3/xxhash-style word loop with the length folded
# into the seed (so zero padding of the tail word cannot collide "a" with "a\0"),
# finished by the murmur3 fmix64 avalanche. int64: the splitmix64 finalizer, a
# bijection, so equal hashes of int64 keys mean equal keys.

cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>

    #define FDS_P1 0x9E3779B97F4A7C15ULL
    #define FDS_P2 0xC2B2AE3D27D4EB4FULL
    #define FDS_P3 0x165667B19E3779F9ULL
    #define FDS_SEED 0x27D4EB2F165667C5ULL
    #define FDS_NULL_HASH 0x5851F42D4C957F2DULL

    static inline uint64_t fds_rotl64(uint64_t x, int r) {
        return (x << r) | (x >> (64 - r));
    }

    /* Words are read little-endian on every host so the hash is portable. */
    static inline uint64_t fds_load_le64(const unsigned char *p) {
        uint64_t w;
        memcpy(&w, p, 8);
    #if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        w = __builtin_bswap64(w);
    #endif
        return w;
    }

    static inline uint32_t fds_load_le32(const unsigned char *p) {
        uint32_t w;
        memcpy(&w, p, 4);
    #if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        w = __builtin_bswap32(w);
    #endif
        return w;
    }

    /* The 1..7 byte tail as a zero-padded little-endian word. Overlapping loads
       instead of a switch on the length: short keys of mixed lengths made the switch
       mispredict on most rows. Overlapping bytes are OR-ed onto themselves. */
    static inline uint64_t fds_load_tail(const unsigned char *p, int64_t n) {
        if (n >= 4) {
            return (uint64_t)fds_load_le32(p)
                | ((uint64_t)fds_load_le32(p + n - 4) << (8 * (n - 4)));
        }
        return (uint64_t)p[0]
            | ((uint64_t)p[n >> 1] << (8 * (n >> 1)))
            | ((uint64_t)p[n - 1] << (8 * (n - 1)));
    }

    static inline uint64_t fds_fmix64(uint64_t h) {
        h ^= h >> 33;
        h *= 0xFF51AFD7ED558CCDULL;
        h ^= h >> 33;
        h *= 0xC4CEB9FE1A85EC53ULL;
        h ^= h >> 33;
        return h;
    }

    static inline uint64_t fds_round(uint64_t h, uint64_t w) {
        w *= FDS_P2;
        w = fds_rotl64(w, 31);
        w *= FDS_P1;
        h ^= w;
        return fds_rotl64(h, 27) * FDS_P1 + FDS_P3;
    }

    /* Also returns the key's first word (first 8 bytes, or the zero-padded tail of a
       shorter key) through *first, which the group table stores in its slots. */
    static inline uint64_t fds_hash_bytes_w(const unsigned char *p, int64_t n,
                                            uint64_t *first) {
        uint64_t h = FDS_SEED ^ ((uint64_t)n * FDS_P1);
        uint64_t w;
        int64_t i = 0;
        if (n >= 8) {
            w = fds_load_le64(p);
            *first = w;
            h = fds_round(h, w);
            for (i = 8; i + 8 <= n; i += 8) {
                h = fds_round(h, fds_load_le64(p + i));
            }
            if (i < n) {
                h = fds_round(h, fds_load_tail(p + i, n - i));
            }
        } else if (n > 0) {
            w = fds_load_tail(p, n);
            *first = w;
            h = fds_round(h, w);
        } else {
            *first = 0;
        }
        return fds_fmix64(h);
    }

    static inline uint64_t fds_hash_bytes(const unsigned char *p, int64_t n) {
        uint64_t first;
        return fds_hash_bytes_w(p, n, &first);
    }

    static inline uint64_t fds_hash_int64(int64_t v) {
        uint64_t z = (uint64_t)v + 0x9E3779B97F4A7C15ULL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }
    """
    uint64_t FDS_NULL_HASH
    uint64_t fds_hash_bytes(const unsigned char *p, int64_t n) nogil
    uint64_t fds_hash_bytes_w(const unsigned char *p, int64_t n, uint64_t *first) nogil
    uint64_t fds_hash_int64(int64_t v) nogil


NULL_HASH = FDS_NULL_HASH


cdef inline bint _is_valid(const uint8_t* validity, int64_t i) noexcept nogil:
    # A NULL bitmap means "no nulls", as in Arrow.
    return validity == NULL or ((validity[i >> 3] >> (i & 7)) & 1)


cdef inline const uint8_t* _u8_ptr(const uint8_t[::1] buf):
    # Empty or absent Arrow buffers become NULL; callers never dereference them
    # for zero-length data.
    if buf is None or buf.shape[0] == 0:
        return NULL
    return &buf[0]


def hash_bytes(const uint8_t[::1] data not None) -> int:
    """64-bit hash of a byte string (str keys are hashed as their UTF-8 bytes)."""
    cdef const uint8_t* p = _u8_ptr(data)
    return fds_hash_bytes(p, data.shape[0])


def hash_int64(int64_t value) -> int:
    """64-bit hash of an int64 key."""
    return fds_hash_int64(value)
