/*
** hist_codec.c — the history group body (hist_codec.h has the layout).
**
** Why deltas against the previous entry: a group is one record's fields
** from one device in one push, so consecutive entries usually carry the
** same vector but for the device's own counter (+1) and the same or a
** close HLC: an entry's metadata is then 4 bytes (flags, field id, a zero
** HLC delta, a one-byte counter delta) instead of ~60 bytes of JSON vector
** text, a device id and a counter column per row.
*/
#include "hist_codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CTR_MAX ((uint64_t)1 << 53)

enum { F_VALUE = 1, F_VVDELTA = 2, F_ALL = 3 };

/* ---- Encoding ------------------------------------------------------------ */

static int grow(fsv_hc_enc *e, size_t more)
{
    if (e->n + more <= e->cap)
        return 1;
    size_t cap = e->cap ? e->cap : 256;
    while (cap < e->n + more)
        cap *= 2;
    unsigned char *p = realloc(e->p, cap);
    if (!p)
        return 0;
    e->p = p;
    e->cap = cap;
    return 1;
}

static void put_u(fsv_hc_enc *e, uint64_t v)
{
    while (v >= 0x80) {
        e->p[e->n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    e->p[e->n++] = (unsigned char)v;
}

static uint64_t zz(uint64_t diff)   /* diff: a two's complement difference */
{
    int64_t d = (int64_t)diff;
    return ((uint64_t)d << 1) ^ (uint64_t)(d >> 63);
}

void fsv_hc_enc_reset(fsv_hc_enc *e)
{
    e->n = 0;
    e->count = 0;
    e->hlc = 0;
    e->vn = 0;
}

void fsv_hc_enc_free(fsv_hc_enc *e)
{
    free(e->p);
    memset(e, 0, sizeof *e);
}

int fsv_hc_enc_add(fsv_hc_enc *e, const fdsp_change *c, fsv_hc_id_fn id_of,
                   void *ud)
{
    if (!c->field || c->vv.n > FDSP_MAX_VV)
        return FSV_HC_INVALID;
    size_t vlen = c->value ? strlen(c->value) : 0;
    if (vlen > FDSP_MAX_VALUE)
        return FSV_HC_INVALID;
    int64_t fid, ids[FDSP_MAX_VV];
    if (id_of(ud, c->field, &fid) != 0 || fid < 1)
        return FSV_HC_INVALID;
    for (size_t i = 0; i < c->vv.n; i++) {
        const fdsp_vv_entry *v = &c->vv.e[i];
        if (!v->device || v->counter < 1 || v->counter > CTR_MAX ||
            (i > 0 && strcmp(c->vv.e[i - 1].device, v->device) >= 0) ||
            id_of(ud, v->device, &ids[i]) != 0 || ids[i] < 1)
            return FSV_HC_INVALID;
    }
    /* Worst case: format, flags, 3 varints, the vv, the value. */
    if (!grow(e, 1 + 1 + 3 * 10 + c->vv.n * 20 + 10 + vlen))
        return FSV_HC_NOMEM;
    if (e->count == 0)
        e->p[e->n++] = FSV_HC_FORMAT;
    int delta = e->count > 0 && e->vn == c->vv.n;
    for (size_t i = 0; delta && i < c->vv.n; i++)
        delta = e->vid[i] == ids[i];
    e->p[e->n++] = (unsigned char)((c->value ? F_VALUE : 0) |
                                   (delta ? F_VVDELTA : 0));
    put_u(e, (uint64_t)fid);
    put_u(e, zz(c->hlc - e->hlc));
    if (delta) {
        for (size_t i = 0; i < c->vv.n; i++)
            put_u(e, zz(c->vv.e[i].counter - e->vctr[i]));
    } else {
        put_u(e, c->vv.n);
        for (size_t i = 0; i < c->vv.n; i++) {
            put_u(e, (uint64_t)ids[i]);
            put_u(e, c->vv.e[i].counter);
        }
    }
    if (c->value) {
        put_u(e, vlen);
        memcpy(e->p + e->n, c->value, vlen);
        e->n += vlen;
    }
    e->hlc = c->hlc;
    e->vn = c->vv.n;
    for (size_t i = 0; i < c->vv.n; i++) {
        e->vid[i] = ids[i];
        e->vctr[i] = c->vv.e[i].counter;
    }
    e->count++;
    return FSV_HC_OK;
}

/* ---- Decoding ------------------------------------------------------------ */

typedef struct rd {
    const unsigned char *p, *end;
    char *err;
    size_t errlen;
    size_t entry;
} rd;

static int bad(rd *r, const char *why)
{
    if (r->errlen)
        snprintf(r->err, r->errlen, "entry %zu: %s", r->entry, why);
    return FSV_HC_INVALID;
}

static int get_u(rd *r, uint64_t *v, const char *what)
{
    uint64_t x = 0;
    for (unsigned shift = 0; ; shift += 7) {
        if (r->p >= r->end)
            return bad(r, what);
        unsigned char b = *r->p++;
        if (shift == 63 && b > 1)
            return bad(r, what);        /* more than 64 bits */
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            break;
        if (shift == 63)
            return bad(r, what);
    }
    *v = x;
    return FSV_HC_OK;
}

static uint64_t unzz(uint64_t v)
{
    return (v >> 1) ^ (uint64_t)-(int64_t)(v & 1);
}

static int name_dup(rd *r, fsv_hc_name_fn name_of, void *ud, uint64_t id,
                    char **out, const char *what)
{
    const char *nm = id >= 1 && id <= INT64_MAX ? name_of(ud, (int64_t)id)
                                                : NULL;
    if (!nm)
        return bad(r, what);
    if (!out)
        return FSV_HC_OK;
    *out = strdup(nm);
    return *out ? FSV_HC_OK : FSV_HC_NOMEM;
}

int fsv_hc_decode(const unsigned char *b, size_t len, size_t n, size_t from,
                  fsv_hc_name_fn name_of, void *ud, fdsp_change *out,
                  char *err, size_t errlen)
{
    rd r = {b, b + len, err, errlen, 0};
    if (errlen)
        err[0] = '\0';
    if (n == 0 || from > n)
        return bad(&r, "no entries");
    if (len < 1 || b[0] != FSV_HC_FORMAT)
        return bad(&r, "unknown body format");
    r.p++;
    for (size_t i = 0; i < n - from; i++)
        memset(&out[i], 0, sizeof out[i]);
    uint64_t hlc = 0, ctr[FDSP_MAX_VV];
    const char *names[FDSP_MAX_VV];
    size_t vn = 0;
    int rc = FSV_HC_OK;
    for (size_t k = 0; k < n && rc == FSV_HC_OK; k++) {
        r.entry = k;
        fdsp_change *c = k >= from ? &out[k - from] : NULL;
        uint64_t flags, fid, dh, v;
        if (r.p >= r.end) {
            rc = bad(&r, "body ends early");
            break;
        }
        flags = *r.p++;
        if (flags & ~(uint64_t)F_ALL) {
            rc = bad(&r, "unknown flags");
            break;
        }
        if ((flags & F_VVDELTA) && k == 0) {
            rc = bad(&r, "first vector as deltas");
            break;
        }
        if ((rc = get_u(&r, &fid, "field id")) != FSV_HC_OK ||
            (rc = name_dup(&r, name_of, ud, fid, c ? &c->field : NULL,
                           "unknown field id")) != FSV_HC_OK ||
            (rc = get_u(&r, &dh, "clock")) != FSV_HC_OK)
            break;
        hlc += unzz(dh);
        if (flags & F_VVDELTA) {
            for (size_t i = 0; i < vn && rc == FSV_HC_OK; i++) {
                if ((rc = get_u(&r, &v, "counter delta")) != FSV_HC_OK)
                    break;
                ctr[i] += unzz(v);
                if (ctr[i] < 1 || ctr[i] > CTR_MAX)
                    rc = bad(&r, "counter out of range");
            }
        } else {
            uint64_t cnt;
            if ((rc = get_u(&r, &cnt, "vector size")) != FSV_HC_OK)
                break;
            if (cnt > FDSP_MAX_VV) {
                rc = bad(&r, "vector too long");
                break;
            }
            vn = (size_t)cnt;
            for (size_t i = 0; i < vn && rc == FSV_HC_OK; i++) {
                uint64_t id;
                if ((rc = get_u(&r, &id, "device id")) != FSV_HC_OK ||
                    (rc = get_u(&r, &ctr[i], "counter")) != FSV_HC_OK)
                    break;
                names[i] = id >= 1 && id <= INT64_MAX
                               ? name_of(ud, (int64_t)id) : NULL;
                if (!names[i])
                    rc = bad(&r, "unknown device id");
                else if (ctr[i] < 1 || ctr[i] > CTR_MAX)
                    rc = bad(&r, "counter out of range");
                else if (i > 0 && strcmp(names[i - 1], names[i]) >= 0)
                    rc = bad(&r, "vector devices out of order");
            }
        }
        if (rc != FSV_HC_OK)
            break;
        if (flags & F_VALUE) {
            if ((rc = get_u(&r, &v, "value length")) != FSV_HC_OK)
                break;
            if (v > FDSP_MAX_VALUE || v > (uint64_t)(r.end - r.p)) {
                rc = bad(&r, "value length");
                break;
            }
            if (memchr(r.p, 0, (size_t)v)) {
                rc = bad(&r, "NUL in value");
                break;
            }
            if (c) {
                c->value = malloc((size_t)v + 1);
                if (!c->value) {
                    rc = FSV_HC_NOMEM;
                    break;
                }
                memcpy(c->value, r.p, (size_t)v);
                c->value[v] = '\0';
            }
            r.p += v;
        }
        if (!c)
            continue;
        c->hlc = hlc;
        if (vn) {
            c->vv.e = calloc(vn, sizeof *c->vv.e);
            if (!c->vv.e) {
                rc = FSV_HC_NOMEM;
                break;
            }
            c->vv.n = vn;
            for (size_t i = 0; i < vn; i++) {
                c->vv.e[i].counter = ctr[i];
                if (!(c->vv.e[i].device = strdup(names[i]))) {
                    rc = FSV_HC_NOMEM;
                    break;
                }
            }
        }
    }
    if (rc == FSV_HC_OK && r.p != r.end) {
        r.entry = n;
        rc = bad(&r, "bytes after the last entry");
    }
    if (rc != FSV_HC_OK)
        for (size_t i = 0; i < n - from; i++)
            fdsp_change_clear(&out[i]);
    return rc;
}
