/*
** proto_internal.h — private helpers of the protocol codec (fdsp__ prefix).
** Shared by the decoder (checks JSON input) and the encoder (checks structs
** before writing them), so both enforce exactly the same rules.
*/
#ifndef FDSP_PROTO_INTERNAL_H
#define FDSP_PROTO_INTERNAL_H

#include "fieldsync_proto.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Largest integer a JSON number may carry on the wire: 2^53, the last
** integer a JavaScript peer represents exactly. */
#define FDSP__MAX_INT ((int64_t)1 << 53)

/* Kinds of wire string, each with its own length limit and alphabet:
**   ID    1..FDSP_MAX_ID bytes, printable ASCII 0x21..0x7e except " ' \
**   NAME  1..FDSP_MAX_NAME bytes of [a-z0-9_.]
**   TEXT  0..FDSP_MAX_TEXT bytes of UTF-8, no NUL
**   VALUE 0..FDSP_MAX_VALUE bytes of UTF-8, no NUL */
enum { FDSP__ID = 0, FDSP__NAME, FDSP__TEXT, FDSP__VALUE };

/* 1 if s[0..n) is well-formed UTF-8 (no overlongs, no surrogates, nothing
** above U+10FFFF) and holds no NUL byte. */
int fdsp__utf8_ok(const char *s, size_t n);

/* Check s[0..n) as a string of `kind`.  FDSP_OK, or FDSP_E_LIMIT (too long)
** / FDSP_E_VALUE (empty or bad byte) with *why set to a static reason. */
int fdsp__check_str(const char *s, size_t n, int kind, const char **why);

/* Write "path.key: reason" (or "path: reason" / "key: reason") into err,
** made safe to send on the wire (valid UTF-8, no control characters), and
** return code.  err may be NULL or errlen 0. */
int fdsp__fail(char *err, size_t errlen, int code, const char *path,
               const char *key, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 6, 7)))
#endif
    ;

/* Hybrid logical clock text: exactly 16 lowercase hex digits. */
void fdsp__hlc_format(uint64_t hlc, char out[17]);
int fdsp__hlc_parse(const char *s, size_t n, uint64_t *out); /* 1 = ok */

/* 1 if the nesting of [ and { outside strings in buf never exceeds max.
** Linear and allocation-free: runs before jansson sees the bytes. */
int fdsp__depth_ok(const char *buf, size_t len, size_t max);

/* malloc'd copy of s[0..n) with a terminating NUL; NULL on OOM. */
char *fdsp__strndup(const char *s, size_t n);
/* A copy of s[0..n) carved from *pool (a new block when the last is full;
** *pool NULL starts one), or malloc'd when pool is NULL.  NULL: out of
** memory.  fdsp__pool_free releases every block. */
char *fdsp__pool_strndup(struct fdsp_pool **pool, const char *s, size_t n);
void fdsp__pool_free(struct fdsp_pool *pool);

/* ---- Reading members of a JSON object (decoder side) ---------------------
** Each returns FDSP_OK or an FDSP_E_* code with err filled.  `required`:
** an absent key gives FDSP_E_MISSING; for an optional key, absent or null
** leaves *out untouched and returns FDSP_OK. */
int fdsp__get_str(const json_t *o, const char *path, const char *key,
                  int kind, int required, char **out,
                  char *err, size_t errlen);
/* Integer in [lo, hi].  A non-integer (including 1.0) is FDSP_E_TYPE; below
** lo is FDSP_E_VALUE; above hi is hi_code (FDSP_E_VALUE or FDSP_E_LIMIT). */
int fdsp__get_int(const json_t *o, const char *path, const char *key,
                  int required, int64_t lo, int64_t hi, int hi_code,
                  int64_t *out, char *err, size_t errlen);
int fdsp__get_bool(const json_t *o, const char *path, const char *key,
                   int required, int *out, char *err, size_t errlen);
/* Array of lo..hi elements (fewer: FDSP_E_VALUE, more: FDSP_E_LIMIT). */
int fdsp__get_array(const json_t *o, const char *path, const char *key,
                    size_t lo, size_t hi, const json_t **out,
                    char *err, size_t errlen);

/* For the string loops of the reader and the writer, eight bytes at a time
** (x as loaded by memcpy): nonzero if one of them is a control character,
** '"' or '\'.  The usual SWAR tests; a false alarm only sends the caller
** to its byte loop. */
static inline uint64_t fdsp__ctl_quote8(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101ULL;
    const uint64_t high = 0x8080808080808080ULL;
    uint64_t q = x ^ (ones * '"');
    uint64_t e = x ^ (ones * '\\');
    return ((x - ones * 0x20) & ~x & high) | ((q - ones) & ~q & high) |
           ((e - ones) & ~e & high);
}

/* Change and version-vector readers with a path prefix for messages, e.g.
** "changes[3]".  need_seq: the change must carry "s" >= 1 (changes msg). */
int fdsp__change_from_json(const json_t *j, const char *path, int need_seq,
                           fdsp_change *out, char *err, size_t errlen);
