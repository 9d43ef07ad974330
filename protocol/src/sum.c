/*
** sum.c — the checksum functions of the sums / repair safety net
** (fdsp_sum_register, fdsp_sum_bucket).  Their exact definition is part of
** the protocol (fieldsync_proto.h, PROTOCOL.md section 10): a device and a
** server compare the results, so they must never change.
*/
#include "proto_internal.h"

/* fdsp_sum_bucket takes the top six bits of a hash. */
_Static_assert(FDSP_SUM_BUCKETS == 1 << 6, "FDSP_SUM_BUCKETS must be 64");

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME  0x100000001b3ULL

static uint64_t fnv1a(uint64_t h, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= FNV_PRIME;
    }
    return h;
}

/* A string and its terminating 0 byte: the separator makes the framing
** unambiguous ("ab","c" and "a","bc" differ). */
static uint64_t fnv1a_z(uint64_t h, const char *s)
{
    if (s != NULL)
        h = fnv1a(h, s, strlen(s));
    return h * FNV_PRIME;       /* the 0 byte: h ^= 0 changes nothing */
}

/* FNV-1a alone mixes the last bytes poorly into the high bits; the
** splitmix64 finaliser spreads every input bit over the whole word, so an
** XOR of many register sums does not cancel out by accident. */
static uint64_t splitmix64_fin(uint64_t z)
{
    z ^= z >> 30;
    z *= 0xbf58476d1ce4e5b9ULL;
    z ^= z >> 27;
    z *= 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return z;
}

uint64_t fdsp_sum_register(const char *tbl, const char *rid,
                           const char *field, const char *bytes, size_t len)
{
    uint64_t h = FNV_OFFSET;
    h = fnv1a_z(h, tbl);
    h = fnv1a_z(h, rid);
    h = fnv1a_z(h, field);
    if (bytes != NULL)
        h = fnv1a(h, bytes, len);
    return splitmix64_fin(h);
}

int fdsp_sum_bucket(const char *key)
{
    if (key == NULL)
        return 0;
    /* FNV-1a alone leaves its top bits badly spread over short keys that
    ** differ in their last bytes ("k0".."k4095" reach 33 of 64 buckets);
    ** after the finaliser every bucket is even. */
    uint64_t h = splitmix64_fin(fnv1a(FNV_OFFSET, key, strlen(key)));
    return (int)(h >> (64 - 6));
}
