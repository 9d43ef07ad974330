/*
** hist_codec.h — the body of one history group row (store schema 3,
** docs/internals/server.md "History groups"): the entries of one change
** group (one record's fields merged from one device and user in one
** pushed batch), each its field, value, version vector and HLC, packed
** with names interned and vectors and clocks delta-encoded against the
** previous entry.  The group's table, record, device, user, server time
** and seqs are columns of the row, not part of the body.
**
** Pure: no SQLite, no I/O; names are mapped to and from integer ids
** (>= 1) by the caller's dictionary, so the fuzz target
** (fuzz/fuzz_hist.c) and the differential test
** (tests/server/test_hist_codec.c) run the very code the store runs.
**
** Body layout (every integer a LEB128 varint; zz = zigzag of a signed
** difference):
**   body   := 0x01 entry*                       (format byte, then n entries)
**   entry  := flags field-id zz(hlc - prev hlc) vv [value]
**   flags  := bit0 value present (else NULL), bit1 vv as deltas; others 0
**   vv     := (bit1) zz(counter - prev counter) for each of the previous
**             entry's devices, same devices, same order
**           | (else) count (0..FDSP_MAX_VV), count x (device-id counter)
**             devices in strcmp order of their names, counters 1..2^53
**   value  := length (<= FDSP_MAX_VALUE) bytes (no NUL)
** The first entry's "previous" hlc is 0 and its vv is always in full.
*/
#ifndef FSV_HIST_CODEC_H
#define FSV_HIST_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "fieldsync_proto.h"

enum { FSV_HC_OK = 0, FSV_HC_NOMEM = 1, FSV_HC_INVALID = 2 };

#define FSV_HC_FORMAT 1

/* The caller's dictionary.  id_of: the id (>= 1) of name, making one if
** new; returns 0, or non-zero to fail the encode.  name_of: the name of
** id, or NULL if the dictionary has no such id (the decoder then refuses
** the body as damaged).  The returned name must stay valid until the
** decode returns. */
typedef int (*fsv_hc_id_fn)(void *ud, const char *name, int64_t *id);
typedef const char *(*fsv_hc_name_fn)(void *ud, int64_t id);

/* An encoder for one group, appending entry after entry to p[0..n).
** Zero-initialise, or fsv_hc_enc_reset; fsv_hc_enc_free releases p. */
typedef struct fsv_hc_enc {
    unsigned char *p;
    size_t n, cap;
    size_t count;                   /* entries so far */
    uint64_t hlc;                   /* the previous entry's */
    size_t vn;                      /* the previous entry's vv */
    int64_t vid[FDSP_MAX_VV];
    uint64_t vctr[FDSP_MAX_VV];
} fsv_hc_enc;

/* Start a new group (keeps the buffer for reuse). */
void fsv_hc_enc_reset(fsv_hc_enc *e);
void fsv_hc_enc_free(fsv_hc_enc *e);
/* Append c's field, value, vv and hlc.  c->vv must be sorted with no
** duplicates and at most FDSP_MAX_VV entries (as the protocol decoder
** leaves it).  Returns FSV_HC_OK; FSV_HC_NOMEM; FSV_HC_INVALID if c does
** not fit the format or id_of failed (e is then as before the call). */
int fsv_hc_enc_add(fsv_hc_enc *e, const fdsp_change *c, fsv_hc_id_fn id_of,
                   void *ud);

/* Decode a body of exactly n entries.  Entries before index `from` are
** checked but not materialised; out[0 .. n-from) receive the rest: field,
** value, vv and hlc set (each allocated; fdsp_change_clear frees them),
** the other members zero.  Returns FSV_HC_OK; FSV_HC_NOMEM; or
** FSV_HC_INVALID with the reason in err (nothing left allocated in out).
** Never reads outside b[0..len). */
int fsv_hc_decode(const unsigned char *b, size_t len, size_t n, size_t from,
                  fsv_hc_name_fn name_of, void *ud, fdsp_change *out,
                  char *err, size_t errlen);

#endif /* FSV_HIST_CODEC_H */