int fdsp__vv_from_json(const json_t *j, const char *path, fdsp_vv *out,
                       char *err, size_t errlen);

/* The steps of a vv reader shared by fdsp__vv_from_json and the direct
** decoder, error lines included.  vv_start: out empty, then the value's
** checks (is_object, its n entries) and room for n entries.  vv_entry: one
** entry's checks (counter is counter_is_int ? counter : not an integer),
** then *dev a copy of the device.  vv_no_dup: no device twice in a sorted
** out.  On failure out is left for fdsp_vv_clear (vv_start: empty).
** They are inline: they run for every change decoded (out of line they
** cost fdsp_decode ~1 %). */
static inline int fdsp__vv_start(int is_object, size_t n, const char *path, fdsp_vv *out,
                   char *err, size_t errlen)
{
    out->n = 0;
    out->e = NULL;
    if (!is_object)
        return fdsp__fail(err, errlen, FDSP_E_TYPE, path, NULL,
                          "must be an object of device: counter");
    if (n == 0)
        return fdsp__fail(err, errlen, FDSP_E_VALUE, path, NULL,
                          "must not be empty");
    if (n > FDSP_MAX_VV)
        return fdsp__fail(err, errlen, FDSP_E_LIMIT, path, NULL,
                          "more than FDSP_MAX_VV (%d) entries", FDSP_MAX_VV);
    out->e = calloc(n, sizeof *out->e);
    if (out->e == NULL)
        return fdsp__fail(err, errlen, FDSP_E_NOMEM, path, NULL,
                          "out of memory");
    return FDSP_OK;
}
static inline int fdsp__vv_no_dup(const fdsp_vv *out, const char *path,
                    char *err, size_t errlen)
{
    for (size_t i = 1; i < out->n; i++)
        if (strcmp(out->e[i - 1].device, out->e[i].device) == 0)
            return fdsp__fail(err, errlen, FDSP_E_VALUE, path, NULL,
                              "duplicate device");
    return FDSP_OK;
}
/* One vector entry, key and counter, as read: a device id and a counter
** from min to 2^53.  A full vector takes min 1; a delta (group.c) min 0,
** where 0 drops the device.  *dev gets the id (malloc'd). */
static inline int fdsp__vv_entry_min(const char *key, size_t keylen,
                                     int counter_is_int, int64_t counter,
                                     int64_t min, const char *path, char **dev,
                                     char *err, size_t errlen)
{
    const char *why;
    int rc = fdsp__check_str(key, keylen, FDSP__ID, &why);
    if (rc != FDSP_OK)
        return fdsp__fail(err, errlen, rc, path, NULL, "device %s", why);
    if (!counter_is_int)
        return fdsp__fail(err, errlen, FDSP_E_TYPE, path, NULL,
                          "counter must be an integer");
    if (counter < min)
        return fdsp__fail(err, errlen, FDSP_E_VALUE, path, NULL,
                          min > 0 ? "counter must be >= 1"
                                  : "counter must be >= 0 (0 drops the device)");
    if (counter > FDSP__MAX_INT)
        return fdsp__fail(err, errlen, FDSP_E_VALUE, path, NULL,
                          "counter must be <= 2^53");
    *dev = fdsp__strndup(key, keylen);
    if (*dev == NULL)
        return fdsp__fail(err, errlen, FDSP_E_NOMEM, path, NULL,
                          "out of memory");
    return FDSP_OK;
}

static inline int fdsp__vv_entry(const char *key, size_t keylen, int counter_is_int,
                   int64_t counter, const char *path, char **dev,
                   char *err, size_t errlen)
{
    return fdsp__vv_entry_min(key, keylen, counter_is_int, counter, 1, path,
                              dev, err, errlen);
}

/* ---- Checking structs (encoder side) --------------------------------------
** The same rules as the readers above; return FDSP_OK or the code
** fdsp_decode would give the encoded form. */
int fdsp__check_vv(const fdsp_vv *vv);
int fdsp__check_change(const fdsp_change *c, int need_seq);
int fdsp__check_int(int64_t v, int64_t lo, int64_t hi, int hi_code);
int fdsp__check_cstr(const char *s, int kind, int required);
/* Every check of a whole message, in the order fdsp_encode applies them:
** FDSP_OK or the code fdsp_decode would give its encoded form. */
int fdsp__check_msg(const fdsp_msg *m);

/* ---- Change groups (group.c, PROTOCOL.md §5.1) -----------------------------
** Shared by both encoders (which changes form a group, and each entry's
** steps) and both decoders (the steps applied, with their error lines), so
** the direct codec and the reference agree on everything but the JSON. */

/* A signed step on the wire: -2^53..2^53. */
#define FDSP__MAX_STEP FDSP__MAX_INT

/* One entry's members after the first, from the previous change. */
typedef struct fdsp__delta {
    int vv_default;                 /* vv is the previous one with d's
                                    ** counter + 1: no "vv" written */
    size_t nd;                      /* else the "vv" delta, device order */
    const char *dev[FDSP_MAX_VV];
    uint64_t ctr[FDSP_MAX_VV];      /* 0: the device is dropped */
    int64_t dh, ds, dat;            /* steps of h, s, at */
} fdsp__delta;

/* How many changes from c[0] (n of them, checked) form one group; 1 when
** c[0] is best written plain.  A group never has fewer than 2. */
size_t fdsp__group_run(const fdsp_change *c, size_t n);
/* cur's delta after prev in a group; 1 if it can be written (the steps
** fit in -2^53..2^53, the vv delta in FDSP_MAX_VV entries), else 0. */
int fdsp__group_delta(const fdsp_change *prev, const fdsp_change *cur,
                      fdsp__delta *d);
/* The default step of s in a group whose first change has seq s0. */
static inline int64_t fdsp__group_sstep(int64_t s0) { return s0 != 0; }
/* 1 if changes a and b name the same group header (t, r, d, u). */
int fdsp__group_same(const fdsp_change *a, const fdsp_change *b);

/* Decoder side.  vv delta: like fdsp__vv_start / fdsp__vv_entry, but an
** empty delta is allowed and a counter may be 0 (the device is dropped). */
int fdsp__vvd_start(int is_object, size_t n, const char *path, fdsp_vv *out,
                    char *err, size_t errlen);
int fdsp__vvd_entry(const char *key, size_t keylen, int counter_is_int,
                    int64_t counter, const char *path, char **dev,
                    char *err, size_t errlen);
/* out = prev with dev's counter + 1 (no "vv"), or prev with the sorted
** delta applied; then the vv rules on the result (path names the entry's
** vv).  out is empty on failure. */
int fdsp__group_vv(const fdsp_vv *prev, const char *dev, const fdsp_vv *delta,
                   const char *path, fdsp_vv *out, char *err, size_t errlen);
/* The first entry takes the group's vv, h, s and at: a non-null one of
** them there is refused (key names it). */
int fdsp__group_first(const char *path, const char *key, char *err,
                      size_t errlen);
/* prev + step for h (0..2^64-1), s (lo..2^53) and at (0..2^53). */
int fdsp__group_step_h(uint64_t prev, int64_t step, const char *path,
                       uint64_t *out, char *err, size_t errlen);
int fdsp__group_step_int(int64_t prev, int64_t step, int64_t lo,
                         const char *path, const char *key, int64_t *out,
                         char *err, size_t errlen);
/* n more changes (a group's "g", key "g"; a plain change, key NULL)
** against the room left in the message: FDSP_MAX_BATCH less the changes
** before them, groups expanded. */
int fdsp__group_room(size_t n, size_t room, const char *path,
                     const char *key, char *err, size_t errlen);

/* Error codes that may appear on the wire (everything but OK and NOMEM). */
int fdsp__wire_code_ok(int code);

/* ---- Blob messages (blob.c, PROTOCOL.md §14) -------------------------------- */
int fdsp__sha_okn(const char *s, size_t n);     /* 64 lowercase hex digits */
size_t fdsp__b64_len(size_t n);                 /* encoded length of n bytes */
void fdsp__b64_encode(const unsigned char *p, size_t n, char *out);
/* Canonical base64 of s[0..n) into out (room for n / 4 * 3 bytes): 0, or
** -1 if s is not canonical base64. */
int fdsp__b64_decode(const char *s, size_t n, unsigned char *out,
                     size_t *outn);
int fdsp__check_blob(const fdsp_msg *m);
/* The members both decoders read the same way: "sha" (given its string)
** and "data" (given its string; *out malloc'd, NULL when empty). */
int fdsp__read_sha(const char *s, size_t n, char **out, char *err,
                   size_t errlen);
int fdsp__read_data(const char *s, size_t n, unsigned char **out,
                    size_t *outn, char *err, size_t errlen);
/* After both decoders read the members: data must fit in size. */
int fdsp__blob_fits(const fdsp_msg *m, char *err, size_t errlen);

/* ---- Reference codec (protocol/src/ref/) ----------------------------------
** The jansson-tree decoder and encoder that decode.c and encode.c replaced,
** with the same contracts as fdsp_decode / fdsp_encode.  Linked only into
** the tests and the fuzz targets (fds_proto_ref), as the oracle for the
** differential checks; the shipped library does not contain them. */
int fdsp__ref_decode(const char *buf, size_t len, fdsp_msg **out,
                     char *err, size_t errlen);
int fdsp__ref_encode(const fdsp_msg *m, char **out, size_t *len);
int fdsp__ref_encode_opt(const fdsp_msg *m, unsigned opts, char **out,
                         size_t *len);

#endif /* FDSP_PROTO_INTERNAL_H */
